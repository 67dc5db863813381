"""Recording what happened to a message after it left: opens, clicks, bounces, unsubscribes.

Events are facts reported by machines (mail clients, MTAs, ESPs) or by the recipient through a
signed link, not writes a user makes in the app, so they are not audited one by one; the
consequences they have on customer data (an unsubscription, a suppression) are.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.db.models import Count, F, Max, OuterRef, Q, Subquery
from django.utils import timezone

from fidele.contacts.models import Contact
from fidele.tracking.classify import Click, clicks_rejudge, judgment_reach
from fidele.tracking.models import EmailEvent


@functools.lru_cache(maxsize=4096)
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
    return EmailEvent.objects.create(
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


def clicks_rejudge_around(*, outbox_ids: set[int], start: dt.datetime, end: dt.datetime) -> None:
    """Judge again together the clicks of these messages from `start` to `end` (new clicks'
    times): a burst, the invisible link, which may turn earlier clicks into a machine's too.
    Only the clicks within the judgment's reach of that span can change, and only in messages
    that have there the invisible link's click or enough different links for a burst: the
    database finds those, and only their clicks are read."""
    reach = judgment_reach()
    near = EmailEvent.objects.filter(
        outbox_id__in=outbox_ids,
        type=EmailEvent.Type.CLICK,
        at__gte=start - reach,
        at__lte=end + reach,
    )
    # Two queries rather than one with a subquery: on a table growing by thousands of rows a
    # second, the planner's statistics lag and a subquery got a nested loop (seconds a batch).
    suspects = list(
        near.values("outbox_id")
        .annotate(
            links=Count("url", distinct=True),
            traps=Count("id", filter=Q(reason=EmailEvent.Reason.HONEYPOT)),
        )
        .filter(Q(links__gte=settings.TRACKING_BURST_LINKS) | Q(traps__gt=0))
        .values_list("outbox_id", flat=True)
    )
    if not suspects:
        return
    by_message: dict[int, list[Click]] = defaultdict(list)
    rows = near.filter(outbox_id__in=suspects)
    for outbox_id, *click in rows.values_list("outbox_id", "id", "at", "url", "reason"):
        by_message[outbox_id].append(Click(*click))
    changes: dict[int, str] = {}
    for clicks in by_message.values():
        changes.update(clicks_rejudge(clicks))
    for reason in set(changes.values()):
        ids = [pk for pk, value in changes.items() if value == reason]
        EmailEvent.objects.filter(pk__in=ids).update(is_machine=True, reason=reason)


def events_delete_before(*, moment: dt.datetime, types: tuple[str, ...]) -> int:
    """Delete raw events of `types` older than `moment` (the retention period; the counts
    rolled up from them stay). Returns how many went."""
    deleted, _by_model = EmailEvent.objects.filter(at__lt=moment, type__in=types).delete()
    return deleted


# What shows a person read our email: their own opens and clicks (not a machine's).
_ENGAGEMENT = (EmailEvent.Type.OPEN, EmailEvent.Type.CLICK)


def contacts_engagement_refresh(
    *, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> int:
    """Move each contact's last human engagement (Contact.last_engaged_at: contacts owns the
    column, tracking decides what counts) forward to their latest own open or click in
    [since, until), never back. Set-based, off the open and click path (which costs one read
    and one write): the hourly rollup runs it over each settled hour, once the clicks of a
    burst have been judged a machine's (fidele.analytics.rollup). Returns how many contacts
    moved."""
    human = EmailEvent.objects.filter(
        type__in=_ENGAGEMENT, is_machine=False, contact_id__isnull=False
    )
    if since is not None:
        human = human.filter(at__gte=since)
    if until is not None:
        human = human.filter(at__lt=until)
    latest = Subquery(
        human.filter(contact_id=OuterRef("pk"))
        .order_by()
        .values("contact_id")
        .annotate(last=Max("at"))
        .values("last")
    )
    return (
        Contact.objects.filter(pk__in=human.values("contact_id"))
        .alias(latest=latest)
        .filter(Q(last_engaged_at__isnull=True) | Q(last_engaged_at__lt=F("latest")))
        .update(last_engaged_at=latest)
    )
