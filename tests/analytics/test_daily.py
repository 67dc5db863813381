"""The daily rollup (issue 12, item 3): counted day by day in the shop's time zone, idempotent,
resumable, the same as counting the raw tables directly."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.db.models import Sum
from django.utils import timezone

from fidele.analytics import daily
from fidele.analytics.daily import daily_fill, daily_series, daily_total, metric_fill
from fidele.analytics.models import DailyCount, FillState
from fidele.commerce.models import Order
from fidele.contacts.models import Subscription
from tests.factories import make_contact, make_order, make_order_line

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 15, 14, 0, tzinfo=dt.UTC)
PARIS = daily.shop_zone()


def at(y, m, d, h=12, minute=0):
    return dt.datetime(y, m, d, h, minute, tzinfo=dt.UTC)


@pytest.fixture
def shop():
    """Three customers over five months, with a refund, a free order and a future order."""
    anne, bob, carl = (make_contact(f"{n}@x.fr") for n in ("anne", "bob", "carl"))
    first = make_order(anne, "30.00", ordered_at=at(2026, 7, 3))
    make_order_line(first, name="Rouge", qty=1, price="30.00").__class__.objects.filter(
        order=first
    ).update(category="Vins")
    make_order(anne, "50.00", ordered_at=at(2026, 9, 10))
    make_order(bob, "20.00", ordered_at=at(2026, 9, 10))
    # 23:30 UTC on the 31st of October is the 1st of November in Paris.
    make_order(carl, "10.00", ordered_at=at(2026, 10, 31, 23, 30))
    make_order(carl, "-10.00", ordered_at=at(2026, 11, 2))  # a refund
    make_order(bob, "0.00", ordered_at=at(2026, 11, 3))  # a free order
    make_order(bob, "99.00", ordered_at=at(2027, 1, 1))  # dated in the future
    make_order(anne, "15.00", ordered_at=NOW - dt.timedelta(hours=1))  # today
    return anne, bob, carl


def direct_counts():
    """What the rollup must hold, counted the obvious way in Python over the raw rows."""
    counts: dict[tuple[str, str, dt.date], list] = {}
    orders = Order.objects.filter(ordered_at__lte=NOW).order_by("ordered_at", "pk")
    seen: set[int] = set()
    for order in orders:
        day = order.ordered_at.astimezone(PARIS).date()
        if order.total > 0:
            state = "returning" if order.contact_id in seen else "new"
            seen.add(order.contact_id)
            for key in (("orders", "all", day), ("orders", state, day)):
                slot = counts.setdefault(key, [0, Decimal(0)])
                slot[0] += 1
                slot[1] += order.total
        else:
            metric = "refunds" if order.total < 0 else "orders_zero"
            slot = counts.setdefault((metric, "all", day), [0, Decimal(0)])
            slot[0] += 1
            slot[1] += order.total
    return counts


def rolled_up():
    rows = DailyCount.objects.filter(
        metric__in=("orders", "refunds", "orders_zero"), dimension__in=("all", "state")
    )
    return {(r.metric, r.key or "all", r.day): [r.count, r.amount] for r in rows}


def test_the_fill_holds_the_same_figures_as_a_direct_count_of_the_orders(shop):
    daily_fill(now=NOW)
    assert rolled_up() == direct_counts()


def test_a_day_is_the_shops_day_not_utcs(shop):
    daily_fill(now=NOW)
    assert daily_total(metric="orders", start=dt.date(2026, 11, 1), end=dt.date(2026, 11, 1)) == (
        1,
        Decimal("10.00"),
    )
    assert not DailyCount.objects.filter(metric="orders", day=dt.date(2026, 10, 31)).exists()


def test_refunds_free_orders_and_future_orders_stay_out_of_orders_and_revenue(shop):
    daily_fill(now=NOW)
    count, revenue = daily_total(
        metric="orders", start=dt.date(2026, 1, 1), end=dt.date(2027, 12, 31)
    )
    assert (count, revenue) == (5, Decimal("125.00"))
    assert daily_total(metric="refunds", start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31)) == (
        1,
        Decimal("-10.00"),
    )
    assert (
        daily_total(metric="orders_zero", start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31))[0]
        == 1
    )
    assert daily.future_orders_count(now=NOW) == 1


def test_new_customers_are_first_orders_and_the_others_are_returning(shop):
    daily_fill(now=NOW)
    new = daily_total(
        metric="orders",
        dimension="state",
        key="new",
        start=dt.date(2026, 1, 1),
        end=dt.date(2026, 12, 31),
    )
    returning = daily_total(
        metric="orders",
        dimension="state",
        key="returning",
        start=dt.date(2026, 1, 1),
        end=dt.date(2026, 12, 31),
    )
    assert new[0] == 3  # anne, bob, carl
    assert returning[0] == 2  # anne twice more


def test_filling_twice_writes_the_same_rows(shop):
    daily_fill(now=NOW)
    first = sorted(
        DailyCount.objects.exclude(metric="mailable").values_list(
            "metric", "dimension", "key", "day", "count", "amount"
        )
    )
    daily_fill(now=NOW)
    assert (
        sorted(
            DailyCount.objects.exclude(metric="mailable").values_list(
                "metric", "dimension", "key", "day", "count", "amount"
            )
        )
        == first
    )


def test_a_fill_killed_mid_way_is_completed_by_the_next_one(shop):
    real = DailyCount.objects.bulk_create
    calls = {"n": 0}

    def dies_on_the_second_month(rows, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed")
        return real(rows, **kwargs)

    with (
        mock.patch.object(DailyCount.objects, "bulk_create", side_effect=dies_on_the_second_month),
        pytest.raises(RuntimeError),
    ):
        metric_fill(daily.METRICS["orders"], now=NOW)
    # The first month is committed and the state says so; the second rolled back.
    state = FillState.objects.get(stat="daily:orders").filled_until
    assert dt.date(2026, 7, 3) < state.astimezone(PARIS).date() <= dt.date(2026, 9, 10)
    daily_fill(now=NOW)
    assert rolled_up() == direct_counts()


def test_a_fill_stopped_after_one_month_resumes_where_it_stopped(shop):
    metric_fill(daily.METRICS["orders"], now=NOW, stop_after=1)
    partial = DailyCount.objects.filter(metric="orders").count()
    daily_fill(now=NOW)
    assert DailyCount.objects.filter(metric="orders").count() > partial
    assert rolled_up() == direct_counts()


def test_the_day_going_on_is_counted_again_at_each_run(shop):
    daily_fill(now=NOW)
    today = NOW.astimezone(PARIS).date()
    assert daily_series(metric="orders", start=today, end=today)[today][0] == 1
    make_order(shop[1], "5.00", ordered_at=NOW - dt.timedelta(minutes=5))
    daily_fill(now=NOW)
    assert daily_series(metric="orders", start=today, end=today)[today] == (2, Decimal("20.00"))
    assert FillState.objects.get(stat="daily:orders").filled_until == dt.datetime(
        2026, 11, 15, tzinfo=PARIS
    )


def test_an_order_recorded_later_for_a_filled_day_is_counted_by_the_next_fill(shop):
    daily_fill(now=NOW)
    make_order(shop[2], "7.00", ordered_at=at(2026, 8, 1))
    daily_fill(now=NOW)
    assert daily_total(metric="orders", start=dt.date(2026, 8, 1), end=dt.date(2026, 8, 1))[0] == 1
    assert rolled_up() == direct_counts()


def test_lines_are_counted_per_category(shop):
    daily_fill(now=NOW)
    rows = daily.daily_by_key(
        metric="lines", dimension="category", start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31)
    )
    assert rows == {"Vins": (1, Decimal("30.00"))}


def test_subscriptions_and_unsubscriptions_are_counted_per_list_and_day():
    anne = make_contact("anne@x.fr", lists=["Lettre"])
    bob = make_contact("bob@x.fr", lists=["Lettre"])
    Subscription.objects.filter(contact=anne).update(consent_at=at(2026, 11, 2))
    Subscription.objects.filter(contact=bob).update(
        consent_at=at(2026, 11, 2), unsubscribed_at=at(2026, 11, 5), status="unsubscribed"
    )
    daily_fill(now=NOW)
    assert daily_series(
        metric="subscriptions", start=dt.date(2026, 11, 1), end=dt.date(2026, 11, 30)
    ) == {dt.date(2026, 11, 2): (2, Decimal(0))}
    assert (
        daily_total(
            metric="unsubscriptions", start=dt.date(2026, 11, 1), end=dt.date(2026, 11, 30)
        )[0]
        == 1
    )
    list_id = str(Subscription.objects.first().mailing_list_id)
    assert (
        daily_total(
            metric="subscriptions",
            dimension="list",
            key=list_id,
            start=dt.date(2026, 11, 1),
            end=dt.date(2026, 11, 30),
        )[0]
        == 2
    )


def test_the_mailable_base_is_a_snapshot_of_the_day(shop):
    daily_fill(now=NOW)
    assert daily.daily_latest(metric="mailable") == (NOW.astimezone(PARIS).date(), 3)


def test_an_empty_base_fills_nothing_and_does_not_fail():
    result = daily_fill(now=NOW)
    assert result.rows == 0
    assert DailyCount.objects.exclude(metric__in=("mailable", "contacts")).count() == 0


def test_the_sum_of_the_days_is_the_sum_of_the_orders(shop):
    daily_fill(now=NOW)
    total = DailyCount.objects.filter(metric="orders", dimension="all").aggregate(s=Sum("amount"))[
        "s"
    ]
    expected = Order.objects.filter(total__gt=0, ordered_at__lte=NOW).aggregate(s=Sum("total"))["s"]
    assert total == expected
    assert timezone.is_aware(FillState.objects.get(stat="daily:orders").filled_until)
