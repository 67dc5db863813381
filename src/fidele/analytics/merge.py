"""Analytics' part in merging two contacts (`fidele.contacts.merge`): an attribution names its
customer by a plain id (it outlives deletions, like the rest of the reports' facts), which the
generic move of foreign keys cannot see; it follows the orders to the kept contact."""

from __future__ import annotations

from typing import Any

from fidele.analytics.models import Attribution
from fidele.contacts.merge import MergedPair, MergeParticipant


def _move(pair: MergedPair) -> list[int]:
    rows = Attribution.objects.filter(contact_id=pair.absorbed_id)
    ids = list(rows.values_list("pk", flat=True))
    Attribution.objects.filter(pk__in=ids).update(contact_id=pair.kept_id)
    return ids


def _undo(pair: MergedPair, data: Any) -> None:
    Attribution.objects.filter(pk__in=list(data or []), contact_id=pair.kept_id).update(
        contact_id=pair.absorbed_id
    )


PARTICIPANT = MergeParticipant(name="analytics-attribution", move=_move, undo=_undo)
