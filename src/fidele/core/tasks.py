"""What several apps need of the task queue: recurring work without a scheduler.

django-tasks has no cron. A recurring job is a task that, when it runs, queues its next run with
`run_after`; the worker queues the first one at start. `task_is_waiting` keeps that to a single
chain when several workers start at once.
"""

from __future__ import annotations

from typing import Any

from django_tasks import TaskResultStatus


def task_is_waiting(task: Any) -> bool:
    """True when a run of `task` is queued and not started (database backend only).

    Other backends cannot be inspected: they answer False, which costs at worst one more chain
    of a job that is harmless to run twice.
    """
    try:
        from django_tasks_db.models import DBTaskResult
    except ImportError:  # pragma: no cover - backend not installed
        return False
    return DBTaskResult.objects.filter(
        task_path=task.module_path, status=TaskResultStatus.READY
    ).exists()
