"""Kill -9 the worker mid-import: the import is marked interrupted, not left "running" for ever.

A real `fidele worker` subprocess runs an uploaded import against the test's own database (on
SQLite a file copy, copied back afterwards, as in tests/delivery/test_crash.py) and is killed
once rows are saved. A worker starting afterwards marks the job failed with its partial counts,
an audit entry and the uploaded file kept; importing it again completes it without duplicates.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from fidele.contacts.bulk_load import _search_indexes
from fidele.contacts.models import Contact, DeferredIndex
from fidele.core.models import AuditLog
from fidele.imports import services
from fidele.imports.models import ImportJob
from fidele.imports.runner import importjob_run
from tests.delivery.test_crash import copy_back, database_url

ROWS = 30_000


def rows_done(url: str, job_id: int) -> int:
    if connection.vendor == "postgresql":
        return ImportJob.objects.get(pk=job_id).rows_done
    with sqlite3.connect(url.removeprefix("sqlite:///"), timeout=20) as db:
        return db.execute(
            "SELECT rows_done FROM imports_importjob WHERE id = ?", [job_id]
        ).fetchone()[0]


def contacts_saved(url: str) -> int:
    if connection.vendor == "postgresql":
        return Contact.objects.count()
    with sqlite3.connect(url.removeprefix("sqlite:///"), timeout=20) as db:
        return db.execute("SELECT count(*) FROM contacts_contact").fetchone()[0]


# A worker whose first import, once it has written a batch (indexes set aside, rows in its
# one transaction), says so in a file and waits to be killed: nothing else shows that moment
# (SQLite's one writer is busy until the commit).
HELD_WORKER = """
import os, sys, time, pathlib, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fidele.config.settings")
django.setup()
from fidele.imports.contacts_engine import ContactImport
flush = ContactImport.flush
def held(self, batch):
    flush(self, batch)
    if self.counters.all_or_nothing:
        pathlib.Path(sys.argv[1]).write_text("written")
        time.sleep(600)
ContactImport.flush = held
from fidele.cli import main
main(["worker", "--interval", "0.1"])
"""


def wait_for(condition, timeout=120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("base", [0, 1], ids=["first import", "into a non-empty base"])
def test_an_import_killed_mid_file_is_marked_interrupted_and_importing_it_again_completes_it(
    tmp_path, settings, marketer, base
):
    """Into a non-empty base each batch is kept; a first import keeps all its rows or none,
    and never leaves the contacts without their search indexes."""
    for n in range(base):
        Contact.objects.create(email=f"before{n}@example.fr")
    indexes = _search_indexes()
    content = "email,first_name\n" + "".join(f"c{n}@example.fr,N{n}\n" for n in range(ROWS))
    job = services.importjob_upload(
        kind="contacts",
        uploaded_file=SimpleUploadedFile("clients.csv", content.encode()),
        actor=marketer,
    )
    services.importjob_configure(job=job, language="fr")
    services.importjob_start(job=job)
    url = database_url(tmp_path)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "FIDELE_DATA_DIR": str(tmp_path / "data"),
        "FIDELE_LOG_LEVEL": "ERROR",
    }
    mark = tmp_path / "first-batch-written"
    worker = subprocess.Popen(
        [sys.executable, "-c", HELD_WORKER, str(mark)]
        if not base
        else [sys.executable, "-m", "fidele", "worker", "--interval", "0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        if base:  # until a batch is saved
            wait_for(lambda: contacts_saved(url) > base or worker.poll() is not None)
        else:  # a first import saves nothing before its end
            wait_for(lambda: mark.exists() or worker.poll() is not None)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert worker.returncode == -signal.SIGKILL, worker.stderr.read().decode()
    assert rows_done(url, job.pk) < ROWS, "the import ended before the kill: make it longer"

    # A worker starting on this machine sees that the import's process is gone.
    restarted = subprocess.run(
        [sys.executable, "-m", "fidele", "worker", "--batch", "--queues", "default"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert restarted.returncode == 0, restarted.stderr.decode()
    copy_back(url)

    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    saved = Contact.objects.count() - base
    assert job.summary["interrupted"] is True
    if base:
        # In the user's language, numbers written as French writes them.
        done = f"{job.rows_done:,}".replace(",", "\u202f")
        assert job.error.startswith(f"Interrompu après {done} lignes")
        assert 0 < saved < ROWS
        assert 0 < job.summary["created"] <= saved  # the counts of the last heartbeat
    else:
        assert saved == 0 and job.summary["created"] == 0
        assert "aucune n’a été enregistrée" in job.error
    assert _search_indexes() == indexes and not DeferredIndex.objects.exists()
    for key in ("rows", "created", "updated", "merged", "rejected", "rejected_file", "seconds"):
        assert key in job.summary
    assert AuditLog.objects.filter(
        object_type="imports.importjob", object_id=str(job.pk), action=AuditLog.Action.IMPORT
    ).exists()
    run = DBTaskResult.objects.get(task_path="fidele.imports.tasks.run_import")
    assert run.status == TaskResultStatus.FAILED  # not left "running"
    assert os.path.isfile(job.stored_path)  # kept for a retry

    services.importjob_retry(job=job, actor=marketer)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.QUEUED
    summary = importjob_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE, job.error
    assert Contact.objects.count() == ROWS + base
    assert summary["created"] == ROWS - saved and summary["rejected"] == 0
    assert _search_indexes() == indexes and not DeferredIndex.objects.exists()
    assert not os.path.exists(job.stored_path) and job.upload_deleted_at
