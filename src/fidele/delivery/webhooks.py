"""ESP tracking webhooks (Brevo, Mailgun, Amazon SES, Postmark, SendGrid ... through anymail).

anymail's per-ESP views (mounted by webhook_urls.py) check the ESP's signature or basic auth,
normalise the ESP's payload into AnymailTrackingEvent objects and send the `tracking` signal;
the receiver below turns each event into what Fidèle records: a bounce or complaint (through
delivery.bounces.bounce_record, so that suppression works as for the bounce mailbox), an
unsubscription, or a delivered / open / click event. Messages are matched by the ESP's message
id, which the send engine stores in OutboxMessage.message_id.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from anymail.signals import AnymailTrackingEvent, EventType, RejectReason, tracking
from django.dispatch import receiver

from fidele.compliance import services as compliance
from fidele.contacts.models import Contact
from fidele.delivery.bounces import address_normalised, bounce_record, outbox_for_message_id
from fidele.delivery.models import BounceReport, OutboxMessage
from fidele.tracking.classify import client_of
from fidele.tracking.models import EmailEvent
from fidele.tracking.services import event_record

log = logging.getLogger(__name__)

Kind = BounceReport.Kind

# An SMTP reply in the ESP's text that says "try later" (4xx) or "mailbox full" (x.2.2):
# some ESPs report those as "bounced" too, and a full mailbox must not suppress an address.
_TEMPORARY = re.compile(r"(^|\D)(4\d\d[ -]|4\.\d{1,3}\.\d{1,3}|5\.2\.2)")


def _raw(event: AnymailTrackingEvent, esp_name: str) -> str:
    payload = {"esp": esp_name, "event_type": event.event_type, "event": event.esp_event}
    try:
        return json.dumps(payload, default=str, ensure_ascii=False, indent=2)
    except (TypeError, ValueError):
        return repr(payload)


def _diagnostic(event: AnymailTrackingEvent) -> str:
    parts = [event.mta_response, event.description, event.reject_reason]
    return " — ".join(str(p) for p in parts if p)[:2000]


def _bounce_kind(event: AnymailTrackingEvent) -> str:
    esp_event = event.esp_event if isinstance(event.esp_event, dict) else {}
    if esp_event.get("Type") == "SoftBounce":  # Postmark reports soft bounces as "bounced"
        return Kind.SOFT
    if _TEMPORARY.search(str(event.mta_response or "")):
        return Kind.SOFT
    return Kind.HARD


def _already_recorded(event: AnymailTrackingEvent, event_type: str) -> bool:
    # ESPs retry webhooks they think failed: the same event must not count twice.
    if not event.event_id:
        return False
    return EmailEvent.objects.filter(
        type=event_type, details__event_id=str(event.event_id)
    ).exists()


def tracking_event_handle(*, event: AnymailTrackingEvent, esp_name: str) -> None:
    outbox = outbox_for_message_id(event.message_id)
    email = address_normalised(event.recipient or (outbox.email if outbox is not None else ""))
    event_type = event.event_type
    reason = event.reject_reason

    if event_type == EventType.REJECTED and reason == RejectReason.UNSUBSCRIBED:
        event_type = EventType.UNSUBSCRIBED
    if event_type == EventType.REJECTED and reason == RejectReason.SPAM:
        event_type = EventType.COMPLAINED

    if event_type in (EventType.BOUNCED, EventType.REJECTED, EventType.DEFERRED):
        kind = Kind.SOFT if event_type == EventType.DEFERRED else _bounce_kind(event)
        bounce_record(
            kind=kind,
            email=email,
            outbox=outbox,
            diagnostic=_diagnostic(event),
            raw=_raw(event, esp_name),
            source=BounceReport.Source.WEBHOOK,
        )
    elif event_type == EventType.COMPLAINED:
        bounce_record(
            kind=Kind.COMPLAINT,
            email=email,
            outbox=outbox,
            diagnostic=_diagnostic(event) or "complaint",
            raw=_raw(event, esp_name),
            source=BounceReport.Source.WEBHOOK,
        )
    elif event_type == EventType.UNSUBSCRIBED:
        _unsubscribe(outbox=outbox, email=email)
    elif event_type in (EventType.DELIVERED, EventType.OPENED, EventType.CLICKED):
        ours = {
            EventType.DELIVERED: EmailEvent.Type.DELIVERED,
            EventType.OPENED: EmailEvent.Type.OPEN,
            EventType.CLICKED: EmailEvent.Type.CLICK,
        }[event_type]
        if _already_recorded(event, ours):
            return
        details: dict[str, Any] = {"esp": esp_name}
        if event.event_id:
            details["event_id"] = str(event.event_id)
        # Like our own pixel and links: the client and device, never the user-agent string.
        client, device = client_of(str(event.user_agent or ""))
        contact_id = None
        if outbox is None and email:
            contact_id = Contact.objects.filter(email=email).values_list("id", flat=True).first()
        if outbox is None and contact_id is None:
            return  # not a message we know
        event_record(
            type=ours,
            outbox=outbox,
            contact_id=contact_id,
            url=str(event.click_url or "") if ours == EmailEvent.Type.CLICK else "",
            client=client,
            device=device,
            details=details,
            at=event.timestamp,
        )
    # queued, sent, failed, autoresponded, subscribed, unknown: nothing to record here (the
    # engine records what the ESP said when sending; auto-replies are not bounces).


def _unsubscribe(*, outbox: OutboxMessage | None, email: str) -> None:
    source = compliance.UnsubscribeSource.PROVIDER
    if outbox is not None:
        compliance.recipient_unsubscribe(outbox=outbox, source=source)
    elif email:
        # Not a message we can match: the address's contact, or the address alone, stops
        # receiving anything, with the same suppression, event and audit as a one-click.
        compliance.recipient_unsubscribe_all(email=email, source=source)


@receiver(tracking, dispatch_uid="fidele.delivery.webhooks.tracking")
def tracking_received(sender: Any, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any):
    # An error propagates: anymail answers 500 and the ESP retries the batch later. Retried
    # events are harmless (suppression is idempotent, opens/clicks/deliveries are deduplicated
    # by event id), while a swallowed error would lose a bounce.
    tracking_event_handle(event=event, esp_name=esp_name)
