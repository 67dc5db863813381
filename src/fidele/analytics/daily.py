"""Daily rollups: the raw tables counted day by day (in the shop's time zone) into DailyCount,
with a fill state per metric, the way fidele.analytics.rollup counts events hour by hour.

`daily_fill` fills each metric from its fill state up to now, a month of days per transaction:
the days' rows are deleted and counted again, then the state moves to the end of the last
*complete* day. It is idempotent (filling twice writes the same rows) and resumable (a run
killed mid-way leaves the state at the last committed month; the next run starts there).

The current day is counted too, and counted again at every run (its rows replaced; the state
stays at its midnight): dashboards read only this table, never the raw ones, and are at most one
run behind (the worker runs it every hour with the campaign rollup, and after every import).

What is counted, and how the dashboards' bad input is treated:
- orders: an order with a total above zero, split by customer state ("new": the customer's
  first such order; "returning") and by channel. Orders of zero are counted apart
  (`orders_zero`) and refunds (a negative total) apart (`refunds`), so that neither lowers the
  average basket nor counts as a purchase. Orders dated in the future are not counted until
  their day comes (the page says how many there are).
- lines: order lines of those orders, per product category ("" when none).
- subscriptions / unsubscriptions: consents given / withdrawn per list (Subscription's
  consent_at and unsubscribed_at), and bounces / complaints (people, from tracking's events,
  which are kept for those two kinds): the mailable base's growth.
- opens / clicks: people who opened / clicked each campaign for the first time that day, read
  from the hourly rollup (CampaignCount "recipients", filled up to its own state), never from
  the raw events.
- mailable, contacts: the number of contacts one can email (an address, status active) and of
  all contacts, a snapshot taken at each run for that day (a count cannot be rebuilt for a past
  day); and the customers per RFM segment (`rfm`), for the customers at risk's trend.

A day already filled is not read again unless rows were written for it since: each run first
looks for orders created or updated since the previous run (and subscriptions updated), and
moves the states of their metrics back to the earliest day they touch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from fidele.analytics.models import CampaignCount, DailyCount, FillState
from fidele.commerce.models import Order, OrderLine
from fidele.contacts.models import Subscription
from fidele.contacts.selectors import contact_counts
from fidele.segments.dashboard_selectors import rfm_segment_counts
from fidele.tracking.models import EmailEvent

DAY = dt.timedelta(days=1)
# Days counted in one transaction: a month, so that a first fill over years commits often.
CHUNK_DAYS = 31
# The prefix of the metrics' fill states in FillState (beside the hourly rollup's stats).
STATE_PREFIX = "daily:"

Row = tuple[str, str, dt.date, int, Decimal]  # (dimension, key, day, count, amount)


def shop_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def local_midnight(moment: dt.datetime) -> dt.datetime:
    """The start of `moment`'s day in the shop's time zone (an aware datetime)."""
    local = moment.astimezone(shop_zone())
    return dt.datetime.combine(local.date(), dt.time(), tzinfo=shop_zone())


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=shop_zone())


def _day(field: str) -> TruncDate:
    return TruncDate(field, tzinfo=shop_zone())


def _money(value: object) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


# -- the counters: each counts one window [start, end) of its source, grouped by day ----------


def first_order_condition() -> Exists:
    """True for an order that is its customer's first with a total above zero (ties on the same
    instant broken by id), read by the (contact, ordered_at) index."""
    earlier = Order.objects.filter(contact_id=OuterRef("contact_id"), total__gt=0).filter(
        Q(ordered_at__lt=OuterRef("ordered_at"))
        | Q(ordered_at=OuterRef("ordered_at"), pk__lt=OuterRef("pk"))
    )
    return ~Exists(earlier)


def _orders(start: dt.datetime, end: dt.datetime) -> Iterable[Row]:
    window = Order.objects.filter(ordered_at__gte=start, ordered_at__lt=end)
    sales = window.filter(total__gt=0).annotate(day=_day("ordered_at"))
    for row in sales.values("day").annotate(n=Count("id"), s=Sum("total")).order_by():
        yield "all", "", row["day"], row["n"], _money(row["s"])
    states = sales.annotate(first=first_order_condition()).values("day", "first")
    for row in states.annotate(n=Count("id"), s=Sum("total")).order_by():
        yield (
            "state",
            "new" if row["first"] else "returning",
            row["day"],
            row["n"],
            _money(row["s"]),
        )
    for row in sales.values("day", "channel").annotate(n=Count("id"), s=Sum("total")).order_by():
        yield "channel", row["channel"][:200], row["day"], row["n"], _money(row["s"])


def _orders_apart(condition: Q) -> Callable[[dt.datetime, dt.datetime], Iterable[Row]]:
    def count(start: dt.datetime, end: dt.datetime) -> Iterable[Row]:
        rows = (
            Order.objects.filter(condition, ordered_at__gte=start, ordered_at__lt=end)
            .annotate(day=_day("ordered_at"))
            .values("day")
            .annotate(n=Count("id"), s=Sum("total"))
            .order_by()
        )
        for row in rows:
            yield "all", "", row["day"], row["n"], _money(row["s"])

    return count


def _lines(start: dt.datetime, end: dt.datetime) -> Iterable[Row]:
    rows = (
        OrderLine.objects.filter(
            order__ordered_at__gte=start, order__ordered_at__lt=end, order__total__gt=0
        )
        .annotate(day=_day("order__ordered_at"))
        .values("day", "category")
        .annotate(n=Count("id"), s=Sum("line_total"))
        .order_by()
    )
    for row in rows:
        yield "category", row["category"][:200], row["day"], row["n"], _money(row["s"])


def _consents(field: str) -> Callable[[dt.datetime, dt.datetime], Iterable[Row]]:
    def count(start: dt.datetime, end: dt.datetime) -> Iterable[Row]:
        window = Subscription.objects.filter(**{f"{field}__gte": start, f"{field}__lt": end})
        rows = (
            window.annotate(day=_day(field))
            .values("day", "mailing_list_id")
            .annotate(n=Count("id"))
            .order_by()
        )
        totals: dict[dt.date, int] = {}
        for row in rows:
            totals[row["day"]] = totals.get(row["day"], 0) + row["n"]
            yield "list", str(row["mailing_list_id"]), row["day"], row["n"], Decimal(0)
        for day, n in totals.items():
            yield "all", "", day, n, Decimal(0)

    return count


def _people_events(kind: str) -> Callable[[dt.datetime, dt.datetime], Iterable[Row]]:
    def count(start: dt.datetime, end: dt.datetime) -> Iterable[Row]:
        rows = (
            EmailEvent.objects.filter(type=kind, at__gte=start, at__lt=end)
            .annotate(day=_day("at"))
            .values("day")
            .annotate(n=Count("contact_id", distinct=True))
            .order_by()
        )
        for row in rows:
            yield "all", "", row["day"], row["n"], Decimal(0)

    return count


def _campaign_people(subgroup: str) -> Callable[[dt.datetime, dt.datetime], Iterable[Row]]:
    def count(start: dt.datetime, end: dt.datetime) -> Iterable[Row]:
        rows = (
            CampaignCount.objects.filter(
                stat="recipients", subgroup=subgroup, hour__gte=start, hour__lt=end
            )
            .annotate(day=_day("hour"))
            .values("day", "campaign_id")
            .annotate(n=Sum("value"))
            .order_by()
        )
        for row in rows:
            yield "campaign", str(row["campaign_id"]), row["day"], row["n"], Decimal(0)

    return count


def _after(queryset: QuerySet, field: str) -> Callable[[dt.datetime], dt.datetime | None]:
    """The first moment of the source at or after a moment (an index look-up where one exists)."""

    def first(moment: dt.datetime) -> dt.datetime | None:
        return queryset.filter(**{f"{field}__gte": moment}).aggregate(first=Min(field))["first"]

    return first


def _hourly_rollup_until(now: dt.datetime) -> dt.datetime:
    """Campaign metrics are read from the hourly rollup: complete only up to its fill state."""
    state = FillState.objects.filter(stat="recipients").values_list("filled_until", flat=True)
    until = state.first()
    return min(now, until) if until is not None else now


@dataclass(frozen=True)
class Metric:
    name: str
    count: Callable[[dt.datetime, dt.datetime], Iterable[Row]]
    first: Callable[[dt.datetime], dt.datetime | None]
    # Up to when the source is complete (now, unless it is itself a rollup).
    until: Callable[[dt.datetime], dt.datetime] = lambda now: now


METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric("orders", _orders, _after(Order.objects.filter(total__gt=0), "ordered_at")),
        Metric(
            "orders_zero",
            _orders_apart(Q(total=0)),
            _after(Order.objects.filter(total=0), "ordered_at"),
        ),
        Metric(
            "refunds",
            _orders_apart(Q(total__lt=0)),
            _after(Order.objects.filter(total__lt=0), "ordered_at"),
        ),
        Metric("lines", _lines, _after(Order.objects.filter(total__gt=0), "ordered_at")),
        Metric(
            "subscriptions",
            _consents("consent_at"),
            _after(Subscription.objects.all(), "consent_at"),
        ),
        Metric(
            "unsubscriptions",
            _consents("unsubscribed_at"),
            _after(Subscription.objects.all(), "unsubscribed_at"),
        ),
        Metric(
            "bounces",
            _people_events(EmailEvent.Type.BOUNCE),
            _after(EmailEvent.objects.filter(type=EmailEvent.Type.BOUNCE), "at"),
        ),
        Metric(
            "complaints",
            _people_events(EmailEvent.Type.COMPLAINT),
            _after(EmailEvent.objects.filter(type=EmailEvent.Type.COMPLAINT), "at"),
        ),
        Metric(
            "opens",
            _campaign_people("open:human"),
            _after(CampaignCount.objects.filter(stat="recipients"), "hour"),
            _hourly_rollup_until,
        ),
        Metric(
            "clicks",
            _campaign_people("click:human"),
            _after(CampaignCount.objects.filter(stat="recipients"), "hour"),
            _hourly_rollup_until,
        ),
    )
}
# Snapshots taken at each fill for its day: contacts one can email (an address, an active
# status: no bounce, complaint or block), and every contact.
MAILABLE = "mailable"
CONTACTS = "contacts"
# Customers per RFM segment (as the last RFM refresh left them), kept day by day so that the
# dashboard can say how the customers at risk changed.
RFM = "rfm"


# -- the fill ----------------------------------------------------------------------------------


@dataclass
class DailyFillResult:
    days: int = 0
    rows: int = 0


def _state_of(metric: str) -> dt.datetime | None:
    return (
        FillState.objects.filter(stat=STATE_PREFIX + metric)
        .values_list("filled_until", flat=True)
        .first()
    )


def _chunk_write(metric: Metric, start: dt.datetime, end: dt.datetime, bound: dt.datetime) -> int:
    """Count [start, min(end, bound)) and replace the days [start, end) with it, moving the state
    to `end` unless `end` is past the bound's midnight (the day still going on is redone)."""
    with transaction.atomic():
        DailyCount.objects.filter(
            metric=metric.name, day__gte=start.date(), day__lt=end.astimezone(shop_zone()).date()
        ).delete()
        rows = [
            DailyCount(metric=metric.name, dimension=d, key=k, day=day, count=n, amount=s)
            for d, k, day, n, s in metric.count(start, min(end, bound))
            if n or s
        ]
        DailyCount.objects.bulk_create(rows, batch_size=1000)
        FillState.objects.update_or_create(
            stat=STATE_PREFIX + metric.name,
            defaults={"filled_until": min(end, local_midnight(bound))},
        )
    return len(rows)


