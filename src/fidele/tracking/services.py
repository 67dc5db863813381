"""Recording what happened to a message after it left: opens, clicks, bounces, unsubscribes.

Events are facts reported by machines (mail clients, MTAs, ESPs) or by the recipient through a
signed link, not writes a user makes in the app, so they are not audited one by one; the
consequences they have on customer data (an unsubscription, a suppression) are.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from fidele.tracking.messages import OutboxRef, message_lookup
from fidele.tracking.models import EmailEvent


def outbox_ref(outbox_id: int) -> OutboxRef | None:
    """The ids of a sent message, from the app that knows the messages (tracking.messages)."""
    return message_lookup().outbox_ref(outbox_id)


def event_record(
    *,
    type: str,
    outbox: Any = None,
    campaign_id: int | None = None,
    contact_id: int | None = None,
    url: str = "",
    is_machine: bool = False,
    details: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> EmailEvent:
    """One event. `outbox` (anything with the ids of an OutboxRef: a SentMessage, an
    OutboxMessage) fills in the campaign and contact."""
    if type not in EmailEvent.Type.values:
        raise ValueError(f"unknown event type {type!r}")
    if outbox is not None:
        campaign_id = campaign_id or outbox.campaign_id
        contact_id = contact_id or outbox.contact_id
    return EmailEvent.objects.create(
        type=type,
        at=at or timezone.now(),
        campaign_id=campaign_id,
        contact_id=contact_id,
        outbox_id=getattr(outbox, "id", None),
        is_machine=is_machine,
        url=url,
        details=details or {},
    )
