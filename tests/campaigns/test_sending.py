from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from fidele.campaigns import tasks
from fidele.campaigns.models import Campaign, Variant
from fidele.campaigns.sending import (
    CampaignContent,
    ab_winner_pick,
    campaign_finish,
    campaign_pause_for_errors,
    campaign_start,
)
from fidele.core.models import AuditLog
from fidele.delivery import selectors
from fidele.delivery.engine import Sender
from fidele.delivery.models import OutboxMessage
from fidele.delivery.transports import CaptureTransport
from fidele.tracking.models import EmailEvent
from fidele.tracking.tokens import token_make
from tests.factories import make_audience, make_campaign

pytestmark = pytest.mark.django_db


def ab_campaign(count=100):
    campaign = make_campaign(
        lists=[make_audience(count)], ab_enabled=True, ab_sample_percent=10, ab_metric="clicks"
    )
    a = Variant.objects.create(campaign=campaign, label="A", subject="Sujet A")
    b = Variant.objects.create(campaign=campaign, label="B", subject="Sujet B")
    return campaign, a, b


def click(row, *, machine=False, times=1):
    for _ in range(times):
        EmailEvent.objects.create(
            type="click", at=timezone.now(), campaign_id=row.campaign_id, contact_id=row.contact_id,
            outbox=row, is_machine=machine,
        )  # fmt: skip


def enqueued(task_name):
    return [
        (result.args_kwargs["args"][0], result.run_after, result.queue_name)
        for result in DBTaskResult.objects.filter(task_path__endswith=f".{task_name}")
    ]


