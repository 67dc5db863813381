"""Personas: the choice of k, the groups found on planted customers, their descriptions, the
determinism of a refresh and the ids it keeps."""

from __future__ import annotations

import numpy as np
import pytest
from django.utils import translation

from fidele.segments import personas
from fidele.segments.insight_selectors import personas_list
from fidele.segments.models import ContactPersona, Persona
from fidele.segments.personas import k_choose, persona_describe, personas_refresh, traits_of
from fidele.segments.rfm import rfm_refresh
from tests.factories import make_contact, make_order
from tests.segments.conftest import NOW


def _assignments() -> dict[int, int]:
    return dict(ContactPersona.objects.values_list("contact_id", "persona_id"))


def _personas() -> dict[int, tuple]:
    return {p.pk: (p.number, p.customers, p.figures, p.traits) for p in Persona.objects.all()}


def test_k_is_the_number_of_planted_blobs():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, size=(5, 4))
    points = np.vstack([c + rng.normal(0, 0.5, size=(60, 4)) for c in centres])
    k, scores = k_choose(points)
    assert k == 5
    assert set(scores) == {3, 4, 5, 6, 7, 8}


def test_a_trait_needs_half_a_standard_deviation_and_the_furthest_comes_first():
    traits = traits_of({"basket": 0.4, "summer": -1.5, "recency": 0.9, "holiday": 2.0})
    assert [(t["feature"], t["direction"]) for t in traits] == [
        ("holiday", "high"),
        ("summer", "low"),
        ("recency", "high"),
    ]


@pytest.mark.django_db
def test_the_planted_kinds_of_customers_are_found_as_three_personas(planted):
    rfm_refresh(now=NOW)
    result = personas_refresh(now=NOW)
    assert result.k == 3
    found = _assignments()
    for members in planted.values():
        assert len({found[c] for c in members}) == 1
    assert len({found[next(iter(m))] for m in planted.values()}) == 3


@pytest.mark.django_db
def test_each_persona_is_described_by_what_sets_it_apart(planted):
    rfm_refresh(now=NOW)
    personas_refresh(now=NOW)
    found = _assignments()
    described = {}
    with translation.override("en"):
        for kind, members in planted.items():
            persona = Persona.objects.get(pk=found[next(iter(members))])
            described[kind] = (persona, persona_describe(persona))
    persona, text = described["professionals"]
    assert persona.number == 1  # the most revenue
    assert text.title in ("Large baskets", "Regulars", "Big spenders", "Fond of “Épicerie fine”")
    assert any("Épicerie fine" in t for t in text.traits) or any("basket" in t for t in text.traits)
    assert "summer" in " ".join(described["tourists"][1].traits)
    christmas = " ".join(described["christmas"][1].traits)
    assert "Christmas" in christmas or "Coffrets" in christmas
    with translation.override("fr"):
        text = persona_describe(described["tourists"][0])
        assert "été" in " ".join(text.traits)
        assert text.figures.startswith("Médianes")


@pytest.mark.django_db
def test_a_second_refresh_of_the_same_base_gives_the_same_personas_with_the_same_ids(planted):
    rfm_refresh(now=NOW)
    personas_refresh(now=NOW)
    first = _assignments()
    first_figures = _personas()
    personas_refresh(now=NOW)
    assert _assignments() == first
    assert _personas() == first_figures


@pytest.mark.django_db
def test_a_persona_keeps_its_id_when_most_of_its_members_stay(planted):
    rfm_refresh(now=NOW)
    personas_refresh(now=NOW)
    before = _assignments()
    tourist = next(iter(planted["tourists"]))
    for _ in range(3):  # a few new tourists
        make_order(make_contact(), total="30", ordered_at=NOW.replace(month=7, day=2, year=2025))
    rfm_refresh(now=NOW)
    personas_refresh(now=NOW)
    assert _assignments()[tourist] == before[tourist]


@pytest.mark.django_db
def test_too_few_customers_make_no_persona_and_remove_the_old_ones(planted):
    rfm_refresh(now=NOW)
    personas_refresh(now=NOW)
    from fidele.commerce.models import Order

    Order.objects.exclude(contact_id__in=list(planted["tourists"])[:10]).delete()
    rfm_refresh(now=NOW)
    assert personas_refresh(now=NOW).k == 0
    assert not Persona.objects.exists() and not ContactPersona.objects.exists()


@pytest.mark.django_db
def test_the_personas_page_list_shares_add_up(planted):
    rfm_refresh(now=NOW)
    personas_refresh(now=NOW)
    views = personas_list()
    assert sum(v.persona.customers for v in views) == 150
    assert abs(sum(v.customer_share for v in views) - 1) < 1e-9


def test_the_sample_is_fixed_and_sorted():
    first = personas._sample(10_000, 100)
    assert (first == personas._sample(10_000, 100)).all()
    assert (np.diff(first) > 0).all()
