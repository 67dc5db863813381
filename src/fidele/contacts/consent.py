"""Consent has one owner: every write of a subscription goes through here, whoever makes it (a
user by hand, an import, a recipient through a link in an email, the demo).

The proof the law asks for has one shape, `ConsentProof`: how consent was obtained (`method`),
when, by whom, from where (IP address, form and page, file and row, the message whose link was
followed) and the text the person was shown. It is stored as JSON in
`Subscription.consent_proof`; a withdrawal (`Withdrawal`) is kept beside it under "unsubscribe"
so that the proof of what had been agreed stays.

These functions write and do not audit: the caller audits the whole operation once (an import
audits its job, a recipient's choice is one entry for all its lists, a user's change by hand is
audited by `contacts.services`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fidele.contacts.models import Contact, Subscription
from fidele.contacts.sql import subscriptions_insert
from fidele.core.actors import Actor, actor_label_for

# SQLite bounds the parameters of a statement; PostgreSQL plans huge IN lists badly.
_CHUNK = 900


class Method:
    """How consent was obtained: the proof's `method`, and which `Subscription.Source` it is."""

    MANUAL = "manual"  # a user confirmed holding it (a paper form, a phone call...)
    IMPORT = "import"  # a file, with its row
    FORM = "form"  # a sign-up form (with double opt-in when the list asks for it)
    PREFERENCE_CENTRE = "preference_centre"  # the recipient ticked the list again
    API = "api"


SOURCE_OF = {
    Method.MANUAL: Subscription.Source.MANUAL,
    Method.IMPORT: Subscription.Source.IMPORT,
    Method.FORM: Subscription.Source.FORM,
    Method.PREFERENCE_CENTRE: Subscription.Source.FORM,
    Method.API: Subscription.Source.API,
}


@dataclass(frozen=True, slots=True)
class ConsentProof:
    """What shows that a person agreed to receive a list's emails.

    `at` is when the proof was recorded; `given_at`, when the person consented if that is known
    to be another moment (a consent date in an imported file): it becomes the subscription's
    `consent_at`. Empty fields are left out of the stored JSON.
    """

    method: str
    at: dt.datetime
    given_at: dt.datetime | None = None
    # By whom: the user (or the command) that recorded it.
    user: str = ""
    user_id: int | None = None
    # From where.
    ip: str = ""
    form: str = ""
    url: str = ""
    file: str = ""
    row: int | None = None
    import_id: int | None = None
    campaign_id: int | None = None
    outbox_id: int | None = None
    # The text the person was shown, and anything else worth keeping.
    wording: str = ""
    note: str = ""
    confirmed_at: dt.datetime | None = None  # double opt-in: when the link was followed
    confirmed_by_user: bool = False  # an import without a consent column: the user vouched

    @classmethod
    def by(cls, actor: Actor, *, method: str, at: dt.datetime | None = None, **fields: Any):
        """A proof recorded by `actor` (a user's name and id; a command's or a recipient's
        label)."""
        user_id = getattr(actor, "pk", None) if getattr(actor, "is_authenticated", False) else None
        return cls(
            method=method,
            at=at or timezone.now(),
            user=actor_label_for(actor),
            user_id=user_id,
            **fields,
        )

    @property
    def source(self) -> str:
        return SOURCE_OF[self.method]

    @property
    def consent_at(self) -> dt.datetime:
        return self.given_at or self.at

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"method": self.method, "at": self.at.isoformat()}
        for name in _PROOF_FIELDS:
            value = getattr(self, name)
            if value in (None, "", False):
                continue
            data[name] = value.isoformat() if isinstance(value, dt.datetime) else value
        return data


_PROOF_FIELDS = (
    "user", "user_id", "ip", "form", "url", "file", "row", "import_id", "campaign_id",
    "outbox_id", "wording", "note", "confirmed_at", "confirmed_by_user",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """How a person withdrew their consent (`source`: one of WITHDRAWAL_SOURCES)."""

    source: str
    at: dt.datetime
    ip: str = ""
    campaign_id: int | None = None
    outbox_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"source": self.source, "at": self.at.isoformat()}
        if self.outbox_id is not None:
            data["outbox_id"] = self.outbox_id
            data["campaign_id"] = self.campaign_id
        if self.ip:
            data["ip"] = self.ip
        return data


