"""Background work for imports: thin, takes the job's id and runs the import; and the two
recurring jobs that look after imports (recovery of interrupted ones, retention of uploads).

The task's path (fidele.imports.tasks.run_import) is stored with every queued run: keep it."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from fidele.core.tasks import task_schedule_next
from fidele.imports.runner import importjob_run, importjobs_recover, uploads_retention

RECOVER_EVERY = timedelta(minutes=1)
RETENTION_EVERY = timedelta(hours=1)


@task(queue_name="imports")
def run_import(job_id: int) -> None:
    importjob_run(job_id=job_id)


@task(queue_name="imports")
def imports_recover() -> list[int]:
    try:
        return importjobs_recover()
    finally:
        imports_recover_schedule()


def imports_recover_schedule(*, delay: timedelta = RECOVER_EVERY) -> bool:
    """Queue the next recovery unless one is already waiting; False when nothing was queued."""
    return task_schedule_next(imports_recover, delay=delay)


@task(queue_name="imports")
def uploads_retain() -> list[int]:
    try:
        return uploads_retention()
    finally:
        uploads_retention_schedule()


def uploads_retention_schedule(*, delay: timedelta = RETENTION_EVERY) -> bool:
    """Queue the next retention pass unless one is already waiting."""
    return task_schedule_next(uploads_retain, delay=delay)
