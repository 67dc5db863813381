from __future__ import annotations

import email
import email.policy
import os
import subprocess
from datetime import timedelta

import pytest
from django.db import models
from django.utils import timezone, translation

from fidele.campaigns.models import Campaign
from fidele.campaigns.sending import CampaignContent, SendError, campaign_start
from fidele.compliance.models import Suppression
from fidele.delivery import engine
from fidele.delivery.engine import (
    RateLimiter,
    Sender,
    TokenBucket,
    retry_delay,
)
from fidele.delivery.models import OutboxMessage
from fidele.delivery.store import DjangoSendStore, claimer_is_gone, claimer_name
from fidele.delivery.transports import SMTPTransport
from fidele.tracking.hits import hits_drain
from fidele.tracking.models import EmailEvent
from fidele.tracking.tokens import token_read
from tests.factories import make_audience, make_campaign, make_contact, make_list

pytestmark = pytest.mark.django_db


def started(count=5, **fields):
    campaign = make_campaign(lists=[make_audience(count)], **fields)
    campaign_start(campaign_id=campaign.pk)
    return campaign


def smtp_sender(sink, **options):
    options.setdefault("concurrency", 1)
    return Sender(
        transport_factory=lambda: SMTPTransport(host="127.0.0.1", port=sink.port, timeout=5),
        **options,
    )


def rows(campaign):
    return OutboxMessage.objects.filter(campaign=campaign).order_by("id")


def test_it_sends_every_recipient_once_through_one_connection_and_records_it(smtp_sink):
    campaign = started(12)
    summary = smtp_sender(smtp_sink, batch_size=50).run(CampaignContent(campaign.pk))
    assert summary.sent == 12 and summary.finished
    assert sorted(smtp_sink.recipients()) == sorted(rows(campaign).values_list("email", flat=True))
    assert len(smtp_sink.sessions) == 1
    for row in rows(campaign):
        assert row.status == "sent" and row.sent_at and row.attempts == 1
        assert row.message_id.startswith(f"<fidele.{campaign.pk}.{row.pk}.")
        assert row.claimed_by == ""
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT and campaign.finished_at


def test_each_recipient_gets_their_own_personalised_message_and_links(smtp_sink, settings):
    settings.BASE_URL = "https://cave.example"
    campaign = started(2)
    smtp_sender(smtp_sink).run(CampaignContent(campaign.pk))
    by_rcpt = {m.rcpt_tos[0]: m for m in smtp_sink.messages}
    row = rows(campaign).first()
    message = email.message_from_bytes(by_rcpt[row.email].content, policy=email.policy.default)
    assert message["Subject"] == f"Bonjour {row.contact.first_name}"
    url = message["List-Unsubscribe"].split(">")[0].lstrip("<")
    token = url.removeprefix("https://cave.example/t/u/").rstrip("/")
    assert token_read(purpose="unsubscribe", token=token) == row.pk
    assert url in message.get_body(("html",)).get_content()


def test_a_temporary_failure_is_retried_later_with_back_off(smtp_sink):
    campaign = started(3)
    first = rows(campaign).first()
    smtp_sink.rcpt_replies[first.email] = "451 4.7.1 Greylisted, try later"
    before = timezone.now()
    summary = smtp_sender(smtp_sink, retry_base=60).run(CampaignContent(campaign.pk))
    assert summary.sent == 2 and summary.retried == 1 and not summary.finished
    first.refresh_from_db()
    assert first.status == "queued" and first.attempts == 1
    assert "451 4.7.1 Greylisted" in first.error
    assert before + timedelta(seconds=59) < first.next_attempt_at < before + timedelta(seconds=62)
    # Not due yet: another run sends nothing.
    assert smtp_sender(smtp_sink).run(CampaignContent(campaign.pk)).sent == 0


def test_a_retried_message_goes_out_once_the_server_accepts_it(smtp_sink):
    campaign = started(2)
    first = rows(campaign).first()
    smtp_sink.rcpt_replies[first.email] = "421 4.3.2 Busy"
    sender = smtp_sender(smtp_sink, retry_base=0.05, poll_seconds=0.05)

    def accept_later(outcome):
        smtp_sink.rcpt_replies.clear()

    sender.on_result = accept_later
    summary = sender.run(CampaignContent(campaign.pk), wait=True)
    assert summary.finished
    first.refresh_from_db()
    assert first.status == "sent" and first.attempts == 2
    assert sorted(smtp_sink.recipients()) == sorted(rows(campaign).values_list("email", flat=True))


