"""The segments' size, counted every day (drawn on each segment's page).

The task's path (fidele.segments.tasks.*) is stored with every queued run: keep it."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_tasks import task

from fidele.core.tasks import task_schedule_next

# After the nightly RFM refresh and audits, before the day's work.
DAILY_HOUR = 4


@task()
def segment_sizes_daily() -> int:
    from fidele.segments.services import segment_sizes_record

    try:
        return len(segment_sizes_record())
    finally:
        segment_sizes_schedule()


def segment_sizes_schedule(*, delay: timedelta | None = None) -> bool:
    """Queue the next daily count (by default at DAILY_HOUR, local time) unless one waits."""
    if delay is None:
        now = timezone.localtime()
        next_run = now.replace(hour=DAILY_HOUR, minute=0, second=0, microsecond=0)
        if next_run <= now:
            next_run += timedelta(days=1)
        delay = next_run - now
    return task_schedule_next(segment_sizes_daily, delay=delay)
