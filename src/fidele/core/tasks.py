"""What several apps need of the task queue: recurring work without a scheduler.

django-tasks has no cron. A recurring job is a task that, when it runs, queues its next run with
`run_after`; the worker queues the first one at start. `task_is_waiting` keeps that to a single
chain when several workers start at once.

Each app registers its recurring jobs from its AppConfig.ready() with `recurring_job_register`;
`fidele worker` starts them all without knowing which apps exist.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.utils import timezone
from django_tasks import TaskResultStatus

logger = logging.getLogger(__name__)


def task_is_waiting(task: Any) -> bool:
    """True when a run of `task` is queued and not started (database backend only).

    With another backend no run waits in that table: False, which costs at worst one more chain
    of a job that is harmless to run twice.
    """
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(
        task_path=task.module_path, status=TaskResultStatus.READY
    ).exists()


# How long the successful runs of a frequent job stay in the task table.
FREQUENT_RUNS_KEPT = timedelta(hours=1)
_frequent_task_paths: set[str] = set()


def task_schedule_next(task: Any, *, delay: timedelta, frequent: bool = False) -> bool:
    """Queue the next run of a recurring `task` after `delay`, unless one is waiting already;
    False when nothing was queued. The body of every `*_schedule` function of the apps.

    `frequent`: a job run every few seconds (tracking's drain). Its successful runs are deleted
    after FREQUENT_RUNS_KEPT and not logged (a failed one is, with its traceback): at thousands
    a day they would bury the other tasks, in the table and in the worker's log."""
    if frequent:
        _frequent_task_paths.add(task.module_path)
    if task_is_waiting(task):
        return False
    if frequent:
        _task_successes_delete(task, before=timezone.now() - FREQUENT_RUNS_KEPT)
    task.using(run_after=timezone.now() + delay).enqueue()
    return True


def task_queue_soon(task: Any, *, delay: timedelta) -> bool:
    """Queue one run of `task` after `delay` unless one is waiting (work asked for by an
    event, such as an import's end, that several events in a row should trigger once). A
    backend that cannot defer a task (the immediate one) runs it now."""
    if not task.get_backend().supports_defer:
        task.enqueue()
        return True
    return task_schedule_next(task, delay=delay)


def _task_successes_delete(task: Any, *, before: Any) -> None:
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.filter(
        task_path=task.module_path, status=TaskResultStatus.SUCCESSFUL, finished_at__lt=before
    ).delete()


class FrequentJobsLogFilter(logging.Filter):
    """Leaves out django-tasks' lines about the runs of frequent jobs (task_schedule_next),
    except the failures (settings.LOGGING puts it on the "django_tasks" logger)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        args = record.args
        return not (isinstance(args, tuple) and len(args) >= 2 and args[1] in _frequent_task_paths)


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


# Work a worker does once when it starts, before it takes tasks (recovering what a killed worker
# left behind); registered like the recurring jobs, from AppConfig.ready().
_startup_jobs: dict[str, Callable[[], Any]] = {}


def worker_startup_register(name: str, job: Callable[[], Any]) -> None:
    """Make `fidele worker` call `job()` when it starts (and after a database outage)."""
    _startup_jobs[name] = job


def worker_startup_run() -> dict[str, Any]:
    """Run the startup jobs; one that fails is logged and does not keep the others from running,
    except on a database error, which the worker handles (it waits for the database)."""
    from django.db import DatabaseError

    done: dict[str, Any] = {}
    for name, job in sorted(_startup_jobs.items()):
        try:
            done[name] = job()
        except DatabaseError:
            raise
        except Exception:
            logger.exception("startup job %s failed", name)
    return done


class WorkerGone(Exception):  # noqa: N818 - the name the task's failure shows
    """Recorded as the failure of a task whose worker stopped while running it."""


def tasks_orphaned_fail() -> int:
    """Mark FAILED the task runs left RUNNING by a worker that is gone (database backend only).

    django-tasks-db never looks at a RUNNING row again: without this, a run whose worker was
    killed (or lost its database while saving the result) stays "running" for ever. It is marked
    failed, not run again: a task may have done part of its work, and the apps recover their own
    work (sends resume from the outbox, imports are marked interrupted). Only runs whose worker
    was a process on this machine that no longer runs are touched (`fidele worker` names itself
    with fidele.core.claims.claimer_name); others belong to workers that may be alive."""
    from django_tasks_db.models import DBTaskResult

    from fidele.core.claims import claimer_is_gone

    failed = 0
    for result in DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING):
        worker = (result.worker_ids or [""])[-1]
        if claimer_is_gone(worker):
            result.set_failed(WorkerGone(f"the worker {worker} stopped while running this task"))
            failed += 1
    if failed:
        logger.warning("%s task run(s) of stopped workers marked failed", failed)
    return failed


def delay_until_local_hour(hour: int) -> timedelta:
    """How long until `hour`:00 local time, tonight or tomorrow night: the delay of a nightly
    job's next run."""
    now = timezone.localtime()
    next_run = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if next_run <= now:
        next_run += timedelta(days=1)
    return next_run - now