def test_starting_an_ab_campaign_sends_the_samples_and_schedules_the_winner_pick(
    django_capture_on_commit_callbacks,
):
    campaign, a, b = ab_campaign()
    with django_capture_on_commit_callbacks(execute=True):
        tasks.campaign_start_now(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    run_after = campaign.started_at + timedelta(minutes=240)
    assert enqueued("ab_pick_winner") == [(campaign.pk, run_after, "sending")]
    summary = Sender(transport_factory=CaptureTransport, concurrency=1).run(
        CampaignContent(campaign.pk)
    )
    assert summary.sent == 20 and not summary.finished
    campaign.refresh_from_db()
    assert campaign.status == "sending"  # 80 recipients wait for the winner


def test_the_winner_is_picked_by_human_clicks_and_sent_to_everyone_held_back():
    campaign, a, b = ab_campaign()
    campaign_start(campaign_id=campaign.pk)
    Sender(transport_factory=CaptureTransport, concurrency=1).run(CampaignContent(campaign.pk))
    a_rows = list(OutboxMessage.objects.filter(campaign=campaign, variant=a))
    b_rows = list(OutboxMessage.objects.filter(campaign=campaign, variant=b))
    click(a_rows[0], times=5)  # one enthusiast counts once
    click(a_rows[1], machine=True)
    for row in a_rows[2:4]:
        click(row, machine=True)  # security scanners do not vote
    for row in b_rows[:2]:
        click(row)
    assert ab_winner_pick(campaign_id=campaign.pk) == b
    campaign.refresh_from_db()
    assert campaign.ab_winner == b and campaign.ab_decided_at
    held = OutboxMessage.objects.filter(campaign=campaign, status="held")
    assert not held.exists()
    assert OutboxMessage.objects.filter(campaign=campaign, variant=b).count() == 90
    summary = Sender(transport_factory=CaptureTransport, concurrency=1).run(
        CampaignContent(campaign.pk)
    )
    assert summary.sent == 80 and summary.finished
    # Picking again changes nothing.
    assert ab_winner_pick(campaign_id=campaign.pk) == b


def test_clicks_still_queued_when_the_winner_is_picked_count(client):
    campaign, a, b = ab_campaign(20)
    campaign_start(campaign_id=campaign.pk)
    row = OutboxMessage.objects.filter(campaign=campaign, variant=b).first()
    url = "https://cave-de-lea.fr/"
    token = token_make(purpose="click", subject_id=row.pk, extra=url)
    client.get(f"/t/c/{token}/?u={quote(url, safe='')}")  # not drained yet

    assert ab_winner_pick(campaign_id=campaign.pk) == b


def test_a_tie_goes_to_the_first_variant():
    campaign, a, b = ab_campaign(20)
    campaign_start(campaign_id=campaign.pk)
    assert ab_winner_pick(campaign_id=campaign.pk) == a


def test_the_progress_shows_counts_rate_and_time_left():
    campaign = make_campaign(lists=[make_audience(10)])
    campaign_start(campaign_id=campaign.pk)
    now = timezone.now()
    rows = list(OutboxMessage.objects.filter(campaign=campaign).order_by("id"))
    for row in rows[:6]:
        OutboxMessage.objects.filter(pk=row.pk).update(status="sent", sent_at=now)
    OutboxMessage.objects.filter(pk=rows[6].pk).update(status="failed")
    progress = selectors.campaign_progress(campaign_id=campaign.pk, now=now)
    assert progress["total"] == 10 and progress["sent"] == 6 and progress["failed"] == 1
    assert progress["remaining"] == 3 and progress["done"] == 7 and progress["percent"] == 70.0
    assert progress["rate_per_minute"] == 6.0
    assert progress["seconds_left"] == 30  # 3 left at 6 a minute


def test_the_engine_records_its_transitions_in_the_audit_log():
    campaign = make_campaign(lists=[make_audience(2)])
    campaign_start(campaign_id=campaign.pk)
    assert campaign_pause_for_errors(campaign_id=campaign.pk, reason="relay down")
    campaign.refresh_from_db()
    assert campaign.status == "paused" and campaign.status_reason == "relay down"
    assert not campaign_pause_for_errors(campaign_id=campaign.pk, reason="again")
    Campaign.objects.filter(pk=campaign.pk).update(status="sending")
    assert not campaign_finish(campaign_id=campaign.pk)  # rows still queued
    OutboxMessage.objects.filter(campaign=campaign).update(status="sent")
    assert campaign_finish(campaign_id=campaign.pk)
    changes = [
        log.changes["status"]
        for log in AuditLog.objects.filter(object_id=str(campaign.pk)).order_by("id")
    ]
    assert changes == [["draft", "sending"], ["sending", "paused"], ["sending", "sent"]]


def test_the_start_task_sends_a_scheduled_campaign_when_its_time_has_come(settings):
    settings.EMAIL_TRANSPORT = {"kind": "capture"}
    campaign = make_campaign(
        lists=[make_audience(3)], status="scheduled", scheduled_at=timezone.now()
    )
    tasks.campaign_start.call(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == "sent"
    assert OutboxMessage.objects.filter(campaign=campaign, status="sent").count() == 3


def test_a_scheduled_campaign_whose_template_fails_when_due_goes_back_to_draft_with_the_reason():
    campaign = make_campaign(
        lists=[make_audience(2)],
        status="scheduled",
        scheduled_at=timezone.now(),
        subject="Bonjour {{ contact.first_name | nonexistent_filter }}",
    )
    tasks.campaign_start.call(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == "draft"
    assert campaign.scheduled_at is None
    assert "nonexistent_filter" in campaign.status_reason
    assert not OutboxMessage.objects.filter(campaign=campaign).exists()
    entry = AuditLog.objects.filter(object_id=str(campaign.pk)).latest("id")
    assert entry.changes["status"] == ["scheduled", "draft"]


def test_a_scheduled_campaign_without_a_list_goes_back_to_draft_with_the_reason():
    campaign = make_campaign(status="scheduled", scheduled_at=timezone.now())
    tasks.campaign_start.call(campaign.pk)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.scheduled_at) == ("draft", None)
    assert "no list" in campaign.status_reason


def test_the_start_task_leaves_an_unscheduled_campaign_alone():
    campaign = make_campaign(lists=[make_audience(1)], status="cancelled")
    tasks.campaign_start.call(campaign.pk)
    assert not OutboxMessage.objects.filter(campaign=campaign).exists()


def test_the_send_task_comes_back_when_the_next_retry_is_due(settings):
    settings.EMAIL_TRANSPORT = {"kind": "capture"}
    campaign = make_campaign(lists=[make_audience(2)])
    campaign_start(campaign_id=campaign.pk)
    due = timezone.now() + timedelta(minutes=5)
    OutboxMessage.objects.filter(campaign=campaign).update(next_attempt_at=due)
    tasks.campaign_send.call(campaign.pk)
    assert enqueued("campaign_send") == [(campaign.pk, due, "sending")]


def test_the_send_task_comes_back_when_a_stale_claim_can_be_recovered(settings):
    from fidele.delivery.engine import LEASE_SECONDS

    settings.EMAIL_TRANSPORT = {"kind": "capture"}
    campaign = make_campaign(lists=[make_audience(2)])
    campaign_start(campaign_id=campaign.pk)
    claimed_at = timezone.now() - timedelta(seconds=10)
    OutboxMessage.objects.filter(campaign=campaign).update(
        status="claimed", claimed_by="otherhost0000000:1:abcd", claimed_at=claimed_at
    )
    tasks.campaign_send.call(campaign.pk)
    expected = claimed_at + timedelta(seconds=LEASE_SECONDS + 1)
    assert enqueued("campaign_send") == [(campaign.pk, expected, "sending")]


def test_a_test_send_goes_to_the_chosen_addresses_as_the_chosen_contact(settings):
    from fidele.campaigns.sending import message_send_test
    from fidele.delivery.models import CapturedMessage
    from tests.factories import make_contact, make_list

    settings.EMAIL_TRANSPORT = {"kind": "capture"}
    news = make_list("news")
    alice = make_contact("alice@example.com", lists=[news], first_name="Alice")
    campaign = make_campaign(lists=[news])
    ids = message_send_test(campaign=campaign, contact=alice, to=["me@shop.example", "boss@x.fr"])
    captured = list(CapturedMessage.objects.order_by("id"))
    assert [m.recipients for m in captured] == [["me@shop.example"], ["boss@x.fr"]]
    assert captured[0].subject == "[TEST] Bonjour Alice"
    assert captured[0].outbox_id is None and captured[0].campaign_id == campaign.pk
    assert len(set(ids)) == 2 and ids[0] == captured[0].message_id
    assert not OutboxMessage.objects.exists()
    # Without a contact, the defaults of the merge tags apply.
    message_send_test(campaign=campaign, to=["me@shop.example"])
    assert CapturedMessage.objects.order_by("-id").first().subject == "[TEST] Bonjour cher client"


def test_a_test_send_refused_by_the_server_says_why(smtp_sink, settings):
    from fidele.campaigns.sending import SendError, message_send_test

    settings.EMAIL_TRANSPORT = {"kind": "smtp", "host": "127.0.0.1", "port": smtp_sink.port}
    smtp_sink.rcpt_replies["typo@exmaple.com"] = "550 5.1.2 Bad destination domain"
    campaign = make_campaign(lists=[])
    with pytest.raises(SendError, match="5.1.2"):
        message_send_test(campaign=campaign, to=["typo@exmaple.com"])
    assert not AuditLog.objects.filter(action="other").exists()


def test_a_test_send_is_audited_by_the_service_whoever_calls_it(settings, owner):
    from fidele.campaigns.sending import message_send_test

    settings.EMAIL_TRANSPORT = {"kind": "capture"}
    campaign = make_campaign(lists=[])
    message_send_test(campaign=campaign, to=["me@shop.example"], actor=owner)
    audit = AuditLog.objects.get(action="other", object_id=str(campaign.pk))
    assert audit.actor == owner and audit.object_type == "campaigns.campaign"
    assert audit.changes == {"test_sent_to": ["me@shop.example"]}
    # Without a user (the command line, a task), it is recorded as the system's.
    message_send_test(campaign=campaign, to=["boss@x.fr"])
    latest = AuditLog.objects.filter(action="other").latest("id")
    assert latest.actor is None and latest.actor_label == "system"


def test_a_test_send_refused_half_way_audits_the_addresses_that_did_go_out(smtp_sink, settings):
    from fidele.campaigns.sending import SendError, message_send_test

    settings.EMAIL_TRANSPORT = {"kind": "smtp", "host": "127.0.0.1", "port": smtp_sink.port}
    smtp_sink.rcpt_replies["typo@exmaple.com"] = "550 5.1.2 Bad destination domain"
    campaign = make_campaign(lists=[])
    with pytest.raises(SendError):
        message_send_test(campaign=campaign, to=["me@shop.example", "typo@exmaple.com"])
    audit = AuditLog.objects.get(action="other", object_id=str(campaign.pk))
    assert audit.changes == {"test_sent_to": ["me@shop.example"]}
