"""What the overview shows first, read from the rollups only (DailyCount, the monthly tables,
the hourly campaign counts, the latest audit): a page view never scans orders, contacts or
events, so that it answers in the same time at a thousand contacts and at a million.

Each figure comes with its value over the chosen period, the same figure over the period just
before it (as long, ending the day before it starts), and the sentence that explains it.

The customers at risk come from whoever can say it best: an app above (the lifetime-value
model's churn risk) registers a provider with `at_risk_provider_register`; until one does, or
while it has nothing computed, the RFM segments "at risk" and "cannot lose them" are counted;
with neither, the page says "not computed yet".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Sum
from django.utils.translation import gettext as _

from fidele.analytics.daily import (
    CONTACTS,
    MAILABLE,
    RFM,
    daily_by_key,
    daily_filled_at,
    daily_latest,
    daily_series,
    daily_total,
    future_orders_count,
)
from fidele.analytics.dynamics import ACTIVE_MONTHS, breakdown, month_latest, months_between
from fidele.analytics.models import Attribution, DailyCount
from fidele.delivery.selectors import campaigns_status_counts
from fidele.quality.selectors import snapshot_before, snapshot_latest
from fidele.segments.dashboard_selectors import rfm_segment_choices

# The RFM segments counted as customers at risk when no prediction says better.
AT_RISK_SEGMENTS = ("at_risk", "cannot_lose")
# Up to this many days a chart has a bar per day; beyond, a bar per month.
DAILY_CHART_DAYS = 92


@dataclass(frozen=True)
class Period:
    first: dt.date
    last: dt.date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def before(self) -> Period:
        last = self.first - dt.timedelta(days=1)
        return Period(first=last - dt.timedelta(days=self.days - 1), last=last)


@dataclass
class Figure:
    key: str
    label: str
    value: Any
    previous: Any = None
    kind: str = "number"  # number, money, rate, score
    explanation: str = ""
    # Whether a rise is good news (the trend's colour); None: neither.
    up_is_good: bool | None = True
    missing: str = ""  # said instead of a value ("not computed yet")
    url: str = ""

    @property
    def change(self) -> float | None:
        """The relative change against the previous period (None when it cannot be said)."""
        if self.value is None or self.previous in (None, 0):
            return None
        return round((float(self.value) - float(self.previous)) / abs(float(self.previous)), 4)

    @property
    def trend(self) -> str:
        change = self.change
        if change is None:
            return "none"
        if abs(change) < 0.005:
            return "flat"
        return "up" if change > 0 else "down"

    @property
    def tone(self) -> str:
        if self.up_is_good is None or self.trend in ("none", "flat"):
            return "neutral"
        return "good" if (self.trend == "up") == self.up_is_good else "bad"


# -- customers at risk: a hook for the lifetime-value model ------------------------------------


@dataclass(frozen=True)
class AtRisk:
    count: int
    previous: int | None
    explanation: str
    url: str = ""


AtRiskProvider = Callable[[Period], AtRisk | None]
_at_risk_providers: list[AtRiskProvider] = []


def at_risk_provider_register(provider: AtRiskProvider) -> None:
    """Let an app above (the churn predictions) say how many customers are at risk; the last
    registered that answers wins over the RFM count. A provider returns None while it has
    nothing computed."""
    if provider not in _at_risk_providers:
        _at_risk_providers.append(provider)


def _rfm_at_risk(period: Period) -> AtRisk | None:
    def on(day: dt.date) -> int | None:
        rows = DailyCount.objects.filter(metric=RFM, key__in=AT_RISK_SEGMENTS, day__lte=day)
        latest = rows.order_by("-day").values_list("day", flat=True).first()
        if latest is None:
            return None
        return rows.filter(day=latest).aggregate(n=Sum("count"))["n"] or 0

    count = on(period.last)
    if count is None:
        return None
    return AtRisk(
        count=count,
        previous=on(period.before().last),
        explanation=_(
            "Customers of the RFM segments “at risk” and “cannot lose them”: they used to buy "
            "often or much and have not ordered for a while."
        ),
        url="/contacts/?rfm=at_risk",
    )


def at_risk(period: Period) -> AtRisk | None:
    for provider in reversed(_at_risk_providers):
        answer = provider(period)
        if answer is not None:
            return answer
    return _rfm_at_risk(period)


# -- the figures -------------------------------------------------------------------------------


def _money(value: Decimal | None) -> Decimal:
    return (value or Decimal(0)).quantize(Decimal("0.01"))


def _sales(period: Period, rfm: str | None) -> tuple[int, Decimal, int | None]:
    """(orders, revenue, customers or None) of a period; with an RFM segment, from the monthly
    breakdown (whole months that overlap the period)."""
    if rfm:
        row = breakdown(dimension="segment", start=period.first, end=period.last, key=rfm).get(rfm)
        if not row:
            return 0, Decimal(0), 0
        return row["orders"], _money(row["revenue"]), row["customers"]
    orders, revenue = daily_total(metric="orders", start=period.first, end=period.last)
    return orders, _money(revenue), None


def overview_figures(*, period: Period, rfm: str | None = None) -> list[Figure]:
    before = period.before()
    orders, revenue, customers = _sales(period, rfm)
    orders_before, revenue_before, customers_before = _sales(before, rfm)
    basket = _money(revenue / orders) if orders else None
    basket_before = _money(revenue_before / orders_before) if orders_before else None
    figures = [
        Figure(
            "revenue",
            _("Revenue"),
            revenue,
            revenue_before,
            kind="money",
            explanation=_(
                "Sum of the orders' totals over the period, as imported (taxes included). "
                "Refunds and orders of zero are left out and counted apart."
            ),
        ),
        Figure(
            "orders",
            _("Orders"),
            orders,
            orders_before,
            explanation=_("Orders with a total above zero placed over the period."),
        ),
        Figure(
            "basket",
            _("Average basket"),
            basket,
            basket_before,
            kind="money",
            explanation=_("Revenue divided by the number of orders."),
        ),
    ]
    if rfm:
        figures.append(
            Figure(
                "segment_customers",
                _("Customers of the segment who ordered"),
                customers,
                customers_before,
                explanation=_(
                    "Customers now in this RFM segment who ordered in the months of the period."
                ),
            )
        )
        return figures
    new, _new_revenue = daily_total(
        metric="orders", dimension="state", key="new", start=period.first, end=period.last
    )
    new_before, _x = daily_total(
        metric="orders", dimension="state", key="new", start=before.first, end=before.last
    )
    month = month_latest(on_or_before=period.last)
    month_before = month_latest(on_or_before=before.last)
    mailable = daily_latest(metric=MAILABLE, before=period.last)
    mailable_before = daily_latest(metric=MAILABLE, before=before.last)
    risk = at_risk(period)
    figures += [
        Figure(
            "new_customers",
            _("New customers"),
            new,
            new_before,
            explanation=_("Customers whose first order was placed over the period."),
        ),
        Figure(
            "active",
            _("Active customers"),
            month.active if month else None,
            month_before.active if month_before else None,
            explanation=_(
                "Customers who ordered in the %(months)s months up to the end of the period "
                "(counted by calendar month)."
            )
            % {"months": ACTIVE_MONTHS},
            missing=_("not computed yet"),
            url="/analytics/dynamics/",
        ),
        Figure(
            "mailable",
            _("Reachable by email"),
            mailable[1] if mailable else None,
            mailable_before[1] if mailable_before else None,
            explanation=_(
                "Contacts with an email address whose status is active (no bounce, no "
                "complaint, not blocked), counted each hour."
            ),
            missing=_("not computed yet"),
            url="/contacts/?has_email=1&status=active",
        ),
        Figure(
            "at_risk",
            _("Customers at risk"),
            risk.count if risk else None,
            risk.previous if risk else None,
            explanation=risk.explanation
            if risk
            else _(
                "Counted once the RFM scores or the churn predictions have been computed "
                "(after an import and every night)."
            ),
            up_is_good=False,
            missing=_("not computed yet"),
            url=risk.url if risk else "",
        ),
    ]
    latest = snapshot_latest()
    previous = snapshot_before(latest) if latest else None
    figures.append(
        Figure(
            "quality",
            _("Data quality score"),
            latest.score if latest else None,
            previous.score if previous else None,
            kind="score",
            explanation=_(
                "Out of 100, from the latest audit of the base (compared with the audit "
                "before it): invalid addresses, duplicates, missing consent..."
            ),
            missing=_("not computed yet"),
            url="/quality/",
        )
    )
    return figures


# -- charts ------------------------------------------------------------------------------------


@dataclass
class Chart:
    """One chart and the table that says the same for a screen reader (ui/charts.js draws it
    from `as_json()`)."""

    id: str
    title: str
    labels: list[str]
    series: list[dict[str, Any]] = field(default_factory=list)
    kind: str = "bar"  # bar, line, stacked, heatmap
    unit: str = "number"  # number, money, percent
    description: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "labels": self.labels,
            "series": self.series,
            "kind": self.kind,
            "unit": self.unit,
        }

    @property
    def data_id(self) -> str:
        return f"{self.id}-data"

    @property
    def rows(self) -> list[tuple[str, list[tuple[Any, str]]]]:
        """(label, [(value, unit) per series]): the table alternative's rows."""
        return [
            (label, [(serie["data"][index], serie.get("unit", "number")) for serie in self.series])
            for index, label in enumerate(self.labels)
        ]