def metric_fill(
    metric: Metric, *, now: dt.datetime, stop_after: int | None = None
) -> DailyFillResult:
    """Fill one metric up to `now`. `stop_after`: commit that many chunks and stop (the tests'
    kill mid-way)."""
    result = DailyFillResult()
    bound = metric.until(now)
    today = local_midnight(bound)
    start = _state_of(metric.name)
    if start is None:
        first = metric.first(dt.datetime.min.replace(tzinfo=dt.UTC))
        if first is None or first >= bound:
            # Nothing to count yet; the rows of a source emptied since are removed too.
            DailyCount.objects.filter(metric=metric.name).delete()
            return result
        start = local_midnight(first)
    start = start.astimezone(shop_zone())
    chunks = 0
    while True:
        # Days with nothing are skipped in one step (the months before the first order of a
        # category, a quiet season): the next day worth counting is the next row's.
        following = metric.first(start)
        if following is None or following >= bound:
            result.rows += _chunk_write(metric, start, today + DAY, bound)
            result.days += 1
            return result
        if local_midnight(following) > start:
            with transaction.atomic():
                DailyCount.objects.filter(
                    metric=metric.name,
                    day__gte=start.date(),
                    day__lt=local_midnight(following).date(),
                ).delete()
            start = local_midnight(following)
        end = min(day_start(start.date() + CHUNK_DAYS * DAY), today + DAY)
        result.rows += _chunk_write(metric, start, end, bound)
        result.days += (end.date() - start.date()).days
        chunks += 1
        if end > today or (stop_after is not None and chunks >= stop_after):
            return result
        start = end