# How a person can withdraw their consent: `Withdrawal.source` (the codes compliance writes, also
# in the audit entry of the unsubscribe) -> what screens call it.
WITHDRAWAL_SOURCES = {
    "one_click": _("one click in the mail app"),
    "page": _("unsubscribe page"),
    "preferences": _("preference centre"),
    "all": _("unsubscribe from everything"),
    "provider": _("the email provider's unsubscribe link"),
    "mailto": _("unsubscribe email"),
}


# Not frozen: a frozen dataclass costs four times as much to build, and an import builds one per
# row.
@dataclass(slots=True)
class Consent:
    """One contact's consent to one list, for `subscriptions_add`. Many rows share one `proof`
    (an import's file, user and time); what differs from row to row, the file's row number and
    a consent date read in it, is given here and overrides the proof's. `withdrawal`: consent
    that was since withdrawn (history brought in at once, as the demo shop does)."""

    contact_id: int
    mailing_list_id: int
    proof: ConsentProof
    row: int | None = None
    given_at: dt.datetime | None = None
    withdrawal: Withdrawal | None = None


@dataclass(frozen=True, slots=True)
class Changed:
    """A subscription a call changed, and its status before (None: it did not exist)."""

    subscription: Subscription
    old_status: str | None


def _user(actor: Actor) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


def subscriptions_add_with_proof(
    *,
    actor: Actor,
    mailing_list_id: int,
    proof: ConsentProof,
    entries: Iterable[tuple[int, int | None, dt.datetime | None]],
    status: str = Subscription.Status.SUBSCRIBED,
) -> int:
    """Subscribe many contacts to one list on one shared proof (an import's file, user and
    time), in one statement whatever their number: the proof is serialised once and completed
    by the database with each entry's own file row.

    `entries`: (contact id, file row or None, consent time read in the file or None). Only
    creates: a contact already on the list, whatever its status, is left alone (an import never
    resubscribes someone who unsubscribed); a contact named twice counts once, on its first
    entry. Returns how many subscriptions were written. `status` UNCONFIRMED: a sign-up waiting
    for its double opt-in confirmation (no consent time yet)."""
    first: dict[int, tuple[int, int | None, dt.datetime | None]] = {}
    for entry in entries:
        first.setdefault(entry[0], entry)
    if not first:
        return 0
    unique = list(first.values())
    unconfirmed = status == Subscription.Status.UNCONFIRMED
    if unconfirmed:
        unique = [(contact_id, row, None) for contact_id, row, _given_at in unique]
    created_by = _user(actor)
    return subscriptions_insert(
        mailing_list_id=mailing_list_id,
        entries=unique,
        status=status,
        consent_at=None if unconfirmed else proof.consent_at,
        source=proof.source,
        proof=proof.as_json(),
        created_by_id=None if created_by is None else created_by.pk,
        now=timezone.now(),
    )


def subscriptions_add(
    *, actor: Actor, consents: Iterable[Consent], status: str = Subscription.Status.SUBSCRIBED
) -> int:
    """Subscribe many contacts at once, each consent with its own proof (the demo's history):
    one look-up per list and chunk and bulk inserts, no row saved one by one. Many contacts on
    one shared proof (an import) go faster through `subscriptions_add_with_proof`.

    Only creates: a contact already on the list, whatever its status, is left alone (an import
    never resubscribes someone who unsubscribed). A contact named twice for the same list counts
    once. Returns how many subscriptions were written. `status` UNCONFIRMED: a sign-up waiting
    for its double opt-in confirmation (no consent time yet). A consent with a `withdrawal` is
    written unsubscribed, the withdrawal kept beside its proof."""
    by_list: dict[int, dict[int, Consent]] = defaultdict(dict)
    for consent in consents:
        by_list[consent.mailing_list_id].setdefault(consent.contact_id, consent)
    created_by = _user(actor)
    unconfirmed = status == Subscription.Status.UNCONFIRMED
    # The shared proof is serialised once, not once per row (imports write millions).
    stored: dict[int, dict[str, Any]] = {}
    rows = []
    for mailing_list_id, by_contact in by_list.items():
        contact_ids = list(by_contact)
        already: set[int] = set()
        for start in range(0, len(contact_ids), _CHUNK):
            already.update(
                Subscription.objects.filter(
                    mailing_list_id=mailing_list_id,
                    contact_id__in=contact_ids[start : start + _CHUNK],
                ).values_list("contact_id", flat=True)
            )
        for contact_id, consent in by_contact.items():
            if contact_id in already:
                continue
            proof = consent.proof
            data = stored.get(id(proof))
            if data is None:
                data = stored[id(proof)] = proof.as_json()
            if consent.row is not None:
                data = {**data, "row": consent.row}
            row_status, unsubscribed_at = status, None
            if consent.withdrawal is not None:
                data = {**data, "unsubscribe": consent.withdrawal.as_json()}
                row_status = Subscription.Status.UNSUBSCRIBED
                unsubscribed_at = consent.withdrawal.at
            rows.append(
                Subscription(
                    contact_id=contact_id,
                    mailing_list_id=mailing_list_id,
                    status=row_status,
                    consent_at=None if unconfirmed else (consent.given_at or proof.consent_at),
                    consent_source=proof.source,
                    consent_proof=data,
                    unsubscribed_at=unsubscribed_at,
                    created_by=created_by,
                )
            )
    Subscription.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(rows)


