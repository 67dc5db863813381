"""The order-outlier rule (fidele.quality.audit.robust_bounds) against a shop's ordinary tail,
and the demo shop's planted outliers."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date
from random import Random

from fidele.demo.quality import quality_problems_in_orders
from fidele.demo.services import DEFAULT_CONTACTS, DEFAULT_SEED, _DemoPlan
from fidele.quality.audit import OUTLIER_Z, Bounds, outlier_z, robust_bounds


def _log_normal_totals(n: int, *, seed: int = 1) -> Counter:
    rng = Random(seed)
    return Counter(round(math.exp(rng.gauss(3.5, 1.0)), 2) for _ in range(n))


def _flagged(counts: Counter, bounds: Bounds) -> list[float]:
    return sorted(
        value for value, n in counts.items() for _ in range(n)
        if value > bounds.high or value < bounds.low
    )  # fmt: skip


def test_a_log_normal_basket_of_a_hundred_thousand_orders_shows_at_most_a_couple_of_outliers():
    totals = _log_normal_totals(100_000)
    bounds = robust_bounds(list(totals.items()))
    assert len(_flagged(totals, bounds)) <= 2


def test_the_bar_for_an_unusual_order_rises_with_the_number_of_orders():
    assert outlier_z(100) == OUTLIER_Z
    assert OUTLIER_Z < outlier_z(10_000) < outlier_z(1_000_000)
    assert 5.0 < outlier_z(1_000_000) < 5.5


def test_a_basket_typed_in_cents_is_unusual_even_among_a_hundred_thousand_orders():
    totals = _log_normal_totals(100_000)
    median = robust_bounds(list(totals.items())).median
    totals[round(median * 100, 2)] += 1
    assert round(median * 100, 2) in _flagged(totals, robust_bounds(list(totals.items())))


def test_the_demo_shop_flags_its_two_planted_orders_and_none_of_its_customers_ordinary_ones():
    plan = _DemoPlan(rng=Random(DEFAULT_SEED), today=date(2026, 6, 15), size=DEFAULT_CONTACTS)
    plan.build()
    before = {id(order): order["total"] for order in plan.orders}
    quality_problems_in_orders(plan.orders, seed=DEFAULT_SEED)
    planted = {id(order) for order in plan.orders if order["total"] != before[id(order)]}
    totals = robust_bounds(list(Counter(float(o["total"]) for o in plan.orders).items()))
    quantities = robust_bounds(
        list(Counter(float(line["quantity"]) for o in plan.orders for line in o["lines"]).items())
    )
    unusual = {
        id(order)
        for order in plan.orders
        if not totals.low <= float(order["total"]) <= totals.high
        or any(line["quantity"] > quantities.high for line in order["lines"])
    }
    assert len(planted) == 2
    assert unusual == planted


def test_the_unusual_orders_page_says_why_each_order_stands_out(messy_base, client, viewer):
    from fidele.quality.audit import audit_run
    from fidele.quality.models import AuditSnapshot

    audit_run(trigger=AuditSnapshot.Trigger.MANUAL)
    client.force_login(viewer)
    page = client.get("/quality/orders/").content.decode()
    assert "fois votre commande type" in page  # the 4,500 € order
    assert "une ligne à la quantité inhabituelle" in page  # 500 bottles at 0.07 €
    assert "total négatif" in page  # the refund
    assert "sort=" not in page  # the list is by total; no date sort that would not apply