def _buckets(period: Period) -> tuple[str, list[tuple[dt.date, dt.date]]]:
    """Days, or calendar months for a long period (each clipped to the period)."""
    if period.days <= DAILY_CHART_DAYS:
        days = [period.first + dt.timedelta(days=n) for n in range(period.days)]
        return "day", [(day, day) for day in days]
    buckets = []
    start = period.first
    while start <= period.last:
        following = (start.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        buckets.append((start, min(following - dt.timedelta(days=1), period.last)))
        start = following
    return "month", buckets


def _bucket_sums(series: dict[dt.date, tuple[int, Decimal]], buckets: list, index: int) -> list:
    values = []
    for first, last in buckets:
        total = sum(
            (value[index] for day, value in series.items() if first <= day <= last),
            Decimal(0) if index else 0,
        )
        values.append(float(total) if index else int(total))
    return values


def _label(first: dt.date, grain: str) -> str:
    return first.isoformat() if grain == "day" else first.strftime("%Y-%m")


def revenue_chart(*, period: Period) -> Chart:
    grain, buckets = _buckets(period)
    series = daily_series(metric="orders", start=period.first, end=period.last)
    return Chart(
        id="chart-revenue",
        title=_("Revenue and orders by the day")
        if grain == "day"
        else _("Revenue and orders by the month"),
        description=_(
            "Bars: the revenue of each day or month; line: the number of orders, on the "
            "right-hand scale."
        ),
        labels=[_label(first, grain) for first, _last in buckets],
        series=[
            {"name": _("Revenue"), "data": _bucket_sums(series, buckets, 1), "unit": "money"},
            {"name": _("Orders"), "data": _bucket_sums(series, buckets, 0), "kind": "line"},
        ],
        unit="money",
    )


def mailable_growth_chart(*, period: Period) -> Chart:
    """Consents given against consents withdrawn and bounced people: the mailable base's flow."""
    grain, buckets = _buckets(period)

    def values(metric: str) -> list:
        return _bucket_sums(
            daily_series(metric=metric, start=period.first, end=period.last), buckets, 0
        )

    lost = [-(a + b) for a, b in zip(values("unsubscriptions"), values("bounces"), strict=True)]
    return Chart(
        id="chart-mailable",
        title=_("Subscriptions against unsubscriptions and bounces"),
        description=_(
            "Above zero, consents given; below, consents withdrawn and people whose address "
            "bounced. The mailable base grows when the bars above outweigh those below."
        ),
        labels=[_label(first, grain) for first, _last in buckets],
        series=[
            {"name": _("Subscriptions"), "data": values("subscriptions")},
            {"name": _("Unsubscriptions and bounces"), "data": lost},
        ],
        kind="stacked",
    )


# -- campaigns -----------------------------------------------------------------------------------


def campaigns_people(*, campaign_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """{campaign id: {delivered, opens, clicks, revenue, orders}} for a few campaigns: people
    who opened and clicked (machines left out) from the daily rollup, the outbox's sent count
    (an index-only count), and the orders credited to each."""
    ids = list(campaign_ids)
    keys = [str(pk) for pk in ids]
    people: dict[int, dict[str, Any]] = {
        pk: {"opens": 0, "clicks": 0, "revenue": Decimal(0), "orders": 0} for pk in ids
    }
    rows = (
        DailyCount.objects.filter(
            metric__in=("opens", "clicks"), dimension="campaign", key__in=keys
        )
        .values("metric", "key")
        .annotate(n=Sum("count"))
        .order_by()
    )
    for row in rows:
        people[int(row["key"])][row["metric"]] = row["n"] or 0
    sent = campaigns_status_counts(campaign_ids=ids)
    credited = (
        Attribution.objects.filter(campaign_id__in=ids)
        .values("campaign_id")
        .annotate(revenue=Sum("order__total"))
        .order_by()
    )
    for row in credited:
        people[row["campaign_id"]]["revenue"] = _money(row["revenue"])
    for pk in ids:
        delivered = sent.get(pk, {}).get("sent", 0)
        figures = people[pk]
        figures["delivered"] = delivered
        figures["open_rate"] = round(figures["opens"] / delivered, 4) if delivered else None
        figures["click_rate"] = round(figures["clicks"] / delivered, 4) if delivered else None
    return people


# -- bad input and freshness ---------------------------------------------------------------------


def data_notes(*, period: Period) -> dict[str, Any]:
    """What the page says it left out, and how fresh the counts are."""
    refunds, refunded = daily_total(metric="refunds", start=period.first, end=period.last)
    zero, _zero = daily_total(metric="orders_zero", start=period.first, end=period.last)
    return {
        "refunds": refunds,
        "refunded": _money(-refunded),
        "zero_orders": zero,
        "future_orders": future_orders_count(),
        "filled_at": daily_filled_at(),
        "contacts": (daily_latest(metric=CONTACTS) or (None, None))[1],
    }


def categories_split(*, period: Period, limit: int = 8) -> list[tuple[str, int, Decimal]]:
    rows = daily_by_key(metric="lines", dimension="category", start=period.first, end=period.last)
    ordered = sorted(rows.items(), key=lambda item: -item[1][1])
    return [(key, n, _money(amount)) for key, (n, amount) in ordered[:limit]]


def months_for_chart(*, last: dt.date, count: int = 24) -> list:
    first = (last.replace(day=1) - dt.timedelta(days=31 * (count - 1))).replace(day=1)
    return months_between(first, last)


def rfm_choices() -> list[tuple[str, str]]:
    return rfm_segment_choices()


# -- the base dynamics page ----------------------------------------------------------------------


def dynamics_charts(*, last: dt.date, months: int = 24) -> dict[str, Any]:
    """The base dynamics page's charts and figures over the `months` months up to `last`."""
    rows = months_for_chart(last=last, count=months)
    labels = [row.month.strftime("%Y-%m") for row in rows]
    states = Chart(
        id="chart-states",
        title=_("Active, lapsing and lost customers at the end of each month"),
        description=_(
            "Every customer is in exactly one of the three each month, from their first order: "
            "the bar's height is every customer so far."
        ),
        labels=labels,
        series=[
            {"name": _("Active"), "data": [row.active for row in rows]},
            {"name": _("Lapsing"), "data": [row.lapsing for row in rows]},
            {"name": _("Lost"), "data": [row.lost for row in rows]},
        ],
        kind="stacked",
    )
    new = Chart(
        id="chart-new",
        title=_("New customers and customers who ordered, by month"),
        description=_(
            "Customers who ordered: different customers with at least one order in the month."
        ),
        labels=labels,
        series=[
            {"name": _("New customers"), "data": [row.new for row in rows]},
            {"name": _("Customers who ordered"), "data": [row.buyers for row in rows]},
        ],
    )
    habits = Chart(
        id="chart-habits",
        title=_("Average basket, orders per customer and days between orders, by month"),
        description=_(
            "Orders per customer: the month's orders divided by the customers who ordered that "
            "month."
        ),
        labels=labels,
        series=[
            {
                "name": _("Average basket"),
                "data": [
                    round(float(row.revenue) / row.orders, 2) if row.orders else None
                    for row in rows
                ],
                "kind": "line",
                "unit": "money",
            },
            {
                "name": _("Orders per customer"),
                "data": [round(row.orders / row.buyers, 2) if row.buyers else None for row in rows],
                "kind": "line",
            },
            {
                "name": _("Days between orders"),
                "data": [
                    round(row.gap_days / row.repeat_orders, 1) if row.repeat_orders else None
                    for row in rows
                ],
                "kind": "line",
                "unit": "days",
            },
        ],
        kind="line",
    )
    first = rows[0].month if rows else last.replace(day=1)
    labels_of = dict(rfm_segment_choices())
    by_segment = _revenue_split_chart(
        id="chart-segments",
        title=_("Revenue by RFM segment"),
        description=_(
            "The revenue of the months shown, split by the segment each customer is in today "
            "(after the latest RFM refresh)."
        ),
        split=breakdown(dimension="segment", start=first, end=last),
        label=lambda key: labels_of.get(key, _("Not scored yet")),
        second=("customers", _("Customers who ordered")),
    )
    by_category = _revenue_split_chart(
        id="chart-categories",
        title=_("Revenue by product category"),
        description=_(
            "Order lines of the orders above zero, by the category their product has in your files."
        ),
        split=breakdown(dimension="category", start=first, end=last),
        label=lambda key: key or _("No category"),
        second=("orders", _("Order lines")),
    )
    period = Period(first=first, last=last)
    return {
        "rows": rows,
        "charts": [states, new, habits, by_segment, by_category],
        "growth": mailable_growth_chart(period=period),
        "period": period,
    }


def _revenue_split_chart(
    *,
    id: str,
    title: str,
    split: dict[str, dict[str, Any]],
    label: Callable[[str], str],
    second: tuple[str, str],
    description: str = "",
    limit: int = 12,
) -> Chart:
    """Revenue per key of a breakdown, largest first, beside a count (`second`: its field and
    its name)."""
    keys = sorted(split, key=lambda key: -split[key]["revenue"])[:limit]
    field_name, name = second
    return Chart(
        id=id,
        title=title,
        labels=[label(key) for key in keys],
        series=[
            {
                "name": _("Revenue"),
                "data": [float(split[key]["revenue"]) for key in keys],
                "unit": "money",
            },
            {"name": name, "data": [split[key][field_name] for key in keys]},
        ],
        unit="money",
        description=description,
    )


def cohort_heatmap(*, table: list[dict[str, Any]]) -> Chart:
    """The retention table as a heat map: a row per cohort, a column per month after it."""
    offsets = len(table[0]["shares"]) if table else 0
    return Chart(
        id="chart-cohorts",
        title=_("Share of each cohort ordering again, month by month"),
        labels=[f"+{k}" for k in range(1, offsets + 1)],
        series=[
            {
                "name": row["cohort"].strftime("%Y-%m"),
                "data": [
                    None if share is None else round(share * 100, 1) for share in row["shares"]
                ],
                "size": row["size"],
            }
            for row in table
        ],
        kind="heatmap",
        unit="percent",
    )
