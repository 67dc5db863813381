"""Tracking's recurring job: the website's salts and old visits (fidele.tracking.site).

The task's path (fidele.tracking.tasks.site_upkeep_run) is stored with every queued run: keep it."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from fidele.core.tasks import task_schedule_next
from fidele.tracking.site import site_upkeep

# Hourly: a day's salt goes within the hour after it turns 48 hours old.
EVERY = timedelta(hours=1)


@task()
def site_upkeep_run() -> dict[str, int]:
    try:
        return site_upkeep()
    finally:
        site_upkeep_schedule()


def site_upkeep_schedule(*, delay: timedelta | None = None) -> bool:
    return task_schedule_next(site_upkeep_run, delay=EVERY if delay is None else delay)
