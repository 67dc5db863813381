"""Analytics' part in merging two contacts (`fidele.contacts.merge`): an attribution names its
customer by a plain id (it outlives deletions, like the rest of the reports' facts), which the
move of foreign keys cannot see; it follows the orders to the kept contact. A contact's
lifetime-value prediction (one row per contact) is dropped with the absorbed contact."""

from __future__ import annotations

from typing import Any

from fidele.analytics.models import Attribution, ContactPrediction
from fidele.contacts.merge import MergedPair, MergeParticipant

# SQLite bounds the parameters of a statement.
_CHUNK = 900


def _move_ids(ids: list[int], *, frm: int, to: int) -> None:
    for start in range(0, len(ids), _CHUNK):
        Attribution.objects.filter(pk__in=ids[start : start + _CHUNK], contact_id=frm).update(
            contact_id=to
        )


def _move(pair: MergedPair) -> list[int]:
    ids = list(Attribution.objects.filter(contact_id=pair.absorbed_id).values_list("pk", flat=True))
    _move_ids(ids, frm=pair.absorbed_id, to=pair.kept_id)
    return ids


def _undo(pair: MergedPair, data: Any) -> None:
    _move_ids([int(pk) for pk in data or []], frm=pair.kept_id, to=pair.absorbed_id)


PARTICIPANT = MergeParticipant(name="analytics-attribution", move=_move, undo=_undo)


def _prediction_drop(pair: MergedPair) -> None:
    """The absorbed contact's prediction is dropped rather than moved (the kept contact has its
    own, and their merged history is fitted again by the next refresh, at the latest that
    night); nothing to give back on undo for the same reason."""
    ContactPrediction.objects.filter(contact_id=pair.absorbed_id).delete()


PREDICTION_PARTICIPANT = MergeParticipant(
    name="analytics-prediction",
    move=_prediction_drop,
    undo=lambda pair, data: None,
    claims=("analytics.contactprediction",),
)
