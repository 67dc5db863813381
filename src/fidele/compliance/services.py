"""Who must not be mailed, and the recipient's own choices: suppression list, unsubscribe,
preference centre. Every change is audited.

Subscriptions are written by their owner, contacts.consent (the recipient is the actor, with the
proof of their withdrawal or new consent); the contact's status follows its suppression here
(`Contact.objects.filter(email=...).update(status=...)`). The message a recipient acts from is
a tracking.messages.SentMessage: compliance never reads the send engine's tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from fidele.compliance.models import Suppression
from fidele.compliance.privacy import mask_email
from fidele.compliance.selectors import is_suppressed, suppressed_among  # noqa: F401 (re-export)
from fidele.contacts.consent import (
    ConsentProof,
    Method,
    Withdrawal,
    subscriptions_subscribe,
    subscriptions_unsubscribe,
)
from fidele.contacts.models import Contact, Subscription
from fidele.contacts.normalize import InvalidValue, email_clean
from fidele.core.actors import Actor, Recipient
from fidele.core.audit import audit_record, audit_record_many
from fidele.core.models import AuditLog
from fidele.tracking.messages import SentMessage, message_lookup
from fidele.tracking.models import EmailEvent
from fidele.tracking.services import event_record

Reason = Suppression.Reason

# When an address is suppressed again for another reason, the stronger one is kept. Erasure is
# a legal obligation; a complaint says "this is spam" and carries the most risk; an unsubscription
# is the person's own choice and must survive even if the mailbox later works again; a hard
# bounce is technical (an owner may lift it when the address is fixed); a hand block and repeated
# soft bounces are the weakest signals; a throwaway inbox (suppressed from the quality plan) is
# about the address, which any other reason says more about.
REASON_STRENGTH = {
    Reason.DISPOSABLE: 0,
    Reason.SOFT_BOUNCES: 1,
    Reason.MANUAL: 2,
    Reason.HARD_BOUNCE: 3,
    Reason.UNSUBSCRIBED_ALL: 4,
    Reason.COMPLAINT: 5,
    Reason.ERASED: 6,
}

# What the contact's status becomes when its address is suppressed for that reason.
CONTACT_STATUS_FOR = {
    Reason.HARD_BOUNCE: Contact.Status.BOUNCED,
    Reason.SOFT_BOUNCES: Contact.Status.BOUNCED,
    Reason.COMPLAINT: Contact.Status.COMPLAINED,
    Reason.MANUAL: Contact.Status.BLOCKED,
    Reason.DISPOSABLE: Contact.Status.BLOCKED,
}
# The statuses suppression_remove may lift back to active (never "erased").
_LIFTABLE = (Contact.Status.BOUNCED, Contact.Status.COMPLAINED, Contact.Status.BLOCKED)


class UnsubscribeSource:
    ONE_CLICK = "one_click"  # RFC 8058 POST sent by the mailbox provider
    PAGE = "page"  # the button on the unsubscribe page
    PREFERENCES = "preferences"  # the preference centre
    ALL = "all"  # "unsubscribe from everything"
    PROVIDER = "provider"  # an ESP reported it (its own unsubscribe link)
    MAILTO = "mailto"  # an email to the List-Unsubscribe mailto address


def _normalise(email: str) -> str:
    normalised = email_clean(email)
    if not normalised:
        raise InvalidValue("empty email address")
    return normalised


# --- suppression list ----------------------------------------------------------------------


@transaction.atomic
def suppression_add(
    *,
    email: str,
    reason: str,
    details: dict[str, Any] | None = None,
    actor: Actor = None,
) -> Suppression:
    """Suppress the address (idempotent). An existing, stronger reason is kept. A part of the
    application acting by itself names itself with `actor=System(name=...)`."""
    if reason not in REASON_STRENGTH:
        raise ValueError(f"unknown suppression reason {reason!r}")
    email = _normalise(email)
    details = dict(details or {})
    existing = Suppression.objects.select_for_update().filter(email=email).first()
    if existing is None:
        try:
            with transaction.atomic():
                suppression = Suppression.objects.create(
                    email=email, reason=reason, details=details
                )
        except IntegrityError:
            # Another process suppressed it between our read and our write: treat as existing.
            existing = Suppression.objects.select_for_update().get(email=email)
        else:
            _contact_status_apply(email=email, reason=reason)
            audit_record(
                actor=actor,
                action=AuditLog.Action.CREATE,
                obj=suppression,
                changes={"reason": [None, reason], **_audit_details(details)},
            )
            return suppression
    if REASON_STRENGTH[reason] <= REASON_STRENGTH.get(existing.reason, 0):
        return existing
    old_reason = existing.reason
    history = list(existing.details.get("previous", [])) if existing.details else []
    history.append(
        {
            "reason": old_reason,
            "since": existing.created_at.isoformat() if existing.created_at else None,
        }
    )
    existing.reason = reason
    existing.details = {**details, "previous": history}
    existing.save(update_fields=["reason", "details"])
    _contact_status_apply(email=email, reason=reason)
    audit_record(
        actor=actor,
        action=AuditLog.Action.UPDATE,
        obj=existing,
        changes={"reason": [old_reason, reason], **_audit_details(details)},
    )
    return existing


# Addresses written or read per statement (SQLite takes at most 999 parameters in one).
_CHUNK = 500


def _chunks(values: list[str]) -> list[list[str]]:
    return [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]


def _normalised_or_none(email: str) -> str | None:
    try:
        return email_clean(email)
    except InvalidValue:
        return None


@transaction.atomic
def suppressions_add_new(
    *,
    actor: Actor,
    emails: Iterable[str],
    reason: str,
    details: dict[str, Any] | None = None,
) -> dict[str, int]:
    """Suppress, in bulk, each address that is not on the list yet, each audited; returns
    {address: suppression id} of those it added. An address on the list already keeps its
    reason and is not returned: whoever undoes this lifts only what it added."""
    if reason not in REASON_STRENGTH:
        raise ValueError(f"unknown suppression reason {reason!r}")
    details = dict(details or {})
    wanted = sorted({address for address in map(_normalised_or_none, emails) if address})
    added: dict[str, int] = {}
    for chunk in _chunks(wanted):
        listed = set(Suppression.objects.filter(email__in=chunk).values_list("email", flat=True))
        new = [email for email in chunk if email not in listed]
        # A concurrent suppression of one of them is kept as it is, like one listed before.
        Suppression.objects.bulk_create(
            [Suppression(email=email, reason=reason, details=details) for email in new],
            ignore_conflicts=True,
        )
        created = Suppression.objects.filter(email__in=new, reason=reason)
        added.update(created.values_list("email", "pk"))
    status = CONTACT_STATUS_FOR.get(reason)
    for chunk in _chunks(sorted(added)) if status is not None else []:
        Contact.objects.filter(email__in=chunk).exclude(status=Contact.Status.ERASED).update(
            status=status, updated_at=timezone.now()
        )
    audit_record_many(
        actor=actor,
        action=AuditLog.Action.CREATE,
        object_type=Suppression._meta.label_lower,
        entries=(
            (pk, f"{email} ({reason})", {"reason": [None, reason], **_audit_details(details)})
            for email, pk in sorted(added.items())
        ),
    )
    return added


@transaction.atomic
def suppressions_lift(*, actor: Actor, ids: Iterable[int], reason: str) -> int:
    """Lift, in bulk, the suppressions of `ids` that are still for `reason` (one raised since to
    a stronger reason stays), each audited; their contacts become active again, as with
    suppression_remove. Returns how many were lifted."""
    lifted = list(
        Suppression.objects.select_for_update()
        .filter(pk__in=list(ids), reason=reason)
        .values_list("pk", "email")
    )
    audit_record_many(
        actor=actor,
        action=AuditLog.Action.DELETE,
        object_type=Suppression._meta.label_lower,
        entries=((pk, f"{email} ({reason})", {"reason": [reason, None]}) for pk, email in lifted),
    )
    for chunk in _chunks([email for _pk, email in lifted]):
        Contact.objects.filter(email__in=chunk, status__in=_LIFTABLE).update(
            status=Contact.Status.ACTIVE, updated_at=timezone.now()
        )
    Suppression.objects.filter(pk__in=[pk for pk, _email in lifted]).delete()
    return len(lifted)


def _audit_details(details: dict[str, Any]) -> dict[str, Any]:
    # The audit keeps where the suppression came from, not whole bounce diagnostics.
    keep = ("note", "source", "bounce_report_id", "campaign_id", "outbox_id")
    return {key: details[key] for key in keep if key in details}


def _contact_status_apply(*, email: str, reason: str) -> None:
    status = CONTACT_STATUS_FOR.get(reason)
    if status is None:
        return
    Contact.objects.filter(email=email).exclude(status=Contact.Status.ERASED).update(
        status=status, updated_at=timezone.now()
    )


@transaction.atomic
def suppression_remove(*, suppression: Suppression, actor: Actor) -> None:
    """Lift a suppression (owners only, checked by the view). Contacts become active again."""
    audit_record(
        actor=actor,
        action=AuditLog.Action.DELETE,
        obj=suppression,
        changes={"reason": [suppression.reason, None]},
    )
    Contact.objects.filter(email=suppression.email, status__in=_LIFTABLE).update(
        status=Contact.Status.ACTIVE, updated_at=timezone.now()
    )
    suppression.delete()


# --- the recipient's own choices -----------------------------------------------------------


@dataclass
class RecipientChange:
    """What a recipient's action changed, for the confirmation shown to them."""

    unsubscribed: list[str] = field(default_factory=list)
    resubscribed: list[str] = field(default_factory=list)
    suppressed: bool = False
    unsuppressed: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.unsubscribed or self.resubscribed or self.suppressed or self.unsuppressed)


