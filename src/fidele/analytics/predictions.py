"""Lifetime value and churn per customer: the orders in, the models of fidele.analytics.clv
fitted, the predictions out (ContactPrediction, replaced in one transaction) with a record of
the fit (ClvFit).

A transaction is a day with an order, in the shop's time zone (settings.TIME_ZONE), as Fader
and Hardie count them: two orders on one day (a forgotten item, a split basket) are one
purchase of their summed value. The database groups the orders by customer and day; numpy
does the rest on arrays (no Python loop over customers).

When the data is too thin (under MIN_REPEAT_CUSTOMERS customers who came back, or under
MIN_HISTORY_DAYS days of history) the models would show noise: no model is fitted, and each
customer gets the simple figures only (what they spent, when they are late against their own
rhythm). The page says so.

The holdout check tells the owner how far to trust the figures: the model is asked how many
purchases each customer would make in a period it has not seen, and its answer is compared
with what happened, grouped by the customer's purchases before (as in the paper's figure 4).
When orders exist after the calibration end (a fit of the past, `--until`), that period is the
check; otherwise the last third of the history (at most a year) is held out and a second fit is
made on what comes before.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import zoneinfo
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import FloatField, Sum
from django.db.models.functions import Cast, TruncDate
from django.utils import timezone

from fidele.analytics import clv
from fidele.analytics.models import ClvFit, ContactPrediction
from fidele.commerce.models import Order

MIN_REPEAT_CUSTOMERS = 100
MIN_HISTORY_DAYS = 90
HOLDOUT_MAX_DAYS = 365
# A customer is late against their own rhythm this many usual gaps after their last purchase.
OVERDUE_GAPS = 2
HORIZONS_MONTHS = (3, 6, 12)
# The holdout's groups: customers with 0, 1, ... 6 and "7 or more" purchases before it.
HOLDOUT_GROUPS = 8
FITS_KEPT = 30
_BATCH = 2000


@dataclass(frozen=True)
class ContactDays:
    """One row per customer and purchase day, sorted by customer then day."""

    contact_id: np.ndarray  # int64
    day: np.ndarray  # int64: date ordinals
    value: np.ndarray  # float64: the day's orders summed

    def upto(self, last_day: int) -> ContactDays:
        keep = self.day <= last_day
        return ContactDays(self.contact_id[keep], self.day[keep], self.value[keep])


@dataclass(frozen=True)
class Histories:
    """Per customer (sorted by id): the summaries the models read."""

    contact_id: np.ndarray
    first: np.ndarray
    last: np.ndarray
    days: np.ndarray  # purchase days, the first one included
    total: np.ndarray
    first_value: np.ndarray

    def __len__(self) -> int:
        return len(self.contact_id)

    @property
    def x(self) -> np.ndarray:
        return (self.days - 1).astype(np.float64)

    def zbar(self) -> np.ndarray:
        """Mean value of the repeat purchases (0 for a customer without)."""
        x = self.x
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(x > 0, (self.total - self.first_value) / np.maximum(x, 1), 0.0)

    def times(self, *, until: int, unit_days: int) -> tuple[np.ndarray, np.ndarray]:
        """t_x and T in the unit."""
        return (
            (self.last - self.first) / float(unit_days),
            (until - self.first) / float(unit_days),
        )


def shop_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def contact_days_read(*, until: dt.date) -> ContactDays:
    """Every customer's purchase days up to `until` (included), from the database."""
    zone = shop_zone()
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    rows = (
        Order.objects.filter(ordered_at__lt=end)
        .annotate(day=TruncDate("ordered_at", tzinfo=zone))
        .values("contact_id", "day")
        .annotate(value=Cast(Sum("total"), FloatField()))
        .order_by("contact_id", "day")
        .values_list("contact_id", "day", "value")
    )
    contact_ids: list[int] = []
    days: list[int] = []
    values: list[float] = []
    for contact_id, day, value in rows.iterator(chunk_size=20000):
        contact_ids.append(contact_id)
        days.append(day.toordinal())
        values.append(value or 0.0)
    return ContactDays(
        np.array(contact_ids, dtype=np.int64),
        np.array(days, dtype=np.int64),
        np.array(values, dtype=np.float64),
    )


def histories_summarise(rows: ContactDays) -> Histories:
    if len(rows.contact_id) == 0:
        empty_i = np.zeros(0, dtype=np.int64)
        empty_f = np.zeros(0, dtype=np.float64)
        return Histories(empty_i, empty_i, empty_i, empty_i, empty_f, empty_f)
    ids = rows.contact_id
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    return Histories(
        contact_id=ids[starts],
        first=rows.day[starts],
        last=rows.day[ends - 1],
        days=ends - starts,
        total=np.add.reduceat(rows.value, starts),
        first_value=rows.value[starts],
    )


