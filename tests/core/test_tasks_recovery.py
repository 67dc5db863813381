"""A task run left RUNNING by a worker that is gone is marked failed when a worker starts."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from fidele.core.claims import claimer_name
from fidele.core.tasks import tasks_orphaned_fail, worker_startup_register, worker_startup_run
from tests.core.worker_tasks import touch


def running_row(worker_id: str) -> DBTaskResult:
    result = touch.enqueue("/nonexistent")
    row = DBTaskResult.objects.get(pk=result.id)
    row.claim(worker_id)
    return row


@pytest.mark.django_db
def test_a_run_whose_worker_process_is_gone_is_marked_failed_and_others_are_left():
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = claimer_name().split(":")[0]
    orphan = running_row(f"{host}:{dead.pid}:abcd")
    alive = running_row(f"{host}:{os.getppid()}:abcd")
    elsewhere = running_row("otherhost:123:abcd")

    assert tasks_orphaned_fail() == 1

    orphan.refresh_from_db()
    assert orphan.status == TaskResultStatus.FAILED
    assert orphan.exception_class_path == "fidele.core.tasks.WorkerGone"
    for row in (alive, elsewhere):
        row.refresh_from_db()
        assert row.status == TaskResultStatus.RUNNING


@pytest.mark.django_db
def test_a_failing_startup_job_does_not_keep_the_others_from_running():
    ran = []

    def broken():
        raise RuntimeError("boom")

    worker_startup_register("test-a-broken", broken)
    worker_startup_register("test-b-fine", lambda: ran.append(1) or "ok")
    try:
        assert worker_startup_run()["test-b-fine"] == "ok"
        assert ran == [1]
    finally:
        from fidele.core import tasks

        tasks._startup_jobs.pop("test-a-broken")
        tasks._startup_jobs.pop("test-b-fine")


@pytest.mark.django_db
def test_a_result_the_database_refuses_is_kept_and_saved_as_it_was_once_it_answers(
    monkeypatch, tmp_path
):
    from django.db import OperationalError

    from fidele.core.management.commands.worker import ResilientWorker

    marker = str(tmp_path / "ran")
    row = DBTaskResult.objects.get(pk=touch.enqueue(marker).id)
    row.claim("worker")
    worker = ResilientWorker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="worker",
        excluded_queue_names=[],
        backoff_max=0.5,
    )
    save = DBTaskResult.save

    def refused(self, *args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(DBTaskResult, "save", refused)
    with pytest.raises(OperationalError):
        worker.run_task(row)
    assert len(worker.unsaved) == 1

    monkeypatch.setattr(DBTaskResult, "save", save)
    worker._save_unsaved()

    row.refresh_from_db()
    assert row.status == TaskResultStatus.SUCCESSFUL  # the task's success, not the outage
    assert row.return_value == marker
    assert worker.unsaved == []
