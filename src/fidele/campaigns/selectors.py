"""Reads about campaigns for the pages: the list with its figures, a campaign's progress."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from fidele.campaigns.models import Campaign
from fidele.contacts.models import Contact


def campaigns_list(*, status: str = "") -> QuerySet[Campaign]:
    """Campaigns, newest first, each with `recipients`, `sent_count` and `failed_count` from its
    outbox (counted by the database in the same query)."""
    queryset = Campaign.objects.all()
    if status in Campaign.Status.values:
        queryset = queryset.filter(status=status)
    return queryset.annotate(
        recipients=Count("outbox"),
        sent_count=Count("outbox", filter=Q(outbox__status="sent")),
        failed_count=Count("outbox", filter=Q(outbox__status="failed")),
    ).order_by("-created_at", "-id")


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