@dataclass(frozen=True)
class Fitted:
    bgnbd: clv.BgNbd
    gamma_gamma: clv.GammaGamma


def thin_reasons(*, repeat_customers: int, history_days: int) -> list[str]:
    reasons = []
    if repeat_customers < MIN_REPEAT_CUSTOMERS:
        reasons.append("few_repeat")
    if history_days < MIN_HISTORY_DAYS:
        reasons.append("short_history")
    return reasons


def models_fit(history: Histories, *, until: int, unit_days: int) -> Fitted:
    t_x, big_t = history.times(until=until, unit_days=unit_days)
    x = history.x
    return Fitted(
        bgnbd=clv.bgnbd_fit(x=x, t_x=t_x, big_t=big_t),
        gamma_gamma=clv.gamma_gamma_fit(x=x, zbar=history.zbar()),
    )


def holdout_check(
    model: clv.BgNbd,
    *,
    calibration: Histories,
    rows: ContactDays,
    split: int,
    end: int,
    unit_days: int,
) -> dict:
    """Predicted against actual purchase days in (split, end] for the customers known at
    `split`, by their repeat purchases before it (0 .. 7+)."""
    after = (rows.day > split) & (rows.day <= end)
    position = np.searchsorted(calibration.contact_id, rows.contact_id[after])
    known = position < len(calibration)
    position = position[known]
    known_ids = calibration.contact_id[position] == rows.contact_id[after][known]
    actual = np.bincount(position[known_ids], minlength=len(calibration)).astype(np.float64)
    t_x, big_t = calibration.times(until=split, unit_days=unit_days)
    x = calibration.x
    predicted = clv.expected_purchases(
        model, t=(end - split) / unit_days, x=x, t_x=t_x, big_t=big_t
    )
    predicted = np.nan_to_num(predicted, nan=0.0)
    group = np.minimum(x, HOLDOUT_GROUPS - 1).astype(np.int64)
    customers = np.bincount(group, minlength=HOLDOUT_GROUPS)
    actual_sum = np.bincount(group, weights=actual, minlength=HOLDOUT_GROUPS)
    predicted_sum = np.bincount(group, weights=predicted, minlength=HOLDOUT_GROUPS)
    groups = []
    for g in range(HOLDOUT_GROUPS):
        n = int(customers[g])
        groups.append(
            {
                "x": g,
                "label": f"{g}+" if g == HOLDOUT_GROUPS - 1 else str(g),
                "customers": n,
                "actual": float(actual_sum[g] / n) if n else None,
                "predicted": float(predicted_sum[g] / n) if n else None,
            }
        )
    actual_total = float(actual.sum())
    predicted_total = float(predicted.sum())
    return {
        "start": dt.date.fromordinal(split + 1).isoformat(),
        "end": dt.date.fromordinal(end).isoformat(),
        "days": int(end - split),
        "customers": len(calibration),
        "groups": groups,
        "actual_total": actual_total,
        "predicted_total": predicted_total,
        # How far off the total is, as a share of what happened.
        "error_total": (predicted_total - actual_total) / actual_total if actual_total else None,
        # The mean miss per customer, in purchases.
        "mae": float(np.mean(np.abs(predicted - actual))) if len(actual) else None,
    }


