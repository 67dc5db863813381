"""The dashboards' data in the background: the daily rollup every hour (after the campaign
rollup, whose hours it reads), the monthly tables every night, both a few minutes after an
import (announced through fidele.core.events).

The tasks' paths (fidele.analytics.dashboard_tasks.*) are stored with every queued run: keep
them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from django_tasks import task

from fidele.analytics.daily import daily_fill
from fidele.analytics.dynamics import dashboard_data_refresh
from fidele.core.tasks import task_queue_soon, task_schedule_next

# After an import, wait this long so that contacts then orders imported together refresh once.
AFTER_IMPORT_DELAY = timedelta(minutes=2)
# The nightly refresh runs at this local hour and minute (after the audit at 3:00).
NIGHTLY_AT = (3, 30)


@task()
def daily_rollup() -> int:
    try:
        return daily_fill().rows
    finally:
        daily_rollup_schedule()


def daily_rollup_schedule(*, delay: timedelta | None = None) -> bool:
    """Queue the next hourly run (by default five minutes past the next hour: the campaign
    rollup runs at two past) unless one is waiting."""
    if delay is None:
        now = timezone.now()
        next_hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        delay = next_hour + timedelta(minutes=5) - now
    return task_schedule_next(daily_rollup, delay=delay)


@task()
def dashboard_nightly() -> int:
    try:
        return dashboard_data_refresh().months
    finally:
        dashboard_nightly_schedule()


def dashboard_nightly_schedule(*, delay: timedelta | None = None) -> bool:
    if delay is None:
        now = timezone.localtime()
        hour, minute = NIGHTLY_AT
        next_run = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if next_run <= now:
            next_run += timedelta(days=1)
        delay = next_run - now
    return task_schedule_next(dashboard_nightly, delay=delay)


@task()
def dashboard_after_import() -> int:
    return dashboard_data_refresh().months


def dashboard_after_import_queue(*, sender: Any = None, **kwargs: Any) -> bool:
    """The receiver of fidele.core.events.import_finished: queue one refresh unless one waits."""
    return task_queue_soon(dashboard_after_import, delay=AFTER_IMPORT_DELAY)
