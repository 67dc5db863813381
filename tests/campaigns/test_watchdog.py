"""A campaign whose worker was killed mid-send is handed back to a sender by the watchdog."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from fidele.campaigns.selectors import campaigns_stalled
from fidele.campaigns.tasks import campaign_send, sending_watchdog, sending_watchdog_schedule
from fidele.delivery.models import OutboxMessage
from tests.factories import make_campaign

pytestmark = pytest.mark.django_db

QUIET = 120


def outbox(campaign, email, **fields):
    return OutboxMessage.objects.create(campaign=campaign, email=email, **fields)


def stalled(now=None):
    return campaigns_stalled(quiet_seconds=QUIET, lease_seconds=QUIET, now=now)


def test_a_sending_campaign_nobody_touched_for_a_while_is_stalled():
    now = timezone.now()
    campaign = make_campaign(status="sending")
    outbox(campaign, "a@example.com", status="sent", sent_at=now - timedelta(minutes=10))
    outbox(campaign, "b@example.com")
    assert stalled(now) == [campaign.pk]


def test_a_campaign_a_sender_is_working_on_is_not_stalled():
    now = timezone.now()
    campaign = make_campaign(status="sending")
    outbox(campaign, "a@example.com", status="sent", sent_at=now - timedelta(seconds=5))
    outbox(campaign, "b@example.com")
    assert stalled(now) == []


def test_a_row_claimed_by_a_dead_sender_is_due_once_its_lease_ran_out():
    now = timezone.now()
    campaign = make_campaign(status="sending")
    outbox(campaign, "a@example.com", status="claimed", claimed_at=now - timedelta(seconds=30))
    assert stalled(now) == []
    assert stalled(now + timedelta(minutes=5)) == [campaign.pk]


def test_rows_waiting_for_a_later_retry_or_for_the_ab_winner_are_not_due():
    now = timezone.now()
    campaign = make_campaign(status="sending")
    outbox(campaign, "a@example.com", next_attempt_at=now + timedelta(minutes=10))
    outbox(campaign, "b@example.com", status="held")
    assert stalled(now) == []


def test_paused_and_finished_campaigns_are_left_alone():
    paused = make_campaign(status="paused")
    outbox(paused, "a@example.com")
    sent = make_campaign(status="sent", name="Done")
    outbox(sent, "b@example.com")
    assert stalled() == []


def test_the_watchdog_enqueues_a_sender_for_each_stalled_campaign_and_comes_back():
    campaign = make_campaign(status="sending")
    outbox(campaign, "a@example.com")
    assert sending_watchdog.call() == [campaign.pk]
    waiting = DBTaskResult.objects.filter(status="READY")
    sends = waiting.filter(task_path=campaign_send.module_path)
    assert [task.args_kwargs["args"] for task in sends] == [[campaign.pk]]
    assert waiting.filter(task_path=sending_watchdog.module_path).count() == 1


def test_only_one_watchdog_waits_however_many_workers_start():
    assert sending_watchdog_schedule() is True
    assert sending_watchdog_schedule() is False
    assert DBTaskResult.objects.filter(task_path=sending_watchdog.module_path).count() == 1
