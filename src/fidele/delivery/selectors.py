"""Reads about sending: a campaign's progress (the campaign page and `campaign send --wait`), the
outbox rows its owner reads, and the bounce reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from fidele.delivery.models import BounceReport, OutboxMessage

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


def campaigns_status_counts(*, campaign_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """`{campaign_id: {status: rows}}` for a few campaigns (a page of the campaign list), in one
    GROUP BY that the (campaign, status, id) index answers without reading the table."""
    if not campaign_ids:
        return {}
    rows = (
        OutboxMessage.objects.filter(campaign_id__in=list(campaign_ids))
        .values_list("campaign_id", "status")
        .annotate(rows=Count("*"))
        .order_by()
    )
    counts: dict[int, dict[str, int]] = {}
    for campaign_id, status, n in rows:
        counts.setdefault(campaign_id, {})[status] = n
    return counts


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


def outbox_stalled(
    *, campaign_ids: Sequence[int], quiet_seconds: int, lease_seconds: int, now: Any = None
) -> list[int]:
    """Of `campaign_ids` (those still sending), the ones with work due in the outbox that no
    sender has touched for `quiet_seconds`.

    That is what a worker killed mid-campaign leaves behind (its task will not come back); the
    watchdog task hands these to a sender again. Due work: queued rows whose retry time has come,
    and claimed rows whose lease ran out. Rows held for an A/B winner are not due.
    """
    now = now or timezone.now()
    quiet_since = now - timedelta(seconds=quiet_seconds)
    due = (
        Q(status=Status.QUEUED) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    ) | Q(status=Status.CLAIMED, claimed_at__lt=now - timedelta(seconds=lease_seconds))
    rows = (
        OutboxMessage.objects.filter(campaign_id__in=list(campaign_ids))
        .values("campaign_id")
        .annotate(
            due=Count("id", filter=due), last_sent=Max("sent_at"), last_claim=Max("claimed_at")
        )
        .filter(due__gt=0)
        .order_by("campaign_id")
    )
    return [
        row["campaign_id"]
        for row in rows
        if all(at is None or at < quiet_since for at in (row["last_sent"], row["last_claim"]))
    ]


def outbox_rows_count(*, campaign_id: int) -> int:
    return OutboxMessage.objects.filter(campaign_id=campaign_id).count()


def outbox_has_held(*, campaign_id: int) -> bool:
    """Whether recipients are held back for an A/B winner."""
    return OutboxMessage.objects.filter(campaign_id=campaign_id, status=Status.HELD).exists()


def outbox_has_open(*, campaign_id: int) -> bool:
    """Whether any row is left to send: queued, claimed or held."""
    return OutboxMessage.objects.filter(
        campaign_id=campaign_id, status__in=[Status.QUEUED, Status.CLAIMED, Status.HELD]
    ).exists()


def outbox_unassigned_ids(*, campaign_id: int) -> list[int]:
    """The queued rows no variant has got yet, in id order."""
    return list(
        OutboxMessage.objects.filter(
            campaign_id=campaign_id, status=Status.QUEUED, variant__isnull=True
        )
        .order_by("id")
        .values_list("id", flat=True)
    )


def outbox_variant_sizes(*, campaign_id: int) -> dict[int, int]:
    """`{variant_id: rows}` of the rows given to a variant."""
    return dict(
        OutboxMessage.objects.filter(campaign_id=campaign_id, variant__isnull=False)
        .values_list("variant_id")
        .annotate(n=Count("id"))
    )


def bounce_reports_filtered(*, params: Mapping[str, Any]) -> QuerySet[BounceReport]:
    queryset = BounceReport.objects.defer("raw")
    q = (params.get("q") or "").strip()
    if q:
        queryset = queryset.filter(Q(email__icontains=q.lower()) | Q(diagnostic__icontains=q))
    kind = params.get("kind") or ""
    if kind in BounceReport.Kind.values:
        queryset = queryset.filter(kind=kind)
    return queryset
