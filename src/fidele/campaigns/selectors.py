"""Reads about campaigns for the pages: the list with its figures, a campaign's progress."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Q, QuerySet

from fidele.campaigns.models import Campaign
from fidele.contacts.models import Contact


def campaigns_list(*, status: str = "") -> QuerySet[Campaign]:
    """Campaigns, newest first; only those with `status` when it is one."""
    queryset = Campaign.objects.all()
    if status in Campaign.Status.values:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-created_at", "-id")


def campaigns_figures(*, campaigns: Sequence[Campaign]) -> None:
    """Set `recipients`, `sent_count` and `failed_count` on each of `campaigns` (one page of
    the list) from its outbox, counted in one grouped query for all of them."""
    from fidele.delivery.selectors import campaigns_status_counts

    counts = campaigns_status_counts(campaign_ids=[c.pk for c in campaigns])
    for campaign in campaigns:
        by_status = counts.get(campaign.pk, {})
        campaign.recipients = sum(by_status.values())  # type: ignore[attr-defined]
        campaign.sent_count = by_status.get("sent", 0)  # type: ignore[attr-defined]
        campaign.failed_count = by_status.get("failed", 0)  # type: ignore[attr-defined]


def campaign_progress(*, campaign: Campaign, now: Any = None) -> dict[str, Any]:
    """Sent, failed, remaining, rate and time left, from the send engine's outbox (one aggregate
    query, plus the rate over the last minute)."""
    from django.utils import timezone

    from fidele.delivery.selectors import RATE_WINDOW_SECONDS
    from fidele.delivery.selectors import campaign_progress as outbox_progress

    now = now or timezone.now()
    progress = outbox_progress(campaign_id=campaign.pk, now=now)
    # The engine measures over a full window; in the campaign's first minute that window is
    # mostly empty and the rate would read far too low (and the time left far too long).
    if campaign.started_at and progress["rate_per_minute"]:
        elapsed = (now - campaign.started_at).total_seconds()
        if 0 < elapsed < RATE_WINDOW_SECONDS:
            recent = progress["rate_per_minute"] * RATE_WINDOW_SECONDS / 60
            per_second = recent / max(elapsed, 5)
            progress["rate_per_minute"] = round(per_second * 60, 1)
            remaining = progress["remaining"]
            progress["seconds_left"] = round(remaining / per_second) if remaining else None
    return progress


def contacts_for_preview(*, query: str, limit: int = 8) -> list[Contact]:
    """Contacts to preview a campaign as: by email, name or customer number."""
    query = (query or "").strip()[:100]
    if not query:
        return list(Contact.objects.exclude(email=None).order_by("-created_at", "-id")[:limit])
    condition = (
        Q(email__istartswith=query)
        | Q(last_name__istartswith=query)
        | Q(first_name__istartswith=query)
        | Q(external_id=query)
    )
    return list(Contact.objects.filter(condition).order_by("last_name", "first_name", "id")[:limit])


def campaigns_stalled(*, quiet_seconds: int, lease_seconds: int, now: Any = None) -> list[int]:
    """Campaigns still sending whose outbox has work due that no sender touched for
    `quiet_seconds` (fidele.delivery.selectors.outbox_stalled): what a worker killed
    mid-campaign leaves behind."""
    from fidele.delivery.selectors import outbox_stalled

    sending = Campaign.objects.filter(status=Campaign.Status.SENDING).values_list("id", flat=True)
    return outbox_stalled(
        campaign_ids=list(sending),
        quiet_seconds=quiet_seconds,
        lease_seconds=lease_seconds,
        now=now,
    )


def new_campaign_initial() -> dict[str, Any]:
    """What the new-campaign form starts with: the default layout; the sender its layout signs
    with, or else the last campaign's; the sender address of the last campaign; the rich-text
    editor (the one that needs no HTML)."""
    from fidele.campaigns.layouts import DEFAULT_SENDER_NAME, layout_default

    layout = layout_default()
    last = Campaign.objects.order_by("-created_at", "-id").values("from_name", "from_email").first()
    from_name = layout.sender_name if layout.sender_name != DEFAULT_SENDER_NAME else ""
    return {
        "layout": layout,
        "from_name": from_name or (last or {}).get("from_name", ""),
        "from_email": (last or {}).get("from_email", ""),
        "body_format": Campaign.BodyFormat.RICHTEXT,
    }