def test_back_off_doubles_and_is_capped():
    assert [retry_delay(n, base=60) for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert retry_delay(30, base=60) == engine.RETRY_MAX_SECONDS


def test_a_temporary_failure_becomes_final_after_the_last_attempt(smtp_sink):
    campaign = started(1)
    row = rows(campaign).get()
    smtp_sink.rcpt_replies[row.email] = "452 4.2.2 Mailbox full"
    smtp_sender(smtp_sink, max_attempts=2, retry_base=0.01, poll_seconds=0.02).run(
        CampaignContent(campaign.pk), wait=True
    )
    row.refresh_from_db()
    assert row.status == "failed" and row.attempts == 2 and "Mailbox full" in row.error
    campaign.refresh_from_db()
    assert campaign.status == "sent"


def test_a_permanent_failure_is_recorded_with_the_servers_reply(smtp_sink):
    campaign = started(3)
    row = rows(campaign).first()
    smtp_sink.rcpt_replies[row.email] = "550 5.1.1 User unknown"
    summary = smtp_sender(smtp_sink).run(CampaignContent(campaign.pk))
    row.refresh_from_db()
    assert row.status == "failed" and row.error == "550 5.1.1 User unknown"
    assert summary.failed == 1 and summary.sent == 2 and summary.finished


def test_too_many_errors_pause_the_campaign_with_the_reason(smtp_sink):
    campaign = started(40)
    for row in rows(campaign):
        smtp_sink.rcpt_replies[row.email] = "554 5.7.1 Sender blocked"
    with translation.override("en"):
        summary = smtp_sender(smtp_sink, batch_size=100).run(CampaignContent(campaign.pk))
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert "20 of the last 20 messages failed" in campaign.status_reason
    assert "554 5.7.1 Sender blocked" in campaign.status_reason
    assert summary.failed == engine.ERROR_MIN_ATTEMPTS
    # What was not tried is back in the queue for when the marketer resumes.
    assert rows(campaign).filter(status="queued").count() == 20
    assert not rows(campaign).filter(status="claimed").exists()


def test_an_address_suppressed_after_the_snapshot_is_skipped(smtp_sink):
    campaign = started(3)
    row = rows(campaign).first()
    Suppression.objects.create(email=row.email, reason="complaint")
    summary = smtp_sender(smtp_sink).run(CampaignContent(campaign.pk))
    row.refresh_from_db()
    assert row.status == "skipped" and row.error == "suppressed: complaint"
    assert row.email not in smtp_sink.recipients()
    assert summary.skipped == 1 and summary.sent == 2


def test_a_paused_campaign_sends_nothing_and_a_cancelled_one_skips_the_rest(smtp_sink):
    campaign = started(3)
    Campaign.objects.filter(pk=campaign.pk).update(status="paused")
    assert smtp_sender(smtp_sink).run(CampaignContent(campaign.pk)).sent == 0
    Campaign.objects.filter(pk=campaign.pk).update(status="sending")
    sender = smtp_sender(smtp_sink, batch_size=1)

    def cancel_after_first(outcome):
        Campaign.objects.filter(pk=campaign.pk).update(status="cancelled")

    sender.on_result = cancel_after_first
    assert sender.run(CampaignContent(campaign.pk)).sent == 1
    assert rows(campaign).filter(status="skipped", error="campaign cancelled").count() == 2
    assert len(smtp_sink.messages) == 1


def test_rows_claimed_by_a_dead_sender_on_this_machine_go_back_to_the_queue():
    campaign = started(3)
    dead = subprocess.Popen(["true"])
    dead.wait()
    dead_name = claimer_name().split(":")[0] + f":{dead.pid}:abcd"
    alive_elsewhere = "otherhost0000000:1:abcd"
    first, second, third = rows(campaign)
    now = timezone.now()
    OutboxMessage.objects.filter(pk=first.pk).update(
        status="claimed", claimed_by=dead_name, claimed_at=now
    )
    OutboxMessage.objects.filter(pk=second.pk).update(
        status="claimed", claimed_by=alive_elsewhere, claimed_at=now
    )
    OutboxMessage.objects.filter(pk=third.pk).update(
        status="claimed",
        claimed_by=alive_elsewhere,
        claimed_at=now - timedelta(seconds=engine.LEASE_SECONDS + 1),
    )
    assert DjangoSendStore().claims_recover(campaign_id=campaign.pk) == 2
    statuses = dict(rows(campaign).values_list("id", "status"))
    assert statuses == {first.pk: "queued", second.pk: "claimed", third.pk: "queued"}


def test_a_live_process_is_not_taken_for_a_dead_one():
    mine = f"{claimer_name().split(':')[0]}:{os.getppid()}:abcd"
    assert not claimer_is_gone(mine)
    assert not claimer_is_gone("garbage")


def test_the_token_bucket_lets_a_burst_through_then_paces():
    now = [0.0]
    bucket = TokenBucket(rate=10, capacity=10, clock=lambda: now[0])
    assert [bucket.reserve() for _ in range(10)] == [0.0] * 10
    assert bucket.reserve() == pytest.approx(0.1)
    assert bucket.reserve() == pytest.approx(0.2)
    now[0] = 1.0  # one second later: ten tokens back, two of them already promised
    assert bucket.reserve() == 0.0


def test_the_rate_limiter_honours_both_the_second_and_the_hour_limits():
    now, slept = [0.0], []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(per_second=5, per_hour=360, clock=lambda: now[0], sleep=sleep)
    for _ in range(60):
        limiter.acquire()
    # 360/hour is 0.1/s with a minute's worth (6) saved up: 60 messages take ~540 s, not 12.
    assert now[0] == pytest.approx(540, rel=0.01)
    assert limiter.messages_per_second == pytest.approx(0.1)
    assert RateLimiter().acquire() == 0.0


def test_a_rate_limited_sender_claims_small_batches():
    sender = Sender(limiter=RateLimiter(per_second=1), batch_size=500, concurrency=1)
    assert sender._batch_limit() == engine.LEASE_SECONDS // 4
    assert Sender(limiter=RateLimiter(), batch_size=500, concurrency=1)._batch_limit() == 500


def test_a_template_error_stops_the_start_before_anything_is_queued():
    campaign = make_campaign(lists=[make_audience(2)], body="<p>{% if %}</p>")
    with pytest.raises(SendError, match="body"):
        campaign_start(campaign_id=campaign.pk)
    assert not OutboxMessage.objects.filter(campaign=campaign).exists()
    campaign.refresh_from_db()
    assert campaign.status == "draft"


def test_a_campaign_scheduled_for_later_is_not_started_early():
    campaign = make_campaign(
        lists=[make_audience(1)],
        status="scheduled",
        scheduled_at=timezone.now() + timedelta(hours=1),
    )
    with translation.override("en"), pytest.raises(SendError, match="scheduled"):
        campaign_start(campaign_id=campaign.pk)
    later = timezone.now() + timedelta(hours=2)
    assert campaign_start(campaign_id=campaign.pk, now=later) == 1


def test_starting_twice_is_harmless():
    campaign = started(3)
    assert campaign_start(campaign_id=campaign.pk) == 3
    assert rows(campaign).count() == 3


def test_the_capture_transport_feeds_the_outbox_page(settings):
    from fidele.delivery.models import CapturedMessage

    settings.EMAIL_TRANSPORT = {"kind": "capture"}
    news = make_list("news")
    make_contact("alice@example.com", lists=[news], first_name="Alice")
    campaign = make_campaign(lists=[news])
    campaign_start(campaign_id=campaign.pk)
    Sender(concurrency=1).run(CampaignContent(campaign.pk))
    captured = CapturedMessage.objects.get()
    assert captured.recipients == ["alice@example.com"]
    assert captured.subject == "Bonjour Alice"
    assert captured.campaign_id == campaign.pk
    assert captured.outbox_id == rows(campaign).get().pk


@pytest.mark.django_db(transaction=True)
def test_concurrent_connections_share_the_work_without_sending_anyone_twice(smtp_sink):
    from django.db import connection

    if connection.vendor == "sqlite":
        pytest.skip(
            "SQLite's in-memory test database (shared cache) fails on table locks instead of "
            "waiting; test_crash.py runs concurrent senders on a file SQLite database"
        )
    campaign = started(60)
    smtp_sink.delay = 0.002
    summary = smtp_sender(smtp_sink, concurrency=3, batch_size=7).run(CampaignContent(campaign.pk))
    assert summary.sent == 60 and summary.finished
    received = smtp_sink.recipients()
    assert len(received) == 60 and len(set(received)) == 60
    assert len(smtp_sink.sessions) == 3


class RecordingCheckTransport:
    """Accepts everything, and checks at each delivery that every earlier message is recorded."""

    name = "check"

    def __init__(self):
        self.delivered = []
        self.unrecorded_at_delivery = []

    def open(self):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def send(self, message):
        from fidele.delivery.journal import journal_records, journals_left

        recorded = set(OutboxMessage.objects.filter(status="sent").values_list("id", flat=True))
        for _claimer, path in journals_left():  # recorded, not yet copied to the table
            recorded |= {record[0] for record in journal_records(path) if record[1] == "sent"}
        self.unrecorded_at_delivery.append(len(set(self.delivered) - recorded))
        self.delivered.append(message.outbox_id)
        from fidele.delivery.transports import TransportResult

        return TransportResult.ok(message.message_id)


@pytest.mark.django_db(transaction=True)
def test_no_message_is_delivered_while_an_earlier_result_is_still_unrecorded():
    campaign = started(40)
    transport = RecordingCheckTransport()
    summary = Sender(transport_factory=lambda: transport, concurrency=1, batch_size=15).run(
        CampaignContent(campaign.pk)
    )
    assert summary.sent == 40 and summary.finished
    assert len(transport.delivered) == 40
    assert set(transport.unrecorded_at_delivery) == {0}


@pytest.mark.django_db(transaction=True)
def test_a_stopped_sender_puts_its_unsent_rows_back_in_the_queue():
    campaign = started(30)
    sender = Sender(transport_factory=CaptureTransportFactory(), concurrency=1, batch_size=30)
    sent = []

    def stop_after_ten(outcome):
        sent.append(outcome)
        if len(sent) == 10:
            sender.stop()

    sender.on_result = stop_after_ten
    summary = sender.run(CampaignContent(campaign.pk))
    assert summary.sent == 10 and not summary.finished
    counts = dict(
        OutboxMessage.objects.filter(campaign=campaign)
        .values_list("status")
        .annotate(n=models.Count("id"))
    )
    assert counts == {"sent": 10, "queued": 20}


def CaptureTransportFactory():
    from fidele.delivery.transports import CaptureTransport

    return CaptureTransport


def test_an_address_refused_as_unknown_is_recorded_as_a_hard_bounce_and_suppressed(smtp_sink):
    from fidele.delivery.models import BounceReport

    campaign = started(4)
    unknown, blocked, content, _ = rows(campaign)
    smtp_sink.rcpt_replies[unknown.email] = "550 5.1.1 <x>: Recipient address rejected"
    smtp_sink.rcpt_replies[blocked.email] = "550 5.7.1 Sender IP on a block list"
    smtp_sink.data_replies.append("554 5.6.0 Message content rejected")
    smtp_sender(smtp_sink).run(CampaignContent(campaign.pk))
    report = BounceReport.objects.get()
    assert (report.kind, report.source, report.email) == ("hard", "smtp", unknown.email)
    assert report.outbox_id == unknown.pk
    assert list(Suppression.objects.values_list("email", "reason")) == [
        (unknown.email, "hard_bounce")
    ]


def test_bounce_kinds_follow_the_reply_and_the_stage():
    from fidele.delivery.engine import bounce_kind
    from fidele.delivery.transports import TransportResult

    def refusal(error, permanent=True, at_rcpt=True):
        return TransportResult("", False, permanent, error, recipient_refused=at_rcpt)

    assert bounce_kind(refusal("550 5.1.1 No such user"), "failed") == "hard"
    assert bounce_kind(refusal("550 No such user here"), "failed") == "hard"
    assert bounce_kind(refusal("550 5.7.1 Blocked"), "failed") == ""
    assert bounce_kind(refusal("554 5.1.1 x", at_rcpt=False), "failed") == ""
    assert bounce_kind(refusal("452 4.2.2 Mailbox full", permanent=False), "queued") == ""
    assert bounce_kind(refusal("452 4.2.2 Mailbox full", permanent=False), "failed") == "soft"
    assert bounce_kind(TransportResult.ok("<id>"), "sent") == ""


@pytest.mark.django_db(transaction=True)
def test_when_results_cannot_be_recorded_the_sender_stops_before_the_next_delivery(
    smtp_sink, monkeypatch
):
    campaign = started(10)
    calls = []
    original = engine.ResultWriter.write

    def failing_write(self, *args):
        calls.append(args)
        if len(calls) == 3:
            raise RuntimeError("database gone")
        return original(self, *args)

    monkeypatch.setattr(engine.ResultWriter, "write", failing_write)
    with pytest.raises(RuntimeError, match="database gone"):
        smtp_sender(smtp_sink, batch_size=10).run(CampaignContent(campaign.pk))
    assert len(smtp_sink.messages) == 3  # the third is delivered, its result lost
    statuses = list(rows(campaign).values_list("status", flat=True))
    assert statuses.count("sent") == 2
    assert statuses.count("claimed") == 1  # recovered later, when its lease runs out
    assert statuses.count("queued") == 7


def test_the_links_in_a_sent_message_are_served_by_the_tracking_endpoints(client, settings):
    import re

    from fidele.delivery.models import CapturedMessage

    settings.EMAIL_TRANSPORT = {"kind": "capture"}
    settings.BASE_URL = "https://cave.example"
    news = make_list("news")
    make_contact("alice@example.com", lists=[news], first_name="Alice")
    campaign = make_campaign(
        lists=[news], body='<p>Voir <a href="https://shop.example/vins?x=1">nos vins</a></p>'
    )
    campaign_start(campaign_id=campaign.pk)
    Sender(concurrency=1).run(CampaignContent(campaign.pk))
    raw = bytes(CapturedMessage.objects.get().raw)
    html = email.message_from_bytes(raw, policy=email.policy.default).get_body(("html",))
    urls = re.findall(r'(?:href|src)="https://cave\.example(/t/[^"]+)"', html.get_content())
    click = next(url for url in urls if url.startswith("/t/c/"))
    response = client.get(click.replace("&amp;", "&"))
    assert response.status_code == 302
    assert response["Location"].startswith("https://shop.example/vins?x=1")
    pixel = next(url for url in urls if url.startswith("/t/o/"))
    assert client.get(pixel).status_code == 200
    unsubscribe = next(url for url in urls if url.startswith("/t/u/"))
    assert client.get(unsubscribe).status_code == 200
    # The invisible link, followed by a scanner: recorded as a machine's click, with why.
    trap = next(url for url in urls if url.startswith("/t/h/"))
    assert client.get(trap).status_code == 204
    hits_drain()
    assert EmailEvent.objects.filter(reason="honeypot", is_machine=True).count() == 1


def sent_html(campaign) -> list[str]:
    from fidele.delivery.models import CapturedMessage

    campaign_start(campaign_id=campaign.pk)
    Sender(concurrency=1).run(CampaignContent(campaign.pk))
    htmls = []
    for captured in CapturedMessage.objects.order_by("id"):
        message = email.message_from_bytes(bytes(captured.raw), policy=email.policy.default)
        htmls.append(message.get_body(("html",)).get_content())
    return htmls


def test_a_contact_who_asked_not_to_be_followed_gets_no_pixel_and_untracked_links(settings):
    settings.EMAIL_TRANSPORT = {"kind": "capture"}
    settings.BASE_URL = "https://cave.example"
    news = make_list("news")
    make_contact("alice@example.com", lists=[news])
    make_contact("bob@example.com", lists=[news], tracking_allowed=False)
    campaign = make_campaign(lists=[news], body='<p><a href="https://shop.example/">vins</a></p>')

    alice, bob = sent_html(campaign)

    assert "/t/o/" in alice and "/t/c/" in alice and "/t/h/" in alice
    assert "/t/o/" not in bob and "/t/c/" not in bob and "/t/h/" not in bob
    assert 'href="https://shop.example/?utm_source' in bob


@pytest.mark.parametrize("switch", ["list", "installation"])
def test_tracking_off_for_a_list_or_the_installation_leaves_every_message_untracked(
    settings, switch
):
    settings.EMAIL_TRANSPORT = {"kind": "capture"}
    settings.BASE_URL = "https://cave.example"
    news = make_list("news", tracking=switch != "list")
    settings.TRACKING_ENABLED = switch != "installation"
    make_contact("alice@example.com", lists=[news])
    campaign = make_campaign(lists=[news], body='<p><a href="https://shop.example/">vins</a></p>')

    (html,) = sent_html(campaign)

    assert "/t/" not in html.replace("/t/u/", "")  # only the unsubscribe link remains
