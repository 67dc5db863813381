"""Reads about sending: a campaign's progress (the campaign page and `campaign send --wait`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from fidele.delivery.models import OutboxMessage

Status = OutboxMessage.Status

# The rate is measured over the last minute: long enough to smooth batches, short enough to
# show a pause or a throttle quickly.
RATE_WINDOW_SECONDS = 60


def campaign_counts(*, campaign_id: int) -> dict[str, int]:
    return OutboxMessage.objects.filter(campaign_id=campaign_id).aggregate(
        total=Count("id"),
        sent=Count("id", filter=Q(status=Status.SENT)),
        failed=Count("id", filter=Q(status=Status.FAILED)),
        skipped=Count("id", filter=Q(status=Status.SKIPPED)),
        queued=Count("id", filter=Q(status=Status.QUEUED)),
        claimed=Count("id", filter=Q(status=Status.CLAIMED)),
        held=Count("id", filter=Q(status=Status.HELD)),
    )


def campaign_progress(*, campaign_id: int, now: Any = None) -> dict[str, Any]:
    """Counts by outcome, plus `remaining`, `rate_per_minute` and `seconds_left` (None when
    nothing is moving). `done` counts every row that has reached its final state."""
    now = now or timezone.now()
    counts = campaign_counts(campaign_id=campaign_id)
    recent = OutboxMessage.objects.filter(
        campaign_id=campaign_id,
        status=Status.SENT,
        sent_at__gte=now - timedelta(seconds=RATE_WINDOW_SECONDS),
    ).count()
    remaining = counts["queued"] + counts["claimed"] + counts["held"]
    rate_per_second = recent / RATE_WINDOW_SECONDS
    seconds_left = remaining / rate_per_second if rate_per_second and remaining else None
    done = counts["sent"] + counts["failed"] + counts["skipped"]
    return {
        **counts,
        "remaining": remaining,
        "done": done,
        "percent": round(100 * done / counts["total"], 1) if counts["total"] else 0.0,
        "rate_per_minute": round(rate_per_second * 60, 1),
        "seconds_left": round(seconds_left) if seconds_left is not None else None,
    }
