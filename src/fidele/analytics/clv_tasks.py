"""The lifetime value and churn refresh in the background: a few minutes after an import
(announced by imports through fidele.core.events), every night, and on demand from the page.
The web process never fits: it queues, the worker fits.

The tasks' paths (fidele.analytics.clv_tasks.*) are stored with every queued run: keep them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django_tasks import TaskResultStatus, task

from fidele.analytics.models import ClvFit
from fidele.analytics.predictions import clv_refresh
from fidele.core.tasks import (
    delay_until_local_hour,
    task_is_waiting,
    task_queue_soon,
    task_schedule_next,
)

# After an import, the refresh waits this long, so that contacts then orders refit once.
AFTER_IMPORT_DELAY = timedelta(minutes=3)
# The nightly refresh runs at this local hour: after the day's orders and quality's 3 o'clock
# audit, before the day's work (a day passing changes every prediction a little).
NIGHTLY_HOUR = 4


@task()
def clv_after_import() -> int:
    return clv_refresh(trigger=ClvFit.Trigger.IMPORT).pk


def clv_after_import_queue(*, sender: Any = None, **kwargs: Any) -> bool:
    """The receiver of fidele.core.events.import_finished: one refresh queued, unless one waits."""
    return task_queue_soon(clv_after_import, delay=AFTER_IMPORT_DELAY)


@task()
def clv_nightly() -> int:
    try:
        return clv_refresh(trigger=ClvFit.Trigger.NIGHTLY).pk
    finally:
        clv_nightly_schedule()


def clv_nightly_schedule(*, delay: timedelta | None = None) -> bool:
    """Queue the next nightly refresh (by default at NIGHTLY_HOUR, local time) unless one is
    waiting."""
    if delay is None:
        delay = delay_until_local_hour(NIGHTLY_HOUR)
    return task_schedule_next(clv_nightly, delay=delay)


@task()
def clv_refresh_now() -> int:
    return clv_refresh(trigger=ClvFit.Trigger.MANUAL).pk


def clv_refresh_queue() -> bool:
    """Queue a refresh asked for from the page, unless one is waiting already."""
    if task_is_waiting(clv_refresh_now):
        return False
    clv_refresh_now.enqueue()
    return True


def clv_refresh_pending() -> bool:
    """Whether a refresh asked for from the page is waiting or running (database backend)."""
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(
        task_path=clv_refresh_now.module_path,
        status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
    ).exists()
