"""The background task: thin, takes the job id, runs the import once."""

from __future__ import annotations

import pytest

from fidele.core.models import AuditLog
from fidele.imports import services
from fidele.imports.models import ImportJob
from fidele.imports.tasks import run_import

pytestmark = pytest.mark.django_db

IMMEDIATE = {
    "default": {
        "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
        "QUEUES": ["default", "imports"],
    }
}


def test_the_task_runs_the_job_and_records_progress(settings, write_file, marketer):
    settings.TASKS = IMMEDIATE
    job = services.importjob_from_path(
        kind="contacts", path=write_file("email\na@x.fr\nb@x.fr\n"), actor=marketer
    )
    services.importjob_configure(job=job)

    run_import.enqueue(job.pk)

    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert (job.rows_done, job.summary["created"]) == (2, 2)
    assert job.started_at and job.finished_at


def test_a_task_delivered_twice_does_not_import_twice(settings, write_file, marketer):
    settings.TASKS = IMMEDIATE
    job = services.importjob_from_path(
        kind="contacts", path=write_file("email\na@x.fr\n"), actor=marketer
    )
    run_import.enqueue(job.pk)
    run_import.enqueue(job.pk)

    assert AuditLog.objects.filter(action="import").count() == 1
