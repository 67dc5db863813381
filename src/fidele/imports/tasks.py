"""Background work for imports: thin, takes the job's id and calls the service."""

from __future__ import annotations

from django_tasks import task

from fidele.imports import services


@task(queue_name="imports")
def run_import(job_id: int) -> None:
    services.importjob_run(job_id=job_id)
