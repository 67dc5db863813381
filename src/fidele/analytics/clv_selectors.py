"""Reads of the lifetime value and churn predictions: the Customer value page, the contact
page's line, the contacts list's `?predicted=` filter, and the condition the segments'
`predicted` leaf will use (`predicted_condition`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from fidele.analytics.models import ClvFit, ContactPrediction
from fidele.contacts.models import Contact
from fidele.ui.formatting import format_money, format_number, format_rate

# What a contact is compared on: metric -> (column, how it is described).
METRICS: dict[str, str] = {
    "churn_risk": "churn_risk",
    "p_alive": "p_alive",
    "clv": "clv",
    "purchases_3m": "purchases_3m",
    "purchases_6m": "purchases_6m",
    "purchases_12m": "purchases_12m",
    "expected_spend": "expected_spend",
    "historic_value": "historic_value",
}
OPS = ("lt", "lte", "gt", "gte", "eq", "ne")
# The contacts list's `?predicted=` value: a preset, or METRIC:OP:NUMBER (churn_risk:gte:0.5).
FILTER_PARAM = "predicted"
PRESETS = ("at_risk", "late")
AT_RISK = 0.5
TOP_LIMIT = 10


class PredictedRuleError(ValueError):
    """An unknown metric or operator, or a value that is not a number; the message says which."""


def predicted_condition(*, metric: str, op: str, value: float) -> Exists:
    """The contacts whose latest prediction's `metric` compares to `value` by `op` (one of
    OPS), as a condition on Contact (`Contact.objects.filter(condition)`): the segments'
    `{"predicted": {"metric": ..., "op": ..., "value": ...}}` leaf. A contact without a
    prediction (no order), or without that figure (the models were not fitted: too little
    data), never matches, `ne` included. `churn_risk` and `p_alive` are fractions (0.5 for
    50 %), `clv`, `expected_spend` and `historic_value` amounts in the shop's currency.
    Raises PredictedRuleError on an unknown metric or operator or a value not a number."""
    column = METRICS.get(metric)
    if column is None:
        raise PredictedRuleError(f"unknown metric {metric!r} (known: {', '.join(sorted(METRICS))})")
    if op not in OPS:
        raise PredictedRuleError(f"unknown operator {op!r} (known: {', '.join(OPS)})")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PredictedRuleError(f"the value {value!r} is not a number")
    rows = ContactPrediction.objects.filter(
        contact_id=OuterRef("pk"), **{f"{column}__isnull": False}
    )
    if op == "ne":
        rows = rows.exclude(**{column: value})
    else:
        rows = rows.filter(**{f"{column}__{'exact' if op == 'eq' else op}": value})
    return Exists(rows)


def _late_condition(today: dt.date) -> Exists:
    return Exists(ContactPrediction.objects.filter(contact_id=OuterRef("pk"), overdue_on__lt=today))


def _parse_filter(value: str) -> tuple[str, str, float] | str | None:
    if value in PRESETS:
        return value
    parts = value.split(":")
    if len(parts) != 3 or parts[0] not in METRICS or parts[1] not in OPS:
        return None
    try:
        number = float(parts[2].replace(",", "."))
    except ValueError:
        return None
    return parts[0], parts[1], number


def contacts_predicted_filter(queryset: QuerySet[Contact], value: str) -> QuerySet[Contact]:
    """The contacts list's `?predicted=at_risk|late|METRIC:OP:NUMBER`."""
    parsed = _parse_filter(value)
    if parsed is None:
        return queryset
    if parsed == "at_risk":
        return queryset.filter(predicted_condition(metric="churn_risk", op="gte", value=AT_RISK))
    if parsed == "late":
        return queryset.filter(_late_condition(timezone.localdate()))
    metric, op, number = parsed
    return queryset.filter(predicted_condition(metric=metric, op=op, value=number))


def _metric_label(metric: str) -> str:
    return {
        "churn_risk": _("churn risk"),
        "p_alive": _("probability still a customer"),
        "clv": _("lifetime value"),
        "purchases_3m": _("purchases expected in 3 months"),
        "purchases_6m": _("purchases expected in 6 months"),
        "purchases_12m": _("purchases expected in 12 months"),
        "expected_spend": _("expected spend per purchase"),
        "historic_value": _("spent so far"),
    }[metric]


def _metric_value(metric: str, number: float) -> str:
    if metric in ("churn_risk", "p_alive"):
        return format_rate(number)
    if metric in ("clv", "expected_spend", "historic_value"):
        return format_money(number)
    return format_number(number, 1)


def predicted_filter_describe(value: str) -> str:
    parsed = _parse_filter(value)
    if parsed is None:
        return ""
    if parsed == "at_risk":
        return _("Customers more likely gone than not (churn risk of %(rate)s or more)") % {
            "rate": format_rate(AT_RISK)
        }
    if parsed == "late":
        return _("Customers late against their own rhythm (twice their usual gap)")
    metric, op, number = parsed
    symbols = {"lt": "<", "lte": "≤", "gt": ">", "gte": "≥", "eq": "=", "ne": "≠"}
    return f"{_metric_label(metric).capitalize()} {symbols[op]} {_metric_value(metric, number)}"


