"""Recording what happened to a message after it left: opens, clicks, bounces, unsubscribes.

Events are facts reported by machines (mail clients, MTAs, ESPs) or by the recipient through a
signed link, not writes a user makes in the app, so they are not audited one by one; the
consequences they have on customer data (an unsubscription, a suppression) are.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

from django.db.models import Max, OuterRef, Q, Subquery
from django.utils import timezone

from fidele.contacts.models import Contact
from fidele.tracking.classify import Click, Hit, clicks_rejudge, client_of, judge_click, judge_open
from fidele.tracking.messages import OutboxRef, message_lookup
from fidele.tracking.models import EmailEvent


def outbox_ref(outbox_id: int) -> OutboxRef | None:
    """The ids of a sent message, from the app that knows the messages (tracking.messages)."""
    return message_lookup().outbox_ref(outbox_id)


def network_of(address: str | None) -> str:
    """The network an address belongs to, which is all that is stored of it: /24 for IPv4, /48
    for IPv6 (a household or an office, not a device)."""
    if not address:
        return ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ""
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def event_record(
    *,
    type: str,
    outbox: Any = None,
    campaign_id: int | None = None,
    contact_id: int | None = None,
    url: str = "",
    is_machine: bool = False,
    reason: str = "",
    client: str = "",
    device: str = "",
    address: str | None = None,
    details: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> EmailEvent:
    """One event. `outbox` (anything with the ids of an OutboxRef: a SentMessage, an
    OutboxMessage) fills in the campaign and contact. `address` is reduced to its network
    before it is stored; a `reason` makes the event a machine's."""
    if type not in EmailEvent.Type.values:
        raise ValueError(f"unknown event type {type!r}")
    if outbox is not None:
        campaign_id = campaign_id or outbox.campaign_id
        contact_id = contact_id or outbox.contact_id
    event = EmailEvent.objects.create(
        type=type,
        at=at or timezone.now(),
        campaign_id=campaign_id,
        contact_id=contact_id,
        outbox_id=getattr(outbox, "id", None),
        is_machine=is_machine or bool(reason),
        reason=reason,
        client=client,
        device=device,
        network=network_of(address),
        url=url,
        details=details or {},
    )
    if event.contact_id and not event.is_machine and type in _ENGAGEMENT:
        contact_engagement_note(contact_id=event.contact_id, at=event.at)
    return event


# What shows a person read our email: their own opens and clicks (not a machine's).
_ENGAGEMENT = (EmailEvent.Type.OPEN, EmailEvent.Type.CLICK)
# Contact.last_engaged_at is kept to the day: a person's later opens the same day write nothing.
_ENGAGEMENT_GRAIN = dt.timedelta(days=1)


def contact_engagement_note(*, contact_id: int, at: dt.datetime) -> None:
    """Move the contact's last human engagement forward to `at` (contacts owns the column,
    tracking is its only writer). One conditional UPDATE by primary key, which matches nothing
    when the day is already recorded: cheap on the open and click path."""
    Contact.objects.filter(pk=contact_id).filter(
        Q(last_engaged_at__isnull=True) | Q(last_engaged_at__lt=at - _ENGAGEMENT_GRAIN)
    ).update(last_engaged_at=at)


def contacts_engagement_refresh(*, contact_ids: list[int] | None = None) -> int:
    """Recompute the contacts' last human engagement from the events (all contacts with events
    when `contact_ids` is None): after events were written in bulk (the demo) or judged again
    as a machine's. A contact whose events are all gone keeps what it had, since the raw events
    are deleted after their retention period while the engagement they showed stays true.
    Returns how many contacts were updated."""
    human = EmailEvent.objects.filter(type__in=_ENGAGEMENT, is_machine=False)
    latest = (
        human.filter(contact_id=OuterRef("pk"))
        .order_by()
        .values("contact_id")
        .annotate(last=Max("at"))
        .values("last")
    )
    targets = Contact.objects.filter(pk__in=human.values("contact_id"))
    if contact_ids is not None:
        targets = targets.filter(pk__in=contact_ids)
    return targets.update(last_engaged_at=Subquery(latest))


def open_record(*, ref: OutboxRef, hit: Hit) -> EmailEvent:
    now = timezone.now()
    client, device = client_of(hit.user_agent)
    return event_record(
        type=EmailEvent.Type.OPEN,
        outbox=ref,
        reason=judge_open(hit, sent_at=ref.sent_at, now=now),
        client=client,
        device=device,
        address=hit.address,
        at=now,
    )


def click_record(*, ref: OutboxRef, hit: Hit, url: str, honeypot: bool = False) -> EmailEvent:
    """A click, judged alone and then with the other clicks of its message (a burst, the
    invisible link), which may turn earlier clicks into a machine's too."""
    client, device = client_of(hit.user_agent)
    event = event_record(
        type=EmailEvent.Type.CLICK,
        outbox=ref,
        url=url,
        reason=EmailEvent.Reason.HONEYPOT if honeypot else judge_click(hit),
        client=client,
        device=device,
        address=hit.address,
    )
    _message_clicks_rejudge(ref.id)
    return event


def _message_clicks_rejudge(outbox_id: int) -> None:
    clicks = [
        Click(*row)
        for row in EmailEvent.objects.filter(
            outbox_id=outbox_id, type=EmailEvent.Type.CLICK
        ).values_list("id", "at", "url", "reason")
    ]
    if len(clicks) < 2:
        return
    changes = clicks_rejudge(clicks)
    for reason in set(changes.values()):
        ids = [pk for pk, value in changes.items() if value == reason]
        EmailEvent.objects.filter(pk__in=ids).update(is_machine=True, reason=reason)
    if changes:
        # The clicks a person seemed to make were a machine's: the engagement they recorded
        # goes back to the person's own last open or click.
        contact_ids = list(
            EmailEvent.objects.filter(pk__in=list(changes), contact_id__isnull=False)
            .values_list("contact_id", flat=True)
            .distinct()
        )
        _engagement_forget(contact_ids)


def _engagement_forget(contact_ids: list[int]) -> None:
    Contact.objects.filter(pk__in=contact_ids).update(last_engaged_at=None)
    contacts_engagement_refresh(contact_ids=contact_ids)


def events_delete_before(*, moment: dt.datetime, types: tuple[str, ...]) -> int:
    """Delete raw events of `types` older than `moment` (the retention period; the counts
    rolled up from them stay). Returns how many went."""
    deleted, _by_model = EmailEvent.objects.filter(at__lt=moment, type__in=types).delete()
    return deleted