def _holdout(
    fitted: Fitted,
    *,
    rows: ContactDays,
    history: Histories,
    until: int,
    data_end: int,
    history_days: int,
    unit_days: int,
) -> dict:
    if data_end > until:
        # Orders after the calibration end: the fit itself is checked against them.
        check = holdout_check(
            fitted.bgnbd,
            calibration=history,
            rows=rows,
            split=until,
            end=data_end,
            unit_days=unit_days,
        )
        return check | {"refit": False}
    length = min(HOLDOUT_MAX_DAYS, history_days // 3)
    if history_days - length < MIN_HISTORY_DAYS or length < 28:
        return {"skipped": "short_history"}
    split = until - length
    calibration = histories_summarise(rows.upto(split))
    if int(np.count_nonzero(calibration.x > 0)) < MIN_REPEAT_CUSTOMERS:
        return {"skipped": "few_repeat"}
    try:
        t_x, big_t = calibration.times(until=split, unit_days=unit_days)
        model = clv.bgnbd_fit(x=calibration.x, t_x=t_x, big_t=big_t)
    except clv.FitError:
        return {"skipped": "no_fit"}
    check = holdout_check(
        model, calibration=calibration, rows=rows, split=split, end=until, unit_days=unit_days
    )
    return check | {"refit": True, "bgnbd": model.as_dict()}


def _none_if_nan(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _day_or_none(ordinal: float) -> dt.date | None:
    if not math.isfinite(ordinal):
        return None
    return dt.date.fromordinal(int(round(ordinal)))


def predictions_compute(
    history: Histories,
    fitted: Fitted | None,
    *,
    until: int,
    unit_days: int,
    months: int,
    monthly_discount: float,
) -> dict[str, np.ndarray]:
    """Every per-customer figure as arrays (NaN where there is none)."""
    x = history.x
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.where(x > 0, (history.last - history.first) / np.maximum(x, 1), np.nan)
    out: dict[str, np.ndarray] = {
        "usual_gap_days": gap,
        "overdue_on": history.last + OVERDUE_GAPS * gap,
    }
    nan = np.full(len(history), np.nan)
    if fitted is None:
        for name in ("p_alive", "expected_spend", "clv", "next_purchase_on"):
            out[name] = nan
        for m in HORIZONS_MONTHS:
            out[f"purchases_{m}m"] = nan
        return out
    t_x, big_t = history.times(until=until, unit_days=unit_days)
    model = fitted.bgnbd
    out["p_alive"] = clv.probability_alive(model, x=x, t_x=t_x, big_t=big_t)
    for m in HORIZONS_MONTHS:
        out[f"purchases_{m}m"] = clv.expected_purchases(
            model, t=m * clv.DAYS_PER_MONTH / unit_days, x=x, t_x=t_x, big_t=big_t
        )
    spend = clv.expected_spend(fitted.gamma_gamma, x=x, zbar=history.zbar())
    out["expected_spend"] = spend
    out["clv"] = clv.lifetime_value(
        model,
        spend=spend,
        x=x,
        t_x=t_x,
        big_t=big_t,
        months=months,
        monthly_discount=monthly_discount,
        unit_days=unit_days,
    )
    out["next_purchase_on"] = until + clv.next_purchase_in(
        model, x=x, t_x=t_x, big_t=big_t, unit_days=unit_days
    )
    return out


def _histogram(values: np.ndarray, edges: list[float]) -> list[dict]:
    values = values[np.isfinite(values)]
    counts, _ = np.histogram(values, bins=edges)
    return [
        {"low": float(lo), "high": float(hi), "count": int(c)}
        for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True)
    ]


def _value_edges(values: np.ndarray) -> list[float]:
    """Round amounts (1, 2, 5 x 10^k) growing by steps of about 2.5: customers' values are
    skewed (many small, a few large), and bars of equal width would put nearly everyone in the
    first. From 0 to the largest value, about eight bars."""
    finite = values[np.isfinite(values)]
    if not len(finite) or finite.max() <= 0:
        return [0.0, 1.0]
    low, high = np.percentile(finite, [10, 99])
    series = [m * 10.0**k for k in range(-1, 9) for m in (1, 2, 5)]
    inner = [s for s in series if max(low, 0.5) < s < high] or [float(high)]
    while len(inner) > 8:
        inner = inner[::2]
    top = float(finite.max())
    edges = [0.0, *inner]
    return edges + [top] if top > edges[-1] else edges


def fit_summary(history: Histories, figures: dict[str, np.ndarray]) -> dict:
    """What the page shows of the whole base, computed once per refresh."""
    summary: dict = {
        "historic_value": float(history.total.sum()),
        "historic_edges": _value_edges(history.total),
    }
    summary["historic"] = _histogram(history.total, summary["historic_edges"])
    value = figures["clv"]
    if np.all(np.isnan(value)):
        return summary
    risk = 1 - figures["p_alive"]
    summary["churn"] = _histogram(risk, [i / 10 for i in range(11)])
    summary["clv"] = _histogram(value, _value_edges(value))
    summary["clv_total"] = float(np.nansum(value))
    ordered = np.sort(np.nan_to_num(value))[::-1]
    top = max(1, len(ordered) // 5)
    summary["clv_top20_share"] = float(ordered[:top].sum() / ordered.sum()) if ordered.sum() else 0
    summary["at_risk"] = int(np.count_nonzero(risk >= 0.5))
    summary["churn_mean"] = float(np.nanmean(risk))
    for m in HORIZONS_MONTHS:
        summary[f"purchases_{m}m"] = float(np.nansum(figures[f"purchases_{m}m"]))
    return summary


def predictions_replace(history: Histories, figures: dict[str, np.ndarray]) -> int:
    """All predictions replaced by these, in one transaction: a reader sees the old set or the
    new one, never a mix."""
    p_alive = figures["p_alive"]

    def rows():
        for i in range(len(history)):
            alive = _none_if_nan(p_alive[i])
            yield ContactPrediction(
                contact_id=int(history.contact_id[i]),
                transactions=int(history.days[i]),
                first_purchase_on=dt.date.fromordinal(int(history.first[i])),
                last_purchase_on=dt.date.fromordinal(int(history.last[i])),
                historic_value=float(history.total[i]),
                usual_gap_days=_none_if_nan(figures["usual_gap_days"][i]),
                overdue_on=_day_or_none(figures["overdue_on"][i]),
                p_alive=alive,
                churn_risk=None if alive is None else 1 - alive,
                purchases_3m=_none_if_nan(figures["purchases_3m"][i]),
                purchases_6m=_none_if_nan(figures["purchases_6m"][i]),
                purchases_12m=_none_if_nan(figures["purchases_12m"][i]),
                expected_spend=_none_if_nan(figures["expected_spend"][i]),
                clv=_none_if_nan(figures["clv"][i]),
                next_purchase_on=_day_or_none(figures["next_purchase_on"][i]),
            )

    with transaction.atomic():
        ContactPrediction.objects.all().delete()
        batch: list[ContactPrediction] = []
        for row in rows():
            batch.append(row)
            if len(batch) >= _BATCH:
                ContactPrediction.objects.bulk_create(batch)
                batch = []
        if batch:
            ContactPrediction.objects.bulk_create(batch)
    return len(history)


def clv_refresh(
    *,
    trigger: str,
    until: dt.date | None = None,
    unit_days: int = 1,
    months: int | None = None,
    monthly_discount: float | None = None,
) -> ClvFit:
    """Fit both models on the orders up to `until` (default: today, in the shop's time zone),
    store every customer's predictions and the fit's record; returns the record."""
    started = time.perf_counter()
    if unit_days < 1:
        raise ValueError("the time unit is a whole number of days")
    months = settings.CLV_HORIZON_MONTHS if months is None else months
    monthly_discount = (
        settings.CLV_MONTHLY_DISCOUNT_RATE if monthly_discount is None else monthly_discount
    )
    today = timezone.localdate()
    until = until or today
    # Orders after the calibration end, up to a year of them, are the holdout check's.
    read_until = max(until, min(until + dt.timedelta(days=HOLDOUT_MAX_DAYS), today))
    rows = contact_days_read(until=read_until)
    until_day = until.toordinal()
    history = histories_summarise(rows.upto(until_day))
    record = ClvFit(
        trigger=trigger,
        until=until,
        unit_days=unit_days,
        horizon_months=months,
        monthly_discount=monthly_discount,
        customers=len(history),
    )
    if not len(history):
        record.kind = ClvFit.Kind.EMPTY
        predictions_replace(
            history,
            predictions_compute(
                history,
                None,
                until=until_day,
                unit_days=unit_days,
                months=months,
                monthly_discount=monthly_discount,
            ),
        )
        return _record_save(record, started)
    record.repeat_customers = int(np.count_nonzero(history.x > 0))
    record.history_days = int(until_day - history.first.min())
    record.reasons = thin_reasons(
        repeat_customers=record.repeat_customers, history_days=record.history_days
    )
    fitted = None
    if not record.reasons:
        try:
            fitted = models_fit(history, until=until_day, unit_days=unit_days)
        except clv.FitError:
            record.reasons = ["no_fit"]
    if fitted is None:
        record.kind = ClvFit.Kind.THIN
    else:
        record.kind = ClvFit.Kind.MODEL
        record.bgnbd = fitted.bgnbd.as_dict()
        record.gamma_gamma = fitted.gamma_gamma.as_dict()
        data_end = int(rows.day.max()) if len(rows.day) else until_day
        record.holdout = _holdout(
            fitted,
            rows=rows,
            history=history,
            until=until_day,
            data_end=min(data_end, today.toordinal()),
            history_days=record.history_days,
            unit_days=unit_days,
        )
    figures = predictions_compute(
        history,
        fitted,
        until=until_day,
        unit_days=unit_days,
        months=months,
        monthly_discount=monthly_discount,
    )
    record.summary = fit_summary(history, figures)
    predictions_replace(history, figures)
    return _record_save(record, started)


def _record_save(record: ClvFit, started: float) -> ClvFit:
    record.seconds = round(time.perf_counter() - started, 3)
    record.save()
    old = ClvFit.objects.values_list("pk", flat=True)[FITS_KEPT:]
    ClvFit.objects.filter(pk__in=list(old)).delete()
    return record