# --- the fit and the page ------------------------------------------------------------------


def clv_fit_latest() -> ClvFit | None:
    return ClvFit.objects.order_by("-created_at", "-id").first()


def reason_sentences(fit: ClvFit) -> list[str]:
    sentences = {
        "few_repeat": ngettext(
            "Only %(n)s customer has bought more than once; the models need at least 100 who "
            "came back to tell a habit from chance.",
            "Only %(n)s customers have bought more than once; the models need at least 100 who "
            "came back to tell a habit from chance.",
            fit.repeat_customers,
        )
        % {"n": format_number(fit.repeat_customers)},
        "short_history": ngettext(
            "The orders span %(n)s day; the models need at least 90 days of history.",
            "The orders span %(n)s days; the models need at least 90 days of history.",
            fit.history_days,
        )
        % {"n": format_number(fit.history_days)},
        "no_fit": _("The models found no stable fit on these orders."),
    }
    return [sentences[code] for code in fit.reasons if code in sentences]


def _bars(rows: list[dict], label: Any) -> list[dict]:
    peak = max((r["count"] for r in rows), default=0)
    return [
        {
            "label": label(r),
            "count": r["count"],
            "width": round(100 * r["count"] / peak) if peak else 0,
        }
        for r in rows
    ]


def _range_label(row: dict, *, money: bool) -> str:
    if money:
        return f"{format_money(row['low'])} – {format_money(row['high'])}"
    return f"{format_rate(row['low'], 0)} – {format_rate(row['high'], 0)}"


def _holdout_rows(holdout: dict) -> list[dict]:
    groups = [g for g in holdout.get("groups", []) if g["customers"]]
    peak = max((max(g["actual"], g["predicted"]) for g in groups), default=0) or 1
    return [
        g
        | {
            "predicted_width": round(100 * g["predicted"] / peak),
            "actual_width": round(100 * g["actual"] / peak),
        }
        for g in groups
    ]


def _top(queryset: QuerySet[ContactPrediction]) -> list[ContactPrediction]:
    return list(queryset.select_related("contact")[:TOP_LIMIT])


def customer_value_page() -> dict[str, Any]:
    """Everything the Customer value page shows, from the latest fit."""
    fit = clv_fit_latest()
    if fit is None:
        return {"fit": None}
    today = timezone.localdate()
    summary = fit.summary or {}
    context: dict[str, Any] = {
        "fit": fit,
        "summary": summary,
        "reasons": reason_sentences(fit),
        "historic_bars": _bars(summary.get("historic", []), lambda r: _range_label(r, money=True)),
    }
    if fit.kind == ClvFit.Kind.MODEL:
        at_risk = summary.get("at_risk", 0)
        context |= {
            "churn_bars": _bars(summary.get("churn", []), lambda r: _range_label(r, money=False)),
            "clv_bars": _bars(summary.get("clv", []), lambda r: _range_label(r, money=True)),
            "holdout_rows": _holdout_rows(fit.holdout),
            "at_risk_share": at_risk / fit.customers if fit.customers else 0,
            "top_at_risk": _top(
                ContactPrediction.objects.filter(churn_risk__gte=AT_RISK).order_by(
                    "-historic_value", "contact_id"
                )
            ),
            "top_value": _top(
                ContactPrediction.objects.filter(clv__isnull=False).order_by("-clv", "contact_id")
            ),
        }
    else:
        context["late"] = _top(
            ContactPrediction.objects.filter(overdue_on__lt=today).order_by(
                "-historic_value", "contact_id"
            )
        )
    return context


def holdout_sentence(fit: ClvFit) -> str:
    holdout = fit.holdout or {}
    if not holdout.get("groups"):
        return ""
    start = dt.date.fromisoformat(holdout["start"])
    end = dt.date.fromisoformat(holdout["end"])
    values = {
        "before": date_format(start - dt.timedelta(days=1), "SHORT_DATE_FORMAT"),
        "start": date_format(start, "SHORT_DATE_FORMAT"),
        "end": date_format(end, "SHORT_DATE_FORMAT"),
        "predicted": format_number(holdout["predicted_total"], 0),
        "actual": format_number(holdout["actual_total"], 0),
        "mae": format_number(holdout["mae"], 2),
    }
    text = (
        _(
            "To check it, the model was fitted on the orders up to %(before)s only, then asked how "
            "many purchases each customer would make from %(start)s to %(end)s. It expected "
            "%(predicted)s; %(actual)s happened."
        )
        % values
    )
    error = holdout.get("error_total")
    if error is not None:
        off = _(
            "Its total is off by %(error)s; per customer, it misses by %(mae)s purchases "
            "on average."
        )
        text += " " + off % (values | {"error": format_rate(abs(error), 0)})
        if abs(error) <= 0.1:
            text += " " + _("That is close: the figures below can guide decisions.")
        elif abs(error) <= 0.25:
            text += " " + _("That is fair: read the figures below as orders of magnitude.")
        else:
            text += " " + _(
                "That is far: your customers' habits changed, or the history is short; take the "
                "figures below with caution."
            )
    return text


