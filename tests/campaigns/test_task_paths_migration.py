"""Migration campaigns 0002: runs of the sending tasks queued before they moved from
fidele.delivery.tasks to fidele.campaigns.tasks still run after the upgrade."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from fidele.campaigns import tasks
from tests.migrations import migrate

# The tests leave the database at their migration; every migration is applied after them.
pytestmark = pytest.mark.usefixtures("latest_schema_afterwards")

BEFORE = [("campaigns", "0001_initial")]
AFTER = [("campaigns", "0002_task_paths_from_delivery")]


def queued(path: str, *, status: str = "READY", **fields) -> DBTaskResult:
    return DBTaskResult.objects.create(
        task_path=path,
        status=status,
        args_kwargs={"args": [7], "kwargs": {}},
        queue_name="sending",
        backend_name="default",
        run_after=fields.pop("run_after", timezone.now()),
        **fields,
    )


@pytest.mark.django_db(transaction=True)
def test_sending_tasks_queued_under_the_old_paths_run_from_campaigns_after_the_upgrade():
    migrate(BEFORE)
    try:
        tomorrow = timezone.now() + timedelta(days=1)
        start = queued("fidele.delivery.tasks.campaign_start", run_after=tomorrow)
        winner = queued("fidele.delivery.tasks.ab_pick_winner", run_after=tomorrow)
        retry = queued("fidele.delivery.tasks.campaign_send")
        resume = queued("fidele.delivery.tasks.campaign_resume", status="RUNNING")
        watch = queued("fidele.delivery.tasks.sending_watchdog")
        done = queued("fidele.delivery.tasks.campaign_send", status="SUCCESSFUL")
        failed = queued("fidele.delivery.tasks.campaign_start", status="FAILED")
        other = queued("fidele.delivery.mailbox.bounces_poll")
    finally:
        migrate(AFTER)

    def reread(row):
        return DBTaskResult.objects.get(pk=row.pk)

    assert reread(start).task_path == "fidele.campaigns.tasks.campaign_start"
    assert reread(start).run_after == tomorrow  # still waits for its send time
    assert reread(start).task.func is tasks.campaign_start.func  # the worker can import it
    assert reread(winner).task.func is tasks.ab_pick_winner.func
    assert reread(retry).task.func is tasks.campaign_send.func
    assert reread(resume).task.func is tasks.campaign_resume.func
    assert reread(watch).task.func is tasks.sending_watchdog.func
    # Finished runs keep the path they ran under; other tasks are not touched.
    assert reread(done).task_path == "fidele.delivery.tasks.campaign_send"
    assert reread(failed).task_path == "fidele.delivery.tasks.campaign_start"
    assert reread(other).task_path == "fidele.delivery.mailbox.bounces_poll"


@pytest.mark.django_db(transaction=True)
def test_the_task_paths_migration_can_be_reversed():
    row = queued("fidele.campaigns.tasks.campaign_start")
    try:
        migrate(BEFORE)
        assert DBTaskResult.objects.get(pk=row.pk).task_path == (
            "fidele.delivery.tasks.campaign_start"
        )
    finally:
        migrate(AFTER)
    assert DBTaskResult.objects.get(pk=row.pk).task_path == "fidele.campaigns.tasks.campaign_start"
