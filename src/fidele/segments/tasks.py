"""The segments' work in the background: RFM and personas a few minutes after an import
(announced by imports through fidele.core.events), every night, and when a marketer asks from
the page; and each saved segment's size, counted every day (drawn on its page). Pages only read
what was stored: a refresh never holds one up.

The tasks' paths (fidele.segments.tasks.*) are stored with every queued run: keep them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django_tasks import task

from fidele.core.tasks import (
    delay_until_local_hour,
    task_is_waiting,
    task_queue_soon,
    task_schedule_next,
)
from fidele.segments.personas import personas_refresh
from fidele.segments.rfm import rfm_refresh

# After an import, the refresh waits this long, so that an import of contacts followed by one
# of orders is scored once.
AFTER_IMPORT_DELAY = timedelta(minutes=2)
# The nightly refresh runs at this local hour: after the day's imports, before the audit (3 h),
# and so that "days since the last order" moves on by one each night.
NIGHTLY_HOUR = 2
# Segment sizes are counted after the nightly RFM refresh and audits, before the day's work.
DAILY_HOUR = 4


def insights_refresh_run() -> dict[str, Any]:
    """RFM, then the personas (which read the RFM scores)."""
    scores = rfm_refresh()
    personas = personas_refresh()
    return {
        "customers": scores.customers,
        "rfm_seconds": scores.seconds,
        "personas": personas.k,
        "personas_seconds": personas.seconds,
    }


@task()
def insights_refresh() -> dict[str, Any]:
    return insights_refresh_run()


def insights_after_import_queue(*, sender: Any = None, **kwargs: Any) -> bool:
    """The receiver of fidele.core.events.import_finished: queue one refresh, unless one waits."""
    return task_queue_soon(insights_refresh, delay=AFTER_IMPORT_DELAY)


def insights_refresh_queue() -> bool:
    """Queue a refresh now (the page's button) unless one waits; False when none was queued."""
    if task_is_waiting(insights_refresh):
        return False
    insights_refresh.enqueue()
    return True


@task()
def insights_nightly() -> dict[str, Any]:
    try:
        return insights_refresh_run()
    finally:
        insights_nightly_schedule()


def insights_nightly_schedule(*, delay: timedelta | None = None) -> bool:
    """Queue the next nightly refresh (by default at NIGHTLY_HOUR tonight or tomorrow night,
    local time) unless one is waiting."""
    if delay is None:
        delay = delay_until_local_hour(NIGHTLY_HOUR)
    return task_schedule_next(insights_nightly, delay=delay)


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
        delay = delay_until_local_hour(DAILY_HOUR)
    return task_schedule_next(segment_sizes_daily, delay=delay)
