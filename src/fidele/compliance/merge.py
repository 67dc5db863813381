"""Compliance's part in merging two contacts (`fidele.contacts.merge`).

The suppression list is keyed by address, not by contact. When the merged contact keeps an
address other than one its halves had suppressed for a reason that is about the person (they
unsubscribed from everything, complained, were blocked by hand or erased), the address kept is
suppressed too: a merge never makes someone who said no reachable again. A bounce is about an
address and does not follow the person to another one.
"""

from __future__ import annotations

from typing import Any

from fidele.compliance.models import Suppression
from fidele.compliance.services import REASON_STRENGTH
from fidele.contacts.merge import MergedPair, MergeParticipant

Reason = Suppression.Reason
PERSONAL_REASONS = (Reason.UNSUBSCRIBED_ALL, Reason.COMPLAINT, Reason.ERASED, Reason.MANUAL)


def _move(pair: MergedPair) -> dict[str, Any]:
    if not pair.email:
        return {}
    others = {e for e in (pair.kept_email, pair.absorbed_email) if e and e != pair.email}
    sources = Suppression.objects.filter(email__in=others, reason__in=PERSONAL_REASONS)
    source = max(sources, key=lambda s: REASON_STRENGTH.get(s.reason, 0), default=None)
    if source is None:
        return {}
    details = {"merge": {"from": source.email, "kept_contact_id": pair.kept_id}}
    existing = Suppression.objects.filter(email=pair.email).first()
    if existing is None:
        created = Suppression.objects.create(
            email=pair.email, reason=source.reason, details=details
        )
        return {"created": created.pk}
    if REASON_STRENGTH.get(existing.reason, 0) >= REASON_STRENGTH.get(source.reason, 0):
        return {}
    before = {"reason": existing.reason, "details": existing.details}
    existing.reason, existing.details = source.reason, {**details, "previous": before}
    existing.save(update_fields=["reason", "details"])
    return {"raised": existing.pk, "before": before}


def _undo(pair: MergedPair, data: Any) -> None:
    if not isinstance(data, dict):
        return
    if data.get("created"):
        Suppression.objects.filter(pk=data["created"]).delete()
    if data.get("raised"):
        before = data.get("before") or {}
        Suppression.objects.filter(pk=data["raised"]).update(
            reason=before.get("reason"), details=before.get("details") or {}
        )


PARTICIPANT = MergeParticipant(name="compliance-suppression", move=_move, undo=_undo)