def daily_refill_from(*, moment: dt.datetime, metrics: Iterable[str] | None = None) -> None:
    """Move back the fill state of the metrics (all by default) that are past `moment`'s day,
    so that the next fill counts that day and those after it again."""
    start = local_midnight(moment)
    names = [STATE_PREFIX + name for name in (metrics or METRICS)]
    FillState.objects.filter(stat__in=names, filled_until__gt=start).update(filled_until=start)


# The fill state that remembers when the fill last looked for rows written since (its
# `filled_until` is the wall-clock time that look began).
CHANGES = STATE_PREFIX + "changes"
ORDER_METRICS = ("orders", "orders_zero", "refunds", "lines")
CONSENT_METRICS = ("subscriptions", "unsubscriptions")


def _changes_refill(*, started: dt.datetime) -> None:
    """Days already filled that received rows since the last fill (an import of old orders, a
    corrected total, a consent recorded late) are counted again: the states of their metrics go
    back to the earliest such day. Orders are found by their indexed creation time (and their
    update time); subscriptions by their update time."""
    since = FillState.objects.filter(stat=CHANGES).values_list("filled_until", flat=True).first()
    if since is not None:
        changed = Order.objects.filter(Q(created_at__gte=since) | Q(updated_at__gte=since))
        first = changed.aggregate(first=Min("ordered_at"))["first"]
        if first is not None:
            daily_refill_from(moment=first, metrics=ORDER_METRICS)
        consents = Subscription.objects.filter(updated_at__gte=since).aggregate(
            given=Min("consent_at"), withdrawn=Min("unsubscribed_at")
        )
        moments = [m for m in consents.values() if m is not None]
        if moments:
            daily_refill_from(moment=min(moments), metrics=CONSENT_METRICS)
    FillState.objects.update_or_create(stat=CHANGES, defaults={"filled_until": started})


