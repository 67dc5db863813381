from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import call_command

from fidele.contacts.merge import contact_merge_undo, contacts_merge
from fidele.quality.duplicates import (
    duplicate_contact_count,
    duplicate_dismiss,
    duplicate_pairs,
    duplicates_find,
    duplicates_search,
)
from fidele.quality.matching import compare, record_of
from tests.factories import make_contact

pytestmark = pytest.mark.django_db

BORN = dt.date(1971, 3, 14)


def _pairs():
    return {(p.low, p.high) for p in duplicates_find().pairs}


def _pair(a, b):
    return (min(a.pk, b.pk), max(a.pk, b.pk))


def test_a_person_typed_twice_is_proposed_with_reasons_in_the_readers_language():
    a = make_contact(
        "helene.dupre@orange.fr", first_name="Hélène", last_name="Dupré",
        phone="+33612345678", postal_code="24100", city="Bergerac", birth_date=BORN,
    )  # fmt: skip
    b = make_contact(
        None, first_name="HELENE", last_name="DUPRE", phone="+33612345678",
        postal_code="24100", city="Bergerac",
    )  # fmt: skip
    c = make_contact(
        "h.dupre@free.fr", first_name="Dupré", last_name="Hélène", postal_code="24100",
        city="Bergerac", birth_date=BORN,
    )  # fmt: skip
    result = duplicates_find()
    found = {(p.low, p.high): p for p in result.pairs}
    assert _pair(a, b) in found and _pair(a, c) in found
    assert "same_phone" in found[_pair(a, b)].reasons
    assert "names_swapped" in found[_pair(a, c)].reasons


def test_family_members_at_one_address_and_namesakes_elsewhere_are_not_proposed():
    home = {"address": "3 rue des Vignes", "postal_code": "24100", "city": "Bergerac"}
    father = make_contact(
        "jean.martin@orange.fr", first_name="Jean", last_name="Martin", phone="+33553000000",
        birth_date=dt.date(1960, 1, 2), **home,
    )  # fmt: skip
    make_contact(
        "marie.martin@orange.fr", first_name="Marie", last_name="Martin", phone="+33553000000",
        birth_date=dt.date(1962, 5, 6), **home,
    )  # fmt: skip
    make_contact(
        None, first_name="Lucas", last_name="Martin", phone="+33553000000", civility="M", **home
    )
    make_contact(
        "jmartin@free.fr", first_name="Jean", last_name="Martin", postal_code="69003",
        city="Lyon", birth_date=dt.date(1985, 7, 8),
    )  # fmt: skip
    assert _pairs() == set()
    assert father.pk


def test_a_pair_marked_not_the_same_person_is_never_proposed_again(owner):
    a = make_contact("a@example.fr", first_name="Paul", last_name="Roux", phone="+33611111111")
    b = make_contact("b@example.fr", first_name="Paul", last_name="Roux", phone="+33611111111")
    duplicates_search()
    assert duplicate_contact_count() == 2
    assert duplicate_dismiss(actor=owner, contact_ids=(b.pk, a.pk)) is True
    assert duplicate_dismiss(actor=owner, contact_ids=(a.pk, b.pk)) is False
    assert duplicate_contact_count() == 0
    duplicates_search()
    assert not duplicate_pairs().exists()


def test_a_merged_pair_leaves_the_list_and_comes_back_after_undo(owner):
    a = make_contact("a@example.fr", first_name="Paul", last_name="Roux", phone="+33611111111")
    b = make_contact("b@example.fr", first_name="Paul", last_name="Roux", phone="+33611111111")
    duplicates_search()
    merge = contacts_merge(actor=owner, kept_id=a.pk, absorbed_id=b.pk)
    assert duplicate_contact_count() == 0
    contact_merge_undo(actor=owner, merge_id=merge.pk)
    assert duplicate_contact_count() == 2


def test_the_cli_prints_the_contract_shape():
    a = make_contact(
        "a@example.fr", first_name="Paul", last_name="Roux", phone="+33611111111",
        external_id="C-7",
    )  # fmt: skip
    b = make_contact(None, first_name="Paul", last_name="ROUX", phone="+33611111111")
    out = StringIO()
    call_command("quality", "duplicates", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert list(data["pairs"][0]) == ["a", "b", "score", "reasons"]
    pair = data["pairs"][0]
    assert pair["a"] == {"id": a.pk, "external_id": "C-7", "email": "a@example.fr"}
    assert pair["b"] == {"id": b.pk, "external_id": None, "email": None}
    assert 0.9 <= pair["score"] <= 1
    assert all(isinstance(r, str) and r for r in pair["reasons"])
    assert len(data["pairs"]) == 1


def test_the_cli_says_the_reasons_in_french_when_asked():
    from django.utils import translation

    make_contact("a@example.fr", first_name="Paul", last_name="Roux", phone="+33611111111")
    make_contact(None, first_name="Paul", last_name="Roux", phone="+33611111111")
    out = StringIO()
    with translation.override("fr"):
        call_command("quality", "duplicates", "--json", stdout=out)
    assert "même téléphone" in json.loads(out.getvalue())["pairs"][0]["reasons"]


def test_names_one_letter_apart_say_so():
    a = record_of((1, "M", "Jean", "Dupont", None, "+33611111111", "", "24100", "", None))
    b = record_of((2, "M", "Jean", "Dupond", None, "+33611111111", "", "24100", "", None))
    _weight, reasons = compare(a, b)
    assert "name_one_letter" in reasons


def test_hostile_names_are_compared_as_text():
    a = make_contact(
        None, first_name="<script>alert(1)</script>", last_name="'; DROP TABLE x; --",
        phone="+33611111111",
    )  # fmt: skip
    b = make_contact(
        None, first_name="<script>alert(1)</script>", last_name="'; DROP TABLE x; --",
        phone="+33611111111",
    )  # fmt: skip
    assert _pair(a, b) in _pairs()
