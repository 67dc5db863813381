"""Imports whose worker is gone are marked interrupted; uploads are not kept for ever."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from fidele.core.claims import claimer_name
from fidele.core.models import AuditLog
from fidele.core.tasks import recurring_jobs, worker_startup_run
from fidele.imports import services
from fidele.imports.models import ImportJob
from fidele.imports.runner import LEASE_SECONDS, importjobs_recover, uploads_retention

pytestmark = pytest.mark.django_db


def uploaded(marketer, content="email\na@x.fr\nb@x.fr\n") -> ImportJob:
    job = services.importjob_upload(
        kind="contacts",
        uploaded_file=SimpleUploadedFile("clients.csv", content.encode()),
        actor=marketer,
    )
    services.importjob_configure(job=job)
    return job


def running(job: ImportJob, *, claimed_by: str, heartbeat_age: float = 0, rows: int = 1) -> None:
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.RUNNING,
        started_at=timezone.now(),
        claimed_by=claimed_by,
        heartbeat_at=timezone.now() - timedelta(seconds=heartbeat_age),
        rows_done=rows,
        summary={"rows": rows, "created": rows, "updated": 0, "merged": 0, "rejected": 0},
    )


def dead_claimer() -> str:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return f"{claimer_name().split(':')[0]}:{process.pid}:abcd"


def test_the_imports_app_registers_its_recovery_and_retention_jobs():
    assert {"imports-recover", "imports-uploads-retention"} <= set(recurring_jobs())


def test_a_worker_starting_marks_interrupted_the_import_of_a_process_that_is_gone(marketer):
    job = uploaded(marketer)
    running(job, claimed_by=dead_claimer(), rows=1)

    assert worker_startup_run()["imports-recover"] == [job.pk]

    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert job.error.startswith("Interrupted after 1 row (")  # in agreement with its number
    assert (job.summary["rows"], job.summary["created"]) == (1, 1)
    assert job.claimed_by == "" and job.finished_at
    assert Path(job.stored_path).is_file()
    entry = AuditLog.objects.get(object_type="imports.importjob", object_id=str(job.pk))
    assert entry.changes["interrupted"] is True


def test_a_lease_not_renewed_is_expired_and_a_live_one_is_left_alone(marketer):
    elsewhere, alive = uploaded(marketer), uploaded(marketer)
    running(elsewhere, claimed_by="otherhost:1:abcd", heartbeat_age=LEASE_SECONDS + 5)
    running(alive, claimed_by=f"{claimer_name().split(':')[0]}:{os.getppid()}:abcd")

    assert importjobs_recover() == [elsewhere.pk]
    alive.refresh_from_db()
    assert alive.status == ImportJob.Status.RUNNING


def test_a_failed_import_can_be_retried_or_its_file_deleted_from_its_page(
    marketer_client, marketer, settings
):
    settings.TASKS = {
        "default": {
            "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
            "QUEUES": ["default", "imports"],
        }
    }
    job = uploaded(marketer)
    running(job, claimed_by=dead_claimer())
    importjobs_recover()

    # The pages are in French, the default language.
    page = marketer_client.get(f"/imports/{job.pk}/").content.decode()
    assert "Importer à nouveau le fichier" in page and "Supprimer le fichier" in page

    response = marketer_client.post(f"/imports/{job.pk}/retry/")
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert job.summary["created"] == 2
    assert not Path(job.stored_path).exists()

    other = uploaded(marketer)
    running(other, claimed_by=dead_claimer())
    importjobs_recover()
    marketer_client.post(f"/imports/{other.pk}/discard/")
    other.refresh_from_db()
    assert other.status == ImportJob.Status.FAILED and other.upload_deleted_at
    assert not Path(other.stored_path).exists()
    page = marketer_client.get(f"/imports/{other.pk}/").content.decode()
    assert "Importer à nouveau" not in page and "a été supprimé le" in page


def test_uploads_not_started_or_failed_are_deleted_after_the_retention_days(marketer, settings):
    settings.IMPORT_UPLOAD_RETENTION_DAYS = 7
    old = timezone.now() - timedelta(days=8)
    waiting, fresh, failed = uploaded(marketer), uploaded(marketer), uploaded(marketer)
    ImportJob.objects.filter(pk=waiting.pk).update(created_at=old)
    ImportJob.objects.filter(pk=failed.pk).update(
        status=ImportJob.Status.FAILED, started_at=old, finished_at=old, error="boom"
    )

    assert sorted(uploads_retention()) == sorted([waiting.pk, failed.pk])

    for job in (waiting, failed):
        job.refresh_from_db()
        assert job.status == ImportJob.Status.FAILED and job.upload_deleted_at
        assert not Path(job.stored_path).exists()
    assert "Not started within 7 days" in waiting.error
    assert failed.error == "boom"
    fresh.refresh_from_db()
    assert fresh.status == ImportJob.Status.UPLOADED and Path(fresh.stored_path).is_file()
    assert AuditLog.objects.filter(action=AuditLog.Action.DELETE).count() == 2
    assert uploads_retention() == []


def test_the_preview_says_when_an_unconfirmed_upload_will_be_deleted(marketer_client, marketer):
    job = uploaded(marketer)
    page = marketer_client.get(f"/imports/{job.pk}/preview/").content.decode()
    assert "le fichier sera alors supprimé" in page


def test_the_error_of_an_interrupted_import_reads_in_the_language_of_who_looks(
    marketer, marketer_client, settings
):
    from html import unescape

    from django.urls import reverse

    job = uploaded(marketer)  # configured in English (the tests' language)
    running(job, claimed_by=dead_claimer(), rows=1200)
    worker_startup_run()
    job.refresh_from_db()
    assert job.error.startswith("Interrupted after 1,200 rows")

    page = unescape(marketer_client.get(reverse("imports:detail", args=[job.pk])).content.decode())
    assert "Interrompu après 1\u202f200 lignes" in page
    assert "Interrupted" not in page


def test_the_error_of_an_upload_deleted_unstarted_reads_in_the_language_of_who_looks(
    marketer, marketer_client, settings
):
    from html import unescape

    from django.urls import reverse

    job = uploaded(marketer)
    uploads_retention(
        now=timezone.now() + timedelta(days=settings.IMPORT_UPLOAD_RETENTION_DAYS + 1)
    )
    job.refresh_from_db()
    assert job.error.startswith("Not started within")

    page = unescape(marketer_client.get(reverse("imports:detail", args=[job.pk])).content.decode())
    assert "Not started" not in page


def test_rejected_rows_and_warnings_files_are_deleted_after_their_retention(
    marketer_client, settings, tmp_path
):
    from fidele.imports.services import import_file

    settings.IMPORT_REPORT_RETENTION_DAYS = 30
    path = tmp_path / "clients.csv"
    path.write_text("email;téléphone\na@x.fr;12\nnot-an-email;\n", encoding="utf-8")
    summary = import_file(kind="contacts", path=path)
    files = [Path(summary["rejected_file"]), Path(summary["warnings_file"])]
    assert all(file.is_file() for file in files)

    uploads_retention(now=timezone.now() + timedelta(days=29))
    assert all(file.is_file() for file in files)
    uploads_retention(now=timezone.now() + timedelta(days=31))

    assert not any(file.exists() for file in files)
    job = ImportJob.objects.get()
    assert job.summary["rejected"] == 1 and job.summary["rejected_file"] is None
    assert job.rejected_path == ""
    page = marketer_client.get(f"/imports/{job.pk}/").content.decode()
    assert "ont été supprimés le" in page
    assert marketer_client.get(f"/imports/{job.pk}/rejected.csv").status_code == 404
    assert AuditLog.objects.filter(action=AuditLog.Action.DELETE).count() == 1
    assert uploads_retention(now=timezone.now() + timedelta(days=60)) == []


def test_a_retention_of_one_day_is_said_in_the_singular(marketer, settings):
    settings.IMPORT_UPLOAD_RETENTION_DAYS = 1
    waiting = uploaded(marketer)
    ImportJob.objects.filter(pk=waiting.pk).update(created_at=timezone.now() - timedelta(days=2))

    assert uploads_retention() == [waiting.pk]

    waiting.refresh_from_db()
    assert waiting.error.startswith("Not started within 1 day of its upload")
