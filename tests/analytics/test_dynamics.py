"""Base dynamics (issue 12, item 4): the customer states of a hand-made base, month by month,
its cohorts, the time between orders, revenue by segment and category, CLV/CAC."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from fidele.analytics.daily import daily_fill
from fidele.analytics.dynamics import (
    acquisition_cost_save,
    breakdown,
    cac_figures,
    cohort_table,
    dynamics_refresh,
    segment_sizes,
)
from fidele.analytics.models import CohortMonth, MonthlyCustomers
from fidele.core.actors import System
from fidele.segments.models import ContactRfm
from tests.factories import make_contact, make_order

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 15, 14, 0, tzinfo=dt.UTC)


def at(y, m, d, h=12, minute=0):
    return dt.datetime(y, m, d, h, minute, tzinfo=dt.UTC)


@pytest.fixture
def base():
    anne, bob, carl, dora, eve = (
        make_contact(f"{n}@x.fr") for n in ("anne", "bob", "carl", "dora", "eve")
    )
    make_order(anne, "40.00", ordered_at=at(2024, 1, 10))
    make_order(anne, "60.00", ordered_at=at(2026, 11, 2))
    make_order(bob, "20.00", ordered_at=at(2025, 6, 5))  # a single order
    make_order(carl, "10.00", ordered_at=at(2026, 10, 1))
    make_order(carl, "30.00", ordered_at=at(2026, 10, 20))
    make_order(dora, "-20.00", ordered_at=at(2026, 3, 1))  # only a refund and a free order:
    make_order(dora, "0.00", ordered_at=at(2026, 4, 1))  # not a customer
    make_order(eve, "99.00", ordered_at=at(2027, 1, 1))  # only a future order: not yet either
    return anne, bob, carl


def month(y, m):
    return MonthlyCustomers.objects.get(month=dt.date(y, m, 1))


def states(y, m):
    row = month(y, m)
    return row.new, row.active, row.lapsing, row.lost


def test_each_customer_is_active_then_lapsing_then_lost_by_the_gap_since_their_last_order(base):
    dynamics_refresh(now=NOW)
    # (new, active, lapsing, lost) at the end of each month
    assert states(2024, 1) == (1, 1, 0, 0)  # anne's first order
    assert states(2024, 12) == (0, 1, 0, 0)  # 11 months later anne is still active
    assert states(2025, 1) == (0, 0, 1, 0)  # 12 months: lapsing
    assert states(2025, 6) == (1, 1, 1, 0)  # bob arrives
    assert states(2026, 1) == (0, 1, 0, 1)  # anne 24 months without an order: lost
    assert states(2026, 5) == (0, 1, 0, 1)  # bob's 11th month
    assert states(2026, 6) == (0, 0, 1, 1)  # bob lapsing
    assert states(2026, 10) == (1, 1, 1, 1)  # carl arrives
    assert states(2026, 11) == (0, 2, 1, 0)  # anne came back


def test_every_customer_is_in_exactly_one_state_each_month(base):
    dynamics_refresh(now=NOW)
    for row in MonthlyCustomers.objects.all():
        first_orders = sum(r.new for r in MonthlyCustomers.objects.filter(month__lte=row.month))
        assert row.active + row.lapsing + row.lost == first_orders


def test_refunds_free_and_future_orders_make_no_customer_and_no_revenue(base):
    dynamics_refresh(now=NOW)
    assert sum(r.new for r in MonthlyCustomers.objects.all()) == 3
    assert MonthlyCustomers.objects.filter(month__gt=dt.date(2026, 11, 1)).count() == 0
    assert month(2026, 3).revenue == Decimal("0.00")


def test_a_month_is_the_shops_month():
    late = make_contact("late@x.fr")
    make_order(late, "10.00", ordered_at=at(2026, 10, 31, 23, 30))  # 1 November in Paris
    dynamics_refresh(now=NOW)
    assert states(2026, 11)[0] == 1
    assert not MonthlyCustomers.objects.filter(month=dt.date(2026, 10, 1)).exists()


def test_orders_revenue_and_buyers_are_counted_per_month(base):
    dynamics_refresh(now=NOW)
    october = month(2026, 10)
    assert (october.buyers, october.orders, october.revenue) == (1, 2, Decimal("40.00"))


def test_the_time_between_orders_is_measured_on_repeat_orders(base):
    dynamics_refresh(now=NOW)
    october = month(2026, 10)
    assert october.repeat_orders == 1
    assert october.gap_days == pytest.approx(19.0)
    november = month(2026, 11)
    assert november.gap_days == pytest.approx((at(2026, 11, 2) - at(2024, 1, 10)).days)


def test_cohorts_count_who_ordered_again_each_month_after_their_first(base):
    dynamics_refresh(now=NOW)
    cells = {(c.cohort, c.offset): c.customers for c in CohortMonth.objects.all()}
    assert cells == {
        (dt.date(2024, 1, 1), 0): 1,
        (dt.date(2024, 1, 1), 34): 1,
        (dt.date(2025, 6, 1), 0): 1,
        (dt.date(2026, 10, 1), 0): 1,  # carl's two orders are in his first month
    }


def test_the_heat_map_gives_shares_and_leaves_months_not_reached_empty():
    customers = [make_contact(f"c{n}@x.fr") for n in range(4)]
    for contact in customers:
        make_order(contact, "10.00", ordered_at=at(2026, 8, 5))
    make_order(customers[0], "10.00", ordered_at=at(2026, 9, 5))
    make_order(customers[1], "10.00", ordered_at=at(2026, 9, 6))
    make_order(customers[0], "10.00", ordered_at=at(2026, 11, 5))
    dynamics_refresh(now=NOW)
    (august,) = cohort_table(last=12, offsets=4)
    assert august["size"] == 4
    assert august["shares"] == [0.5, 0.0, 0.25, None]


def test_revenue_is_split_by_the_customers_current_rfm_segment(base):
    anne, bob, _carl = base
    for contact, segment in ((anne, "champions"), (bob, "at_risk")):
        ContactRfm.objects.create(
            contact=contact,
            recency_days=1,
            frequency=1,
            monetary=1,
            r_score=5,
            f_score=5,
            m_score=5,
            segment=segment,
            computed_at=timezone.now(),
        )
    dynamics_refresh(now=NOW)
    split = breakdown(dimension="segment", start=dt.date(2024, 1, 1), end=dt.date(2026, 11, 30))
    assert split["champions"]["revenue"] == Decimal("100.00")
    assert split["at_risk"]["revenue"] == Decimal("20.00")
    assert split[""]["revenue"] == Decimal("40.00")  # carl, not scored yet
    assert segment_sizes() == {"champions": 1, "at_risk": 1}


def test_category_revenue_per_month_comes_from_the_daily_rollup(base):
    from tests.factories import make_order_line

    order = make_order(base[2], "36.00", ordered_at=at(2026, 11, 3))
    make_order_line(order, qty=2, price="18.00")
    order.lines.update(category="Vins")
    daily_fill(now=NOW)
    dynamics_refresh(now=NOW)
    split = breakdown(dimension="category", start=dt.date(2026, 11, 1), end=dt.date(2026, 11, 30))
    assert split == {"Vins": {"customers": 0, "orders": 1, "revenue": Decimal("36.00")}}


def test_without_acquisition_costs_there_is_no_cac(base):
    dynamics_refresh(now=NOW)
    assert cac_figures(start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31)) is None


def test_the_cac_is_the_cost_of_the_months_divided_by_their_new_customers(base):
    dynamics_refresh(now=NOW)
    acquisition_cost_save(actor=System(), month=dt.date(2026, 10, 1), amount=Decimal("25.00"))
    figures = cac_figures(start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31))
    assert (figures.cost, figures.new_customers, figures.cac) == (
        Decimal("25.00"),
        1,
        Decimal("25.00"),
    )
    # The 12-month value of mature cohorts (anne's and bob's first years): (40 + 20) / 2.
    assert figures.value_12m == Decimal("30.00")
    assert figures.ratio == 1.2


def test_an_empty_base_refreshes_to_empty_tables():
    result = dynamics_refresh(now=NOW)
    assert (result.months, result.cohorts) == (0, 0)
    assert cohort_table() == []
