from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from anymail.signals import AnymailTrackingEvent, tracking
from django.test import Client
from django.urls import include, path

from fidele.compliance.models import Suppression
from fidele.contacts.models import Contact, Subscription
from fidele.core.actors import Recipient
from fidele.core.models import AuditLog
from fidele.delivery import webhooks  # noqa: F401  (connects the receiver)
from fidele.delivery.models import BounceReport
from fidele.tracking.models import EmailEvent
from tests.factories import make_contact, make_outbox

pytestmark = pytest.mark.django_db

# The webhook URLs as the delivery app mounts them, without depending on its urls.py.
urlpatterns = [path("delivery/webhooks/", include("fidele.delivery.webhook_urls"))]


@pytest.fixture
def outbox():
    return make_outbox(
        make_contact("jean.martin@example.org", lists=["Newsletter"]), message_id="esp-4f1c2a9e"
    )


def send(**fields) -> None:
    fields.setdefault("timestamp", datetime(2024, 11, 12, 9, 15, tzinfo=UTC))
    tracking.send(sender=object(), event=AnymailTrackingEvent(**fields), esp_name="Brevo")


def test_a_bounced_event_is_a_hard_bounce_that_suppresses_the_address(outbox):
    send(
        event_type="bounced",
        message_id="esp-4f1c2a9e",
        recipient="jean.martin@example.org",
        reject_reason="bounced",
        mta_response="550 5.1.1 <jean.martin@example.org>: user unknown",
        esp_event={"event": "hard_bounce", "email": "jean.martin@example.org"},
    )
    report = BounceReport.objects.get()
    assert (report.kind, report.source, report.outbox_id) == ("hard", "webhook", outbox.pk)
    assert "user unknown" in report.diagnostic
    assert json.loads(report.raw)["event"]["event"] == "hard_bounce"
    assert Suppression.objects.get().reason == "hard_bounce"
    assert Contact.objects.get(pk=outbox.contact_id).status == "bounced"
    assert EmailEvent.objects.get().campaign_id == outbox.campaign_id


def test_a_rejected_event_suppresses_too(outbox):
    send(
        event_type="rejected",
        message_id="esp-4f1c2a9e",
        recipient=outbox.email,
        reject_reason="invalid",
    )
    assert Suppression.objects.get().reason == "hard_bounce"


@pytest.mark.parametrize(
    "fields",
    [
        {"event_type": "deferred", "mta_response": "421 try again later"},
        {"event_type": "bounced", "mta_response": "452 4.2.2 Mailbox full"},
        {"event_type": "bounced", "mta_response": "552 5.2.2 over quota"},
        {"event_type": "bounced", "esp_event": {"Type": "SoftBounce"}},
    ],
)
def test_temporary_failures_are_soft_bounces(outbox, fields):
    send(message_id="esp-4f1c2a9e", recipient=outbox.email, **fields)
    assert BounceReport.objects.get().kind == "soft"
    assert not Suppression.objects.exists()


@pytest.mark.parametrize(
    "fields",
    [{"event_type": "complained"}, {"event_type": "rejected", "reject_reason": "spam"}],
)
def test_a_complaint_suppresses_the_address(outbox, fields):
    send(message_id="esp-4f1c2a9e", recipient=outbox.email, **fields)
    assert BounceReport.objects.get().kind == "complaint"
    assert Suppression.objects.get().reason == "complaint"
    assert EmailEvent.objects.get().type == "complaint"


def test_an_unsubscribed_event_unsubscribes_from_the_campaigns_lists(outbox):
    send(event_type="unsubscribed", message_id="esp-4f1c2a9e", recipient=outbox.email)
    subscription = Subscription.objects.get(contact=outbox.contact)
    assert subscription.status == "unsubscribed"
    assert subscription.consent_proof["unsubscribe"]["source"] == "provider"
    assert EmailEvent.objects.get().type == "unsubscribe"


def test_an_unsubscribed_event_for_an_unknown_message_stops_everything_for_the_address():
    contact = make_contact("paul@example.org", lists=["Newsletter"])
    send(event_type="unsubscribed", message_id="unknown", recipient="paul@example.org")
    assert Suppression.objects.get().reason == "unsubscribed_all"
    assert Subscription.objects.get(contact=contact).status == "unsubscribed"


def test_an_unsubscribed_event_for_an_address_we_do_not_know_goes_through_compliance():
    send(event_type="unsubscribed", message_id="unknown", recipient="Inconnu@Example.org")
    suppression = Suppression.objects.get()
    assert (suppression.email, suppression.reason) == ("inconnu@example.org", "unsubscribed_all")
    assert suppression.details == {"source": "recipient:provider"}
    # The same trail as any recipient's own unsubscription, under a masked address.
    entry = AuditLog.objects.get(action=AuditLog.Action.UNSUBSCRIBE)
    assert (entry.object_repr, entry.actor_label) == ("in•••@example.org", Recipient.label)
    assert entry.changes["source"] == "provider"
    event = EmailEvent.objects.get()
    assert (event.type, event.contact_id, event.details["all"]) == ("unsubscribe", None, True)


