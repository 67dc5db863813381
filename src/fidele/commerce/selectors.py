"""Multi-row reads of orders. Figures are aggregated by the database, never by Python loops."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Avg, Count, QuerySet, Sum
from django.utils import timezone

from fidele.commerce.models import Order, OrderLine
from fidele.contacts.selectors import TimelineEvent
from fidele.ui.params import clean_param

SORTS: dict[str, tuple[list[str], bool]] = {
    "-date": (["ordered_at", "id"], True),
    "date": (["ordered_at", "id"], False),
}
DEFAULT_SORT = "-date"


@dataclass(frozen=True)
class OrderStats:
    """Orders and revenue over a period (the last 12 months on the home page)."""

    since: dt.datetime
    orders: int
    revenue: Decimal
    average_basket: Decimal | None


def order_stats(*, months: int = 12) -> OrderStats:
    since = timezone.now() - dt.timedelta(days=round(months * 365.25 / 12))
    row = Order.objects.filter(ordered_at__gte=since).aggregate(
        orders=Count("id"), revenue=Sum("total"), average=Avg("total")
    )
    average = row["average"]
    return OrderStats(
        since=since,
        orders=row["orders"] or 0,
        revenue=Decimal(row["revenue"] or 0).quantize(Decimal("0.01")),
        average_basket=Decimal(average).quantize(Decimal("0.01")) if average is not None else None,
    )


def orders_recent(*, limit: int = 8) -> list[Order]:
    return list(Order.objects.select_related("contact").order_by("-ordered_at", "-id")[:limit])


def orders_filtered(*, params: Mapping[str, str]) -> QuerySet[Order]:
    """Orders matching the orders page filters: q (order number prefix), channel, contact id."""
    queryset = Order.objects.all()
    q = clean_param(params.get("q"))
    if q:
        queryset = queryset.filter(external_id__startswith=q)
    channel = clean_param(params.get("channel"))
    if channel:
        queryset = queryset.filter(channel=channel)
    contact = (params.get("contact") or "").strip()
    if contact.isdigit():
        queryset = queryset.filter(contact_id=int(contact))
    return queryset


def orders_sort(params: Mapping[str, str]) -> str:
    sort = params.get("sort") or DEFAULT_SORT
    return sort if sort in SORTS else DEFAULT_SORT


def contact_orders(*, contact_id: int, limit: int = 50) -> list[Order]:
    return list(Order.objects.filter(contact_id=contact_id).order_by("-ordered_at", "-id")[:limit])


def order_timeline_events(orders: Iterable[Order]) -> list[TimelineEvent]:
    """The orders as events of a contact's timeline (fidele.contacts.selectors.contact_timeline)."""
    from django.urls import reverse
    from django.utils.translation import gettext as _

    from fidele.ui.formatting import format_money

    return [
        TimelineEvent(
            at=order.ordered_at,
            kind="order",
            title=_("Order %(number)s") % {"number": order.external_id},
            detail=" · ".join(
                part for part in (format_money(order.total, order.currency), order.channel) if part
            ),
            link=reverse("commerce:order_detail", args=[order.pk]),
        )
        for order in orders
    ]


@dataclass(frozen=True)
class ContactOrderSummary:
    count: int
    total: Decimal
    first: dt.datetime | None
    last: dt.datetime | None


def contact_order_summary(*, contact_id: int) -> ContactOrderSummary:
    from django.db.models import Max, Min

    row = Order.objects.filter(contact_id=contact_id).aggregate(
        count=Count("id"), total=Sum("total"), first=Min("ordered_at"), last=Max("ordered_at")
    )
    return ContactOrderSummary(
        count=row["count"] or 0,
        total=row["total"] or Decimal("0"),
        first=row["first"],
        last=row["last"],
    )


def order_lines(*, order: Order) -> QuerySet[OrderLine]:
    return order.lines.select_related("product").order_by("id")
