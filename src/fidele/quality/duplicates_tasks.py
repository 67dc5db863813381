"""Background runs of the duplicate search: on demand from the duplicates page, after each
import, and nightly.

The task's path is stored with every queued run: keep it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django_tasks import task

from fidele.core.tasks import task_is_waiting, task_schedule_next
from fidele.quality.duplicates import duplicates_search

NIGHTLY = timedelta(hours=24)


@task()
def duplicates_search_run() -> int:
    """Search now; returns how many pairs are proposed."""
    return len(duplicates_search().pairs)


@task()
def duplicates_search_nightly() -> int:
    try:
        return len(duplicates_search().pairs)
    finally:
        duplicates_search_schedule()


def duplicates_search_schedule(*, delay: timedelta = NIGHTLY) -> bool:
    """Queue the next nightly search unless one is waiting (`core.tasks`' recurring jobs)."""
    return task_schedule_next(duplicates_search_nightly, delay=delay)


def duplicates_search_queue() -> bool:
    """Queue a search now, unless one is waiting already; False when none was queued."""
    if task_is_waiting(duplicates_search_run):
        return False
    duplicates_search_run.enqueue()
    return True


def duplicates_after_import_queue(*, sender: Any = None, **kwargs: Any) -> bool:
    """The receiver of fidele.core.events.import_finished: a search after the import, unless
    one is waiting already."""
    return duplicates_search_queue()


def duplicates_search_pending() -> bool:
    """Whether a search asked for from the page is waiting or running (database backend)."""
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(
        task_path=duplicates_search_run.module_path,
        status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
    ).exists()