def test_a_bounce_for_an_idn_address_in_punycode_suppresses_it_under_its_stored_spelling():
    elodie = make_contact(
        "élodie@café.example", lists=["Newsletter"]
    )  # as imports store "Élodie@Café.example"
    send(
        event_type="bounced",
        message_id="unknown",
        recipient=" Élodie@XN--CAF-DMA.example ",
        mta_response="550 5.1.1 user unknown",
    )
    assert BounceReport.objects.get().email == "élodie@café.example"
    assert Suppression.objects.get().email == "élodie@café.example"
    assert Contact.objects.get(pk=elodie.pk).status == "bounced"
    assert EmailEvent.objects.get().contact_id == elodie.pk


def test_a_bounce_for_an_ascii_address_at_an_idn_domain_finds_its_contact():
    xavier = make_contact("xavier@café.example", lists=["Newsletter"])
    send(event_type="bounced", message_id="unknown", recipient="xavier@xn--caf-dma.example")
    assert Suppression.objects.get().email == "xavier@café.example"
    assert Contact.objects.get(pk=xavier.pk).status == "bounced"


def test_delivered_opened_and_clicked_become_events(outbox):
    send(event_type="delivered", message_id="esp-4f1c2a9e", event_id="e1")
    send(event_type="opened", message_id="esp-4f1c2a9e", event_id="e2", user_agent="Mozilla/5.0")
    send(event_type="clicked", message_id="esp-4f1c2a9e", event_id="e3", click_url="https://x.fr/")
    events = {e.type: e for e in EmailEvent.objects.all()}
    assert set(events) == {"delivered", "open", "click"}
    assert events["click"].url == "https://x.fr/"
    assert events["open"].is_machine is False
    assert events["delivered"].at == datetime(2024, 11, 12, 9, 15, tzinfo=UTC)
    assert all(e.outbox_id == outbox.pk for e in events.values())


def test_an_event_sent_twice_by_the_esp_counts_once(outbox):
    for _ in range(2):
        send(event_type="opened", message_id="esp-4f1c2a9e", event_id="same")
    assert EmailEvent.objects.count() == 1


def test_events_about_unknown_messages_and_addresses_are_ignored():
    send(event_type="delivered", message_id="nobody", recipient="nobody@example.org")
    send(event_type="queued", message_id="nobody")
    assert not EmailEvent.objects.exists() and not BounceReport.objects.exists()


@pytest.mark.urls(__name__)
def test_a_postmark_bounce_webhook_goes_through_anymail_to_the_suppression_list(outbox, settings):
    client = Client(enforce_csrf_checks=True)  # ESPs send no CSRF token
    settings.ANYMAIL = {"WEBHOOK_SECRET": "fidele:webhook-secret"}
    payload = {
        "RecordType": "Bounce",
        "ID": 4323372036854775807,
        "Type": "HardBounce",
        "TypeCode": 1,
        "Name": "Hard bounce",
        "MessageID": "esp-4f1c2a9e",
        "Description": "The server was unable to deliver your message (ex: unknown user).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": outbox.email,
        "From": "bonjour@cave-de-lea.fr",
        "BouncedAt": "2024-11-12T10:15:05Z",
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Nos soldes",
    }
    auth = "Basic " + base64.b64encode(b"fidele:webhook-secret").decode()
    url = "/delivery/webhooks/anymail/postmark/tracking/"
    refused = client.post(url, payload, content_type="application/json")
    assert refused.status_code == 400 or refused.status_code == 403
    response = client.post(url, payload, content_type="application/json", HTTP_AUTHORIZATION=auth)
    assert response.status_code == 200
    assert BounceReport.objects.get().outbox_id == outbox.pk
    assert Suppression.objects.get().reason == "hard_bounce"


@pytest.mark.urls(__name__)
def test_webhooks_are_refused_until_a_secret_is_configured(client, outbox, settings):
    settings.ANYMAIL = {}
    payload = {"RecordType": "SpamComplaint", "MessageID": "esp-4f1c2a9e", "Email": outbox.email}
    response = client.post(
        "/delivery/webhooks/anymail/postmark/tracking/", payload, content_type="application/json"
    )
    assert response.status_code == 403
    assert not Suppression.objects.exists()


def test_an_empty_message_id_matches_no_unsent_message():
    make_outbox(make_contact("jean.martin@example.org", lists=["Newsletter"]), message_id="")
    send(event_type="opened", message_id="<>", recipient="")
    assert not EmailEvent.objects.exists()