@transaction.atomic
def subscriptions_subscribe(
    *,
    actor: Actor,
    contact: Contact,
    mailing_list_ids: Iterable[int],
    proof: ConsentProof,
    existing_only: bool = False,
    keep_previous: bool = False,
) -> list[Changed]:
    """Subscribe one contact to lists (by hand, or again from the preference centre), with
    `proof` as the new consent. A list it is already subscribed to is left as it is.

    `existing_only`: only lists it has a subscription to (the preference centre offers no
    other). `keep_previous`: the proof replaced is kept under "previous" in the new one."""
    wanted = list(dict.fromkeys(int(pk) for pk in mailing_list_ids))
    rows = {
        s.mailing_list_id: s
        for s in Subscription.objects.select_for_update()
        .select_related("mailing_list")
        .filter(contact=contact, mailing_list_id__in=wanted)
    }
    changed = []
    for mailing_list_id in wanted:
        subscription = rows.get(mailing_list_id)
        if subscription is None and existing_only:
            continue
        if subscription is not None and subscription.status == Subscription.Status.SUBSCRIBED:
            continue
        old_status = subscription.status if subscription is not None else None
        stored = proof.as_json()
        if subscription is None:
            subscription = Subscription(contact=contact, mailing_list_id=mailing_list_id)
            subscription.created_by = _user(actor)
        elif keep_previous:
            previous = subscription.consent_proof or {}
            stored["previous"] = {k: v for k, v in previous.items() if k != "previous"}
        else:
            subscription.created_by = _user(actor)
        subscription.status = Subscription.Status.SUBSCRIBED
        subscription.consent_at = proof.consent_at
        subscription.consent_source = proof.source
        subscription.consent_proof = stored
        subscription.unsubscribed_at = None
        subscription.save()
        changed.append(Changed(subscription=subscription, old_status=old_status))
    return changed


@transaction.atomic
def subscriptions_unsubscribe(
    *,
    actor: Actor,
    contact_ids: Iterable[int],
    mailing_list_ids: Iterable[int] | None = None,
    withdrawal: Withdrawal | None = None,
    at: dt.datetime | None = None,
) -> list[Changed]:
    """Unsubscribe contacts from lists (every list when `mailing_list_ids` is None). The consent
    proof stays: it shows what had been agreed; `withdrawal`, when given, is kept beside it.

    Subscriptions already unsubscribed are left alone. Returns those changed, in the order they
    were created."""
    now = withdrawal.at if withdrawal is not None else (at or timezone.now())
    queryset = (
        Subscription.objects.select_for_update()
        .select_related("mailing_list")
        .filter(contact_id__in=list(contact_ids))
        .exclude(status=Subscription.Status.UNSUBSCRIBED)
        .order_by("pk")
    )
    if mailing_list_ids is not None:
        queryset = queryset.filter(mailing_list_id__in=list(mailing_list_ids))
    fields = ["status", "unsubscribed_at", "updated_at"]
    if withdrawal is not None:
        fields.append("consent_proof")
    changed = []
    for subscription in queryset:
        old_status = subscription.status
        subscription.status = Subscription.Status.UNSUBSCRIBED
        subscription.unsubscribed_at = now
        if withdrawal is not None:
            subscription.consent_proof = {
                **(subscription.consent_proof or {}),
                "unsubscribe": withdrawal.as_json(),
            }
        subscription.save(update_fields=fields)
        changed.append(Changed(subscription=subscription, old_status=old_status))
    return changed
