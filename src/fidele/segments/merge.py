"""Segments' part in merging two contacts (`fidele.contacts.merge`): RFM scores are computed
from a contact's orders, and two contacts' orders become one contact's. Both scores are taken
away at the merge (the next refresh scores the merged contact from all its orders) and put back
by its undo."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from fidele.contacts.merge import MergedPair, MergeParticipant
from fidele.segments.models import ContactRfm

_COLUMNS = (
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


def _move(pair: MergedPair) -> list[dict[str, Any]]:
    scores = ContactRfm.objects.filter(contact_id__in=(pair.kept_id, pair.absorbed_id))
    kept = [
        {**row, "monetary": str(row["monetary"]), "computed_at": row["computed_at"].isoformat()}
        for row in scores.values(*_COLUMNS)
    ]
    scores.delete()
    return kept


def _undo(pair: MergedPair, data: Any) -> None:
    ContactRfm.objects.filter(contact_id__in=(pair.kept_id, pair.absorbed_id)).delete()
    ContactRfm.objects.bulk_create(
        ContactRfm(
            **{
                **row,
                "monetary": Decimal(row["monetary"]),
                "computed_at": dt.datetime.fromisoformat(row["computed_at"]),
            }
        )
        for row in data or []
    )


PARTICIPANT = MergeParticipant(
    name="segments-rfm", move=_move, undo=_undo, claims=("segments.contactrfm",)
)
