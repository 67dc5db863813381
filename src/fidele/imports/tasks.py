"""Background work for imports: thin, takes the job's id and runs the import.

The task's path (fidele.imports.tasks.run_import) is stored with every queued run: keep it."""

from __future__ import annotations

from django_tasks import task

from fidele.imports.runner import importjob_run


@task(queue_name="imports")
def run_import(job_id: int) -> None:
    importjob_run(job_id=job_id)