# --- the contact page ------------------------------------------------------------------------


def contact_prediction_section(contact: Contact) -> dict[str, Any] | None:
    """The contact page's card: one line that says what the figures mean for this customer,
    and the figures; None for a contact without an order when the models were last run."""
    prediction = ContactPrediction.objects.filter(contact_id=contact.pk).first()
    if prediction is None:
        return None
    fit = clv_fit_latest()
    today = timezone.localdate()
    days_since = (today - prediction.last_purchase_on).days
    late = prediction.overdue_on is not None and prediction.overdue_on < today
    return {
        "prediction": prediction,
        "fit": fit,
        "days_since": days_since,
        "late": late,
        "line": prediction_line(prediction, fit=fit, days_since=days_since, late=late),
    }


def prediction_line(
    prediction: ContactPrediction, *, fit: ClvFit | None, days_since: int, late: bool
) -> str:
    months = fit.horizon_months if fit else 12
    if prediction.churn_risk is None:
        if prediction.transactions == 1:
            return _(
                "One purchase so far (%(value)s), %(days)s days ago: too early to tell their "
                "rhythm."
            ) % {
                "value": format_money(prediction.historic_value),
                "days": format_number(days_since),
            }
        text = _(
            "%(n)s purchases, %(value)s in all; usually one every %(gap)s days, the last "
            "%(days)s days ago."
        ) % {
            "n": format_number(prediction.transactions),
            "value": format_money(prediction.historic_value),
            "gap": format_number(prediction.usual_gap_days, 0),
            "days": format_number(days_since),
        }
        if late:
            text += " " + _("Late against their own rhythm: worth a word.")
        return text
    values = {
        "risk": format_rate(prediction.churn_risk),
        "n": format_number(prediction.purchases_12m or 0, 1),
        "clv": format_money(prediction.clv or 0),
        "months": months,
        "days": format_number(days_since),
        "gap": format_number(prediction.usual_gap_days, 0),
    }
    if prediction.transactions == 1:
        # BG/NBD lets a customer leave only after a repeat purchase: a one-time buyer's churn
        # risk is 0 by construction, which must not read as "safe".
        return (
            _(
                "Bought once, %(days)s days ago: whether they will come back cannot be told "
                "yet; about %(n)s purchases expected in the next 12 months, worth %(clv)s over "
                "%(months)s months."
            )
            % values
        )
    if prediction.churn_risk >= AT_RISK:
        return (
            _(
                "Probably no longer buying (churn risk %(risk)s): no purchase for %(days)s "
                "days where they used to buy every %(gap)s days; about %(n)s purchases expected "
                "in the next 12 months, worth %(clv)s over %(months)s months."
            )
            % values
        )
    return (
        _(
            "Likely still a customer (churn risk %(risk)s): about %(n)s purchases expected in "
            "the next 12 months, worth %(clv)s over %(months)s months."
        )
        % values
    )


# --- the overview's customers at risk ------------------------------------------------------


def _at_risk_on(day: dt.date) -> int | None:
    """Customers at risk in the last fit made by the end of `day` (None: no model fit then)."""
    zone = timezone.get_current_timezone()
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    fit = (
        ClvFit.objects.filter(created_at__lt=end)
        .exclude(trigger=ClvFit.Trigger.COMMAND)  # a fit of the past (--until) is not "then"
        .order_by("-created_at", "-id")
        .first()
    )
    if fit is None or fit.kind != ClvFit.Kind.MODEL:
        return None
    return int((fit.summary or {}).get("at_risk", 0))


def overview_at_risk(period: Any) -> Any:
    """The overview's "Customers at risk" (analytics.dashboard.at_risk_provider_register):
    those the churn model judges more likely gone than not, at the end of the period and of
    the one before; None while no model was fitted (the overview then counts RFM's)."""
    from fidele.analytics.dashboard import AtRisk

    count = _at_risk_on(period.last)
    if count is None:
        return None
    return AtRisk(
        count=count,
        previous=_at_risk_on(period.before().last),
        explanation=_(
            "Customers the lifetime value model judges more likely gone than not (churn risk "
            "of %(rate)s or more): they have been silent for longer than their rhythm of "
            "purchases explains."
        )
        % {"rate": format_rate(AT_RISK, 0)},
        url=f"/contacts/?{FILTER_PARAM}=at_risk",
    )
