"""RFM: the score rule and its ties, the segment grid, the SQL against a Python reference on
both databases, and the refresh's atomicity and idempotence."""

from __future__ import annotations

import datetime as dt
import math
import random
from decimal import Decimal

import pytest
from django.utils import timezone

from fidele.contacts.models import Contact
from fidele.segments import rfm
from fidele.segments.models import ContactRfm
from fidele.segments.rfm import (
    GRID,
    SCORES,
    fm_of,
    rfm_refresh,
    rfm_segment_of,
    score_of_rank,
    sqlite_has_window_functions,
)
from fidele.segments.rfm_segments import RFM_SEGMENTS
from tests.factories import make_contact, make_order

NOW = dt.datetime(2026, 6, 15, 12, 0, 0, tzinfo=dt.UTC)


def reference_scores(per_contact: dict[int, tuple[int, int, Decimal]]) -> dict[int, tuple]:
    """The rule of fidele.segments.rfm written plainly: (r, f, m, segment) per contact."""
    n = len(per_contact)
    values = list(per_contact.values())
    scores = {}
    for contact_id, (recency, frequency, monetary) in per_contact.items():
        r = score_of_rank(worse=sum(1 for v in values if v[0] > recency), customers=n)
        f = score_of_rank(worse=sum(1 for v in values if v[1] < frequency), customers=n)
        m = score_of_rank(worse=sum(1 for v in values if v[2] < monetary), customers=n)
        scores[contact_id] = (r, f, m, rfm_segment_of(r, fm_of(f, m)))
    return scores


def stored() -> dict[int, tuple]:
    return {
        row.contact_id: (row.r_score, row.f_score, row.m_score, row.segment)
        for row in ContactRfm.objects.all()
    }


# --- the score rule ------------------------------------------------------------------------


def test_without_ties_the_scores_are_the_five_quintiles():
    scores = [score_of_rank(worse=i, customers=100) for i in range(100)]
    assert [scores.count(s) for s in SCORES] == [20, 20, 20, 20, 20]
    assert scores == sorted(scores)


def test_identical_customers_share_the_score_where_their_tie_starts():
    # 60 customers ordered once, then 20 twice, 10 three times, 10 four times.
    frequencies = [1] * 60 + [2] * 20 + [3] * 10 + [4] * 10
    scores = {
        f: score_of_rank(worse=sum(1 for g in frequencies if g < f), customers=100)
        for f in set(frequencies)
    }
    assert scores == {1: 1, 2: 4, 3: 5, 4: 5}


def test_a_lone_customer_scores_one_everywhere():
    assert score_of_rank(worse=0, customers=1) == 1


# --- the grid ------------------------------------------------------------------------------


def test_every_cell_of_the_grid_has_exactly_one_segment_and_every_segment_a_cell():
    seen = set()
    for r in SCORES:
        for fm in SCORES:
            owners = [code for code, r1, r2, f1, f2 in GRID if r1 <= r <= r2 and f1 <= fm <= f2]
            assert len(owners) == 1, (r, fm, owners)
            seen.add(owners[0])
    assert seen == set(RFM_SEGMENTS)


@pytest.mark.parametrize(
    ("r", "f", "m", "segment"),
    [
        (5, 5, 5, "champions"),
        (5, 1, 1, "new"),
        (4, 1, 1, "promising"),
        (1, 5, 5, "cannot_lose"),
        (1, 1, 1, "lost"),
        (2, 1, 2, "hibernating"),
        (3, 3, 3, "need_attention"),
        (3, 1, 2, "about_to_sleep"),
        (2, 3, 4, "at_risk"),
        (4, 5, 4, "loyal"),
        (5, 2, 3, "potential_loyalists"),
    ],
)
def test_the_grid_names_the_usual_segments(r, f, m, segment):
    assert rfm_segment_of(r, fm_of(f, m)) == segment


def test_fm_is_the_average_of_f_and_m_rounded_up():
    assert fm_of(1, 2) == 2
    assert fm_of(4, 5) == 5
    assert fm_of(3, 3) == 3
    assert fm_of(1, 1) == 1


def test_the_sqlite_here_has_window_functions():
    assert sqlite_has_window_functions()


# --- the SQL -------------------------------------------------------------------------------


