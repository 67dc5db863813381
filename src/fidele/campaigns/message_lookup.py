"""The campaigns app's answer to tracking's `MessageLookup` port: what the links in a sent email
need about its message (ids, the campaign's lists, the sender's name and postal address), read
from the send engine's outbox and the campaign. Registered in `CampaignsConfig.ready()`."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from fidele.campaigns.models import Campaign, Layout
from fidele.delivery.models import OutboxMessage
from fidele.tracking.messages import OutboxRef, Sender, SentMessage


def _sender_of(campaign: Any) -> Sender:
    """The layout's sender name, else the campaign's from name, else its sending domain."""
    layout = getattr(campaign, "layout", None)
    name = (getattr(layout, "sender_name", "") or campaign.from_name or "").strip()
    if not name:
        name = (campaign.from_email or "").partition("@")[2]
    return Sender(
        name=name, postal_address=(getattr(layout, "sender_postal_address", "") or "").strip()
    )


class CampaignMessageLookup:
    def outbox_refs(self, outbox_ids: Collection[int]) -> dict[int, OutboxRef]:
        rows = OutboxMessage.objects.filter(pk__in=outbox_ids).values_list(
            "id", "campaign_id", "contact_id", "email", "sent_at"
        )
        return {row[0]: OutboxRef(*row) for row in rows}

    def sent_message(self, outbox_id: int) -> SentMessage | None:
        outbox = (
            OutboxMessage.objects.select_related("campaign", "campaign__layout")
            .filter(pk=outbox_id)
            .first()
        )
        if outbox is None:
            return None
        campaign = outbox.campaign
        return SentMessage(
            id=outbox.pk,
            campaign_id=outbox.campaign_id,
            contact_id=outbox.contact_id,
            email=outbox.email,
            list_ids=tuple(campaign.lists.values_list("id", flat=True)),
            sender=_sender_of(campaign),
        )

    def default_sender(self) -> Sender:
        layout = Layout.objects.filter(is_default=True).first()
        if layout is not None:
            return Sender(name=layout.sender_name, postal_address=layout.sender_postal_address)
        campaign = Campaign.objects.exclude(from_name="").order_by("-created_at").first()
        if campaign is not None:
            return _sender_of(campaign)
        return Sender()