def _sent(outbox: Any) -> SentMessage | None:
    """The message as the links know it. Callers that hold one of the send engine's outbox rows
    (bounce processing, webhooks) may pass it: it is read again through the lookup port."""
    if outbox is None or isinstance(outbox, SentMessage):
        return outbox
    return message_lookup().sent_message(outbox.id)


def _recipient(contact: Contact | None, email: str) -> Recipient:
    return Recipient(email=email, contact_id=contact.pk if contact is not None else None)


def _withdrawal(
    *, source: str, message: SentMessage | None, ip_address: str | None, now
) -> Withdrawal:
    return Withdrawal(
        source=source,
        at=now,
        ip=ip_address or "",
        campaign_id=message.campaign_id if message is not None else None,
        outbox_id=message.id if message is not None else None,
    )


def _unsubscribe(
    *, actor: Recipient, contact: Contact, list_ids: list[int] | None, withdrawal: Withdrawal
) -> list[str]:
    changed = subscriptions_unsubscribe(
        actor=actor, contact_ids=[contact.pk], mailing_list_ids=list_ids, withdrawal=withdrawal
    )
    return [c.subscription.mailing_list.name for c in changed]


def _record_recipient_change(
    *,
    change: RecipientChange,
    contact: Contact | None,
    email: str,
    message: SentMessage | None,
    source: str,
    ip_address: str | None,
) -> None:
    if not change.changed:
        return
    if change.unsubscribed or change.suppressed:
        event_record(
            type=EmailEvent.Type.UNSUBSCRIBE,
            outbox=message,
            contact_id=contact.pk if contact else None,
            details={"source": source, "lists": change.unsubscribed, "all": change.suppressed},
        )
    changes: dict[str, Any] = {"source": source}
    if change.unsubscribed:
        changes["lists_unsubscribed"] = change.unsubscribed
    if change.resubscribed:
        changes["lists_resubscribed"] = change.resubscribed
    if change.suppressed:
        changes["unsubscribed_from_everything"] = True
    if change.unsuppressed:
        changes["unsubscribed_from_everything"] = [True, False]
    if message is not None:
        changes["campaign_id"] = message.campaign_id
    action = AuditLog.Action.UNSUBSCRIBE
    if change.resubscribed and not (change.unsubscribed or change.suppressed):
        action = AuditLog.Action.SUBSCRIBE
    audit_record(
        actor=_recipient(contact, email),
        action=action,
        obj=contact,
        object_type="contacts.contact",
        # The person's address is not copied into the trail (erasure must reach it).
        object_repr=f"#{contact.pk}" if contact is not None else mask_email(email),
        changes=changes,
        ip_address=ip_address,
    )


