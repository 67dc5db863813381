"""Merging two contacts takes their RFM scores and personas away (the next refresh scores the
merged contact from all its orders); undoing the merge puts them back."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from fidele.contacts.merge import contact_merge_undo, contacts_merge
from fidele.segments.models import ContactPersona, ContactRfm, Persona
from tests.factories import make_contact

pytestmark = pytest.mark.django_db


def _score(contact, segment: str) -> ContactRfm:
    return ContactRfm.objects.create(
        contact=contact,
        recency_days=10,
        frequency=3,
        monetary=Decimal("120.50"),
        r_score=5,
        f_score=4,
        m_score=4,
        segment=segment,
        computed_at=timezone.now(),
    )


def test_a_merge_takes_both_scores_away_and_its_undo_puts_them_back(owner):
    kept, absorbed = make_contact("a@example.fr"), make_contact("b@example.fr")
    _score(kept, "champions")
    _score(absorbed, "at_risk")
    persona = Persona.objects.create(
        number=1, customers=1, revenue=Decimal("50"), computed_at=timezone.now()
    )
    ContactPersona.objects.create(contact=absorbed, persona=persona)

    merge = contacts_merge(actor=owner, kept_id=kept.pk, absorbed_id=absorbed.pk)

    assert not ContactRfm.objects.exists() and not ContactPersona.objects.exists()

    contact_merge_undo(actor=owner, merge_id=merge.pk)

    assert dict(ContactRfm.objects.values_list("contact_id", "segment")) == {
        kept.pk: "champions",
        absorbed.pk: "at_risk",
    }
    assert ContactRfm.objects.get(contact_id=kept.pk).monetary == Decimal("120.50")
    assert ContactPersona.objects.get().contact_id == absorbed.pk