def daily_fill(
    *, now: dt.datetime | None = None, metrics: Iterable[str] | None = None
) -> DailyFillResult:
    """Fill every metric (or those named) up to now, and take today's mailable snapshot."""
    _changes_refill(started=timezone.now())
    now = now or timezone.now()
    total = DailyFillResult()
    for name in metrics or METRICS:
        result = metric_fill(METRICS[name], now=now)
        total.days += result.days
        total.rows += result.rows
    today = now.astimezone(shop_zone()).date()
    counts = contact_counts()
    snapshots = [(MAILABLE, "all", "", counts.mailable), (CONTACTS, "all", "", counts.total)]
    snapshots += [(RFM, "segment", code, n) for code, n in rfm_segment_counts().items()]
    with transaction.atomic():
        DailyCount.objects.filter(metric__in=(MAILABLE, CONTACTS, RFM), day=today).delete()
        DailyCount.objects.bulk_create(
            DailyCount(metric=m, dimension=d, key=k, day=today, count=n) for m, d, k, n in snapshots
        )
    return total


# -- reads ---------------------------------------------------------------------------------------


def daily_series(
    *, metric: str, start: dt.date, end: dt.date, dimension: str = "all", key: str | None = ""
) -> dict[dt.date, tuple[int, Decimal]]:
    """{day: (count, amount)} of a metric over [start, end] (missing days: nothing happened);
    `key` None sums every key of the dimension."""
    rows = DailyCount.objects.filter(metric=metric, dimension=dimension, day__range=(start, end))
    if key is not None:
        rows = rows.filter(key=key)
    return {
        row["day"]: (row["n"] or 0, row["s"] or Decimal(0))
        for row in rows.values("day").annotate(n=Sum("count"), s=Sum("amount")).order_by()
    }


def daily_total(
    *, metric: str, start: dt.date, end: dt.date, dimension: str = "all", key: str | None = ""
) -> tuple[int, Decimal]:
    rows = DailyCount.objects.filter(metric=metric, dimension=dimension, day__range=(start, end))
    if key is not None:
        rows = rows.filter(key=key)
    totals = rows.aggregate(n=Sum("count"), s=Sum("amount"))
    return totals["n"] or 0, totals["s"] or Decimal(0)


def daily_by_key(
    *, metric: str, dimension: str, start: dt.date, end: dt.date
) -> dict[str, tuple[int, Decimal]]:
    rows = (
        DailyCount.objects.filter(metric=metric, dimension=dimension, day__range=(start, end))
        .values("key")
        .annotate(n=Sum("count"), s=Sum("amount"))
        .order_by()
    )
    return {row["key"]: (row["n"] or 0, row["s"] or Decimal(0)) for row in rows}


def daily_latest(*, metric: str, before: dt.date | None = None) -> tuple[dt.date, int] | None:
    """The last day of a snapshot metric (mailable), on or before `before`, and its count."""
    rows = DailyCount.objects.filter(metric=metric, dimension="all", key="")
    if before is not None:
        rows = rows.filter(day__lte=before)
    row = rows.order_by("-day").values_list("day", "count").first()
    return (row[0], row[1]) if row else None


def daily_filled_at() -> dt.datetime | None:
    """When the orders were last counted (the dashboards say how fresh they are)."""
    return (
        FillState.objects.filter(stat=STATE_PREFIX + "orders")
        .values_list("updated_at", flat=True)
        .first()
    )


def future_orders_count(*, now: dt.datetime | None = None) -> int:
    """Orders dated after now (a typo, a time zone): not counted until their day (index range)."""
    return Order.objects.filter(ordered_at__gt=now or timezone.now()).count()