def _contact_for(*, message: SentMessage | None, contact: Contact | None) -> Contact | None:
    if contact is not None:
        return contact
    if message is not None and message.contact_id:
        return Contact.objects.filter(pk=message.contact_id).first()
    return None


@transaction.atomic
def recipient_unsubscribe(
    *, outbox: Any, source: str, ip_address: str | None = None
) -> RecipientChange:
    """Unsubscribe the recipient of `outbox` (a SentMessage) from the lists that campaign was
    sent to.

    When we cannot tell which list brought them this message (the campaign had no list, the
    contact was deleted, or they are on none of its lists), everything is stopped: a
    one-click unsubscribe must stop this kind of mail, and guessing wrong would break the law.
    """
    now = timezone.now()
    message = _sent(outbox)
    contact = _contact_for(message=message, contact=None)
    email = contact.email if contact and contact.email else message.email
    list_ids = list(message.list_ids)
    on_lists = (
        contact is not None
        and bool(list_ids)
        and Subscription.objects.filter(contact=contact, mailing_list_id__in=list_ids).exists()
    )
    if not on_lists:
        return _unsubscribe_everything(
            contact=contact, email=email, message=message, source=source, ip_address=ip_address
        )
    change = RecipientChange(
        unsubscribed=_unsubscribe(
            actor=_recipient(contact, email),
            contact=contact,
            list_ids=list_ids,
            withdrawal=_withdrawal(source=source, message=message, ip_address=ip_address, now=now),
        )
    )
    _record_recipient_change(
        change=change,
        contact=contact,
        email=email,
        message=message,
        source=source,
        ip_address=ip_address,
    )
    return change


