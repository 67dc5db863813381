"""`fidele worker`: runs background tasks (imports, sends, recurring jobs) and outlives outages.

It runs django-tasks-db's worker with two changes (`ResilientWorker`):

- A database error while polling, claiming or saving a result no longer ends the process: the
  worker closes its connections, logs the outage once, tries again with a capped back-off
  (FIDELE_WORKER_BACKOFF_MAX_SECONDS) and goes on when the database answers, logging that too.
- A result that could not be saved is kept in memory and saved once the database is back. Were
  the worker killed before that, the run stays RUNNING in the table: the next worker to start on
  this machine marks it failed (fidele.core.tasks.tasks_orphaned_fail), since the process named
  in it (`fidele worker` names itself host:pid:nonce) is gone.

At start and after each outage it runs the apps' startup jobs (recovering what a killed worker
left) and queues their recurring jobs again (a chain broken by the outage starts again).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, connections
from django_tasks_db.compat import TaskContext, task_finished, task_started
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from fidele.core.claims import claimer_name
from fidele.core.tasks import recurring_jobs_start, tasks_orphaned_fail, worker_startup_run

logger = logging.getLogger("fidele.worker")

FIRST_RETRY_SECONDS = 0.5


def _close_connections() -> None:
    for connection in connections.all(initialized_only=True):
        try:
            connection.close()
        except DatabaseError:
            connection.connection = None  # broken beyond closing: the next query opens anew


def _database_answers() -> None:
    """Raises DatabaseError unless every configured database answers a trivial query."""
    for connection in connections.all():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")


def outage_reason(exc: BaseException) -> str:
    """The error's class and first line: what an operator needs, without connection details
    beyond what the driver prints (never the password, which drivers do not echo)."""
    first_line = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__


class ResilientWorker(Worker):
    def __init__(self, *, backoff_max: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.backoff_max = max(backoff_max, FIRST_RETRY_SECONDS)
        self.prepared = False
        # Results the database refused to take: (row, succeeded, return value or exception).
        self.unsaved: list[tuple[DBTaskResult, bool, Any]] = []

    def prepare(self) -> None:
        """At start and after an outage: recover, then (re)start the recurring jobs."""
        tasks_orphaned_fail()
        worker_startup_run()
        recurring_jobs_start(delay=timedelta(seconds=5))

    def run(self) -> None:
        while self.running:
            try:
                self._save_unsaved()
                if not self.prepared:
                    self.prepare()
                    self.prepared = True
                super().run()
                return
            except DatabaseError as exc:
                if not self.running:
                    return
                self.wait_for_database(exc)

    def wait_for_database(self, exc: BaseException) -> None:
        """Close what is broken and try again, less and less often (capped), until the database
        answers. Logged once when it starts and once when it ends, not at each try."""
        logger.error(
            "database unavailable (%s): the worker keeps trying, at most every %ss",
            outage_reason(exc),
            self.backoff_max,
        )
        started = time.monotonic()
        delay = FIRST_RETRY_SECONDS
        while self.running:
            _close_connections()
            time.sleep(delay)
            try:
                _database_answers()
                self._save_unsaved()
            except DatabaseError:
                delay = min(delay * 2, self.backoff_max)
                continue
            logger.warning(
                "database back after %.1fs: the worker goes on", time.monotonic() - started
            )
            self.prepared = False
            return

    def _save_unsaved(self) -> None:
        while self.unsaved:
            row, succeeded, value = self.unsaved[0]
            self._record(row, succeeded, value, retrying=True)
            self.unsaved.pop(0)

    def _record(self, row: DBTaskResult, succeeded: bool, value: Any, retrying=False) -> None:
        try:
            if succeeded:
                try:
                    row.set_successful(value)
                except DatabaseError:
                    raise
                except Exception as exc:  # noqa: BLE001 - e.g. a return value JSON cannot hold
                    succeeded, value = False, exc
                    row.set_failed(exc)
            else:
                row.set_failed(value)
        except DatabaseError:
            if not retrying:
                logger.warning("task %s finished; its result waits for the database", row.id)
                self.unsaved.append((row, succeeded, value))
            raise
        try:
            task_finished.send(sender=type(row.task.get_backend()), task_result=row.task_result)
        except Exception:  # noqa: BLE001 - a receiver's error is not the task's
            logger.exception("task %s: task_finished receiver failed", row.id)

    def run_task(self, db_task_result: DBTaskResult) -> None:
        """django-tasks-db's run_task, except that the task's outcome and saving it are kept
        apart: a result the database refuses is kept (see `unsaved`), not turned into a failure
        of the task."""
        try:
            self.running_task = True
            try:
                task = db_task_result.task
                task_result = db_task_result.task_result
                task_started.send(sender=type(task.get_backend()), task_result=task_result)
                if task.takes_context:
                    value = task.call(
                        TaskContext(task_result=task_result),
                        *task_result.args,
                        **task_result.kwargs,
                    )
                else:
                    value = task.call(*task_result.args, **task_result.kwargs)
            except BaseException as exc:  # noqa: BLE001 - recorded as the task's failure
                self._record(db_task_result, False, exc)
            else:
                self._record(db_task_result, True, value)
        finally:
            self.running_task = False
            self._run_tasks += 1


class Command(BaseCommand):
    help = "Run the background worker that executes queued tasks (imports, sends, reports)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--queues", default="*", help="Comma-separated queues to serve (default: all)."
        )
        parser.add_argument(
            "--batch", action="store_true", help="Run what is queued now, then exit."
        )
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between polls.")

    def handle(self, *args, queues: str, batch: bool, interval: float, **options):
        # django-tasks-db's own logger, as its db_worker command sets it up.
        tasks_logger = logging.getLogger("django_tasks_db")
        if options.get("verbosity", 1) >= 1 and not tasks_logger.level:
            tasks_logger.setLevel(logging.INFO)
        worker = ResilientWorker(
            queue_names=queues.split(","),
            interval=interval,
            batch=batch,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            # Who runs a task, in the form fidele.core.claims can judge after a crash.
            worker_id=claimer_name(),
            excluded_queue_names=[],
            backoff_max=settings.WORKER_BACKOFF_MAX_SECONDS,
        )
        worker.configure_signals()
        worker.run()
