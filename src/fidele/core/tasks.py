"""What several apps need of the task queue: recurring work without a scheduler.

django-tasks has no cron. A recurring job is a task that, when it runs, queues its next run with
`run_after`; the worker queues the first one at start. `task_is_waiting` keeps that to a single
chain when several workers start at once.

Each app registers its recurring jobs from its AppConfig.ready() with `recurring_job_register`;
`fidele worker` starts them all without knowing which apps exist.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django_tasks import TaskResultStatus


def task_is_waiting(task: Any) -> bool:
    """True when a run of `task` is queued and not started (database backend only).

    With another backend no run waits in that table: False, which costs at worst one more chain
    of a job that is harmless to run twice.
    """
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(
        task_path=task.module_path, status=TaskResultStatus.READY
    ).exists()


# Queues the next run of a recurring job after `delay` (unless one is waiting already); returns
# whether it queued one.
ScheduleFunction = Callable[..., bool]

_recurring_jobs: dict[str, ScheduleFunction] = {}


def recurring_job_register(name: str, schedule: ScheduleFunction) -> None:
    """Make `fidele worker` start the job `name` (a stable, unique label) when it starts.
    `schedule(delay=timedelta)` queues its next run. Registering a name twice replaces it."""
    _recurring_jobs[name] = schedule


def recurring_jobs() -> dict[str, ScheduleFunction]:
    return dict(_recurring_jobs)


def recurring_jobs_start(*, delay: timedelta) -> dict[str, bool]:
    """Queue the first run of every registered recurring job; `{name: queued}`."""
    return {name: schedule(delay=delay) for name, schedule in sorted(_recurring_jobs.items())}
