"""The rollup, run by the worker every hour (a few minutes past, once the hour has settled),
then the retention of the raw opens and clicks it has counted.

The task's path (fidele.analytics.tasks.rollup) is stored with every queued run: keep it."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_tasks import task

from fidele.analytics.rollup import raw_events_retention, rollup_fill
from fidele.core.tasks import task_schedule_next


@task()
def rollup() -> int:
    try:
        hours = rollup_fill().hours
        raw_events_retention()
        return hours
    finally:
        rollup_schedule()


def rollup_schedule(*, delay: timedelta | None = None) -> bool:
    """Queue the next run (by default two minutes past the next hour) unless one is waiting."""
    if delay is None:
        now = timezone.now()
        next_hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        delay = next_hour + timedelta(minutes=2) - now
    return task_schedule_next(rollup, delay=delay)