def _random_base(seed: int, size: int) -> dict[int, tuple[int, int, Decimal]]:
    """Customers with many ties (most ordered once, on shared days, for shared totals), and a
    few contacts without an order. Returns the reference per contact."""
    rng = random.Random(seed)
    per_contact: dict[int, tuple[int, int, Decimal]] = {}
    for _ in range(size):
        contact = make_contact()
        count = rng.choice([0, 1, 1, 1, 1, 2, 2, 3, 5, 8])
        last = None
        total_sum = Decimal("0")
        for _ in range(count):
            # Whole seconds, some of them on the same days as others'.
            at = NOW - dt.timedelta(days=rng.choice([0, 1, 3, 30, 30, 90, 200, 400, 700]),
                                    seconds=rng.randint(0, 86_399))  # fmt: skip
            total = Decimal(rng.choice(["9.90", "19.90", "42.50", "42.50", "120.00", "8.35"]))
            make_order(contact, total=str(total), ordered_at=at)
            last = at if last is None or at > last else last
            total_sum += total
        if count:
            recency = math.floor((NOW - last).total_seconds() / 86400)
            per_contact[contact.pk] = (recency, count, total_sum)
    return per_contact


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_database_scores_a_random_base_as_the_python_reference_does(seed):
    per_contact = _random_base(seed, 60)
    result = rfm_refresh(now=NOW)
    assert result.customers == len(per_contact)
    assert stored() == reference_scores(per_contact)
    rows = {row.contact_id: row for row in ContactRfm.objects.all()}
    for contact_id, (recency, frequency, monetary) in per_contact.items():
        assert rows[contact_id].recency_days == recency
        assert rows[contact_id].frequency == frequency
        assert rows[contact_id].monetary == monetary
        assert rows[contact_id].computed_at == NOW


@pytest.mark.django_db
def test_customers_who_all_ordered_once_for_the_same_amount_get_the_same_scores():
    for _ in range(12):
        make_order(make_contact(), total="30.00", ordered_at=NOW - dt.timedelta(days=10))
    rfm_refresh(now=NOW)
    assert set(stored().values()) == {(1, 1, 1, "lost")}


@pytest.mark.django_db
def test_erased_contacts_and_contacts_without_orders_are_not_scored():
    erased = make_contact(status=Contact.Status.ERASED)
    make_order(erased)
    make_contact()
    customer = make_contact()
    make_order(customer)
    rfm_refresh(now=timezone.now())
    assert list(ContactRfm.objects.values_list("contact_id", flat=True)) == [customer.pk]


@pytest.mark.django_db
def test_an_order_dated_in_the_future_counts_as_today():
    make_order(make_contact(), ordered_at=NOW + dt.timedelta(days=3))
    rfm_refresh(now=NOW)
    assert ContactRfm.objects.get().recency_days == 0


# --- the refresh ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_second_refresh_stores_the_same_rows():
    _random_base(7, 30)
    rfm_refresh(now=NOW)
    first = list(ContactRfm.objects.order_by("contact_id").values())
    rfm_refresh(now=NOW)
    assert list(ContactRfm.objects.order_by("contact_id").values()) == first


@pytest.mark.django_db
def test_a_refresh_replaces_the_rows_of_customers_who_are_gone():
    gone, kept = make_contact(), make_contact()
    make_order(gone)
    make_order(kept)
    rfm_refresh(now=NOW)
    gone.orders.all().delete()
    rfm_refresh(now=NOW)
    assert list(ContactRfm.objects.values_list("contact_id", flat=True)) == [kept.pk]


@pytest.mark.django_db
def test_a_refresh_that_fails_half_way_keeps_the_previous_scores(monkeypatch):
    _random_base(5, 20)
    rfm_refresh(now=NOW)
    before = stored()
    make_order(make_contact(), total="5000.00", ordered_at=NOW)
    # A grid of one segment leaves most customers without one: the INSERT fails (the segment
    # may not be null) after the DELETE has run, inside the same transaction.
    monkeypatch.setattr(rfm, "GRID", (("lost", 1, 1, 1, 2),))
    with pytest.raises(Exception):  # noqa: B017, PT011 - the database's own integrity error
        rfm_refresh(now=NOW)
    assert stored() == before
