"""Tracking's recurring jobs.

- The drain of the hits queue, run by the worker every five seconds (fidele.tracking.hits).
  Often and small rather than rarely and large: the events screens read are fresher, a
  request's address and user agent are kept a shorter time, and the drain takes the CPU in
  short slices beside the web server's requests rather than in long ones.
- Hourly upkeep of the website analytics: the salts and old visits (fidele.tracking.site).

The tasks' paths (fidele.tracking.tasks.hits_drain_task, fidele.tracking.tasks.site_upkeep_run)
are stored with every queued run: keep them."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from fidele.core.tasks import task_schedule_next
from fidele.tracking.hits import hits_drain
from fidele.tracking.site import site_upkeep

# How long a hit may wait: the events screens and segments read are this far behind at most
# (reports drain before they read), and the address and user agent of a request are kept no
# longer than this.
DRAIN_EVERY = timedelta(seconds=5)
# Hourly: a day's salt goes within the hour after it turns 48 hours old.
UPKEEP_EVERY = timedelta(hours=1)


@task()
def hits_drain_task() -> int:
    try:
        return hits_drain()
    finally:
        hits_drain_schedule()


def hits_drain_schedule(*, delay: timedelta = DRAIN_EVERY) -> bool:
    """Queue the next drain unless one is waiting. A frequent job: its runs are neither kept
    nor logged (unless one fails), at one every five seconds they would be thousands a day."""
    return task_schedule_next(hits_drain_task, delay=delay, frequent=True)


@task()
def site_upkeep_run() -> dict[str, int]:
    try:
        return site_upkeep()
    finally:
        site_upkeep_schedule()


def site_upkeep_schedule(*, delay: timedelta | None = None) -> bool:
    return task_schedule_next(site_upkeep_run, delay=UPKEEP_EVERY if delay is None else delay)
