"""Segments' part in merging two contacts (`fidele.contacts.merge`): RFM scores and personas
are computed from a contact's orders, and two contacts' orders become one contact's. Both
contacts' scores and persona are taken away at the merge (the next refresh scores the merged
contact from all its orders) and put back by its undo."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import Q

from fidele.contacts.merge import MergedPair, MergeParticipant
from fidele.segments.models import ContactPersona, ContactRfm, Persona

_RFM_COLUMNS = (
    "contact_id",
    "recency_days",
    "frequency",
    "monetary",
    "r_score",
    "f_score",
    "m_score",
    "segment",
    "computed_at",
)


def _of_pair(pair: MergedPair) -> Q:
    return Q(contact_id__in=(pair.kept_id, pair.absorbed_id))


def _move(pair: MergedPair) -> dict[str, list[Any]]:
    scores = ContactRfm.objects.filter(_of_pair(pair))
    personas = ContactPersona.objects.filter(_of_pair(pair))
    taken = {
        "rfm": [
            {
                **row,
                "monetary": str(row["monetary"]),
                "computed_at": row["computed_at"].isoformat(),
            }
            for row in scores.values(*_RFM_COLUMNS)
        ],
        "personas": [list(row) for row in personas.values_list("contact_id", "persona_id")],
    }
    scores.delete()
    personas.delete()
    return taken


def _undo(pair: MergedPair, data: Any) -> None:
    data = data or {}
    ContactRfm.objects.filter(_of_pair(pair)).delete()
    ContactRfm.objects.bulk_create(
        ContactRfm(
            **{
                **row,
                "monetary": Decimal(row["monetary"]),
                "computed_at": dt.datetime.fromisoformat(row["computed_at"]),
            }
        )
        for row in data.get("rfm", [])
    )
    ContactPersona.objects.filter(_of_pair(pair)).delete()
    # A persona a refresh has since removed is not brought back: the next refresh places them.
    existing = set(Persona.objects.values_list("pk", flat=True))
    ContactPersona.objects.bulk_create(
        ContactPersona(contact_id=contact_id, persona_id=persona_id)
        for contact_id, persona_id in data.get("personas", [])
        if persona_id in existing
    )


PARTICIPANT = MergeParticipant(
    name="segments-insights",
    move=_move,
    undo=_undo,
    claims=("segments.contactrfm", "segments.contactpersona"),
)
