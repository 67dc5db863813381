"""A campaign's status, changed under a row lock and audited: the one way every status moves.

Used by the marketer's transitions (fidele.campaigns.services) and by those that involve sending
(fidele.campaigns.sending), so that both are locked and audited the same way; it depends on
neither.
"""

from __future__ import annotations

from typing import Any

from fidele.campaigns.models import Campaign
from fidele.core.actors import Actor
from fidele.core.audit import audit_record


def campaign_locked(campaign_id: int) -> Campaign:
    """The campaign re-read under a row lock (held until the transaction ends), so that two
    writes on it never interleave: the marketer's and the send engine's alike."""
    return Campaign.objects.select_for_update().get(pk=campaign_id)


def campaign_status_set(
    campaign: Campaign,
    *,
    to: str,
    actor: Actor = None,
    fields: dict[str, Any] | None = None,
    audit: dict[str, Any] | None = None,
) -> Campaign:
    """Move a campaign the caller holds locked (campaign_locked) and has checked to status `to`,
    with the other fields that go with it (reason, timestamps); save only those and audit the
    move as {"status": [from, to], **audit}.

    For a transition that needs work between the lock and the move (the engine's start takes
    the audience snapshot there); the others use campaign_transition."""
    before = campaign.status
    campaign.status = to
    for name, value in (fields or {}).items():
        setattr(campaign, name, value)
    campaign.save(update_fields=["status", *(fields or {}), "updated_at"])
    audit_record(
        actor=actor,
        action="update",
        obj=campaign,
        changes={"status": [before, to], **(audit or {})},
    )
    return campaign