@transaction.atomic
def recipient_unsubscribe_all(
    *,
    outbox: Any = None,
    contact: Contact | None = None,
    email: str = "",
    source: str = UnsubscribeSource.ALL,
    ip_address: str | None = None,
) -> RecipientChange:
    """Every list, and the address on the suppression list (reason unsubscribed_all).

    The recipient is `contact`, or the one `outbox` (a SentMessage) went to; or, when only an
    address is known (an email service provider reporting an unsubscription for a message we
    cannot match), the contact with that `email`, or the address alone when no contact has it.
    Raises InvalidValue for an address that is not one."""
    message = _sent(outbox)
    contact = _contact_for(message=message, contact=contact)
    if contact is None and message is None and email:
        email = _normalise(email)
        contact = Contact.objects.filter(email=email).first()
    email = (
        (contact.email if contact and contact.email else None)
        or getattr(message, "email", "")
        or email
    )
    return _unsubscribe_everything(
        contact=contact, email=email, message=message, source=source, ip_address=ip_address
    )


def _unsubscribe_everything(
    *,
    contact: Contact | None,
    email: str,
    message: SentMessage | None,
    source: str,
    ip_address: str | None,
) -> RecipientChange:
    now = timezone.now()
    actor = _recipient(contact, email)
    change = RecipientChange()
    if contact is not None:
        change.unsubscribed = _unsubscribe(
            actor=actor,
            contact=contact,
            list_ids=None,
            withdrawal=_withdrawal(source=source, message=message, ip_address=ip_address, now=now),
        )
    if email and not is_suppressed(email):
        details = {"source": f"recipient:{source}"}
        if message is not None:
            details.update(outbox_id=message.id, campaign_id=message.campaign_id)
        suppression_add(email=email, reason=Reason.UNSUBSCRIBED_ALL, details=details, actor=actor)
        change.suppressed = True
    _record_recipient_change(
        change=change,
        contact=contact,
        email=email,
        message=message,
        source=source,
        ip_address=ip_address,
    )
    return change


@transaction.atomic
def recipient_preferences_save(
    *,
    contact: Contact,
    subscribed_list_ids: Iterable[int],
    outbox: Any = None,
    ip_address: str | None = None,
) -> RecipientChange:
    """Apply the preference centre: the lists ticked stay (or become again) subscribed.

    Only lists the contact was ever subscribed to can be ticked; a forged list id is ignored.
    Ticking a list again lifts an earlier "unsubscribe from everything" (the person's own new
    choice), but never a suppression for a complaint, a bounce, an erasure or a hand block.
    `outbox`: the SentMessage whose link was followed, if any.
    """
    now = timezone.now()
    message = _sent(outbox)
    actor = _recipient(contact, contact.email or "")
    wanted = {int(pk) for pk in subscribed_list_ids}
    subscriptions = list(
        Subscription.objects.select_for_update()
        .filter(contact=contact)
        .exclude(status=Subscription.Status.UNCONFIRMED)
        .order_by("pk")
        .values_list("mailing_list_id", "status")
    )
    change = RecipientChange()
    dropped = [list_id for list_id, _status in subscriptions if list_id not in wanted]
    if dropped:
        change.unsubscribed = _unsubscribe(
            actor=actor,
            contact=contact,
            list_ids=dropped,
            withdrawal=_withdrawal(
                source=UnsubscribeSource.PREFERENCES,
                message=message,
                ip_address=ip_address,
                now=now,
            ),
        )
    to_resubscribe = [
        list_id
        for list_id, status in subscriptions
        if list_id in wanted and status != Subscription.Status.SUBSCRIBED
    ]
    suppression = Suppression.objects.filter(email=contact.email or "").first()
    if to_resubscribe and suppression is not None:
        if suppression.reason != Reason.UNSUBSCRIBED_ALL:
            to_resubscribe = []
        else:
            audit_record(
                actor=actor,
                action=AuditLog.Action.DELETE,
                obj=suppression,
                changes={"reason": [suppression.reason, None], "source": "preferences"},
                ip_address=ip_address,
            )
            suppression.delete()
            change.unsuppressed = True
    if to_resubscribe:
        proof = ConsentProof(
            method=Method.PREFERENCE_CENTRE,
            at=now,
            user=actor.label,
            ip=ip_address or "",
            campaign_id=message.campaign_id if message is not None else None,
            outbox_id=message.id if message is not None else None,
        )
        changed = subscriptions_subscribe(
            actor=actor,
            contact=contact,
            mailing_list_ids=to_resubscribe,
            proof=proof,
            existing_only=True,
            keep_previous=True,
        )
        change.resubscribed = [c.subscription.mailing_list.name for c in changed]
    _record_recipient_change(
        change=change,
        contact=contact,
        email=contact.email or "",
        message=message,
        source=UnsubscribeSource.PREFERENCES,
        ip_address=ip_address,
    )
    return change
