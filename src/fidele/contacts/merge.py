"""Folding one contact into another, and undoing it.

`contacts_merge` keeps one contact (the *kept*) with, field by field, the value chosen from
either, and gives it everything of the other (the *absorbed*): orders, email events, outbox
rows, tags, customer numbers (the absorbed one's number becomes an alias), subscriptions. The
absorbed contact is then deleted; `ContactMerge` keeps what it takes to put it back
(`contact_merge_undo`), and both are audited.

Consent is never widened: when both were on one list, the stricter subscription stays (an
unsubscribe beats a subscription, a subscription beats a pending confirmation); a complaint or
a block on either stays on the merged contact, and so does "not followed"
(`tracking_allowed`). A bounce belongs to an address: it stays when the address kept is the one
that bounced.

Rows of other apps. Contacts sits below the apps whose tables point at a contact, so it cannot
name their models. It does not need to: every foreign key to Contact, in any app, is found
through Django's model meta (`Contact._meta.related_objects`) and its rows are moved by one
UPDATE per key, their ids kept for the undo. A new app's table is therefore carried over
without anyone remembering to register it, and a row is never lost to the CASCADE of the
deletion. What the meta cannot see is handed down by the apps above, from their
`AppConfig.ready()`, as a `MergeParticipant`: references that are not foreign keys
(analytics' attributions keep a plain contact id), facts keyed by address rather than by
contact (compliance's suppression list), or a table whose rows must not simply follow
(`claims`). A foreign key whose model has a unique constraint on it cannot be moved blindly
(two rows would collide); such a model must be claimed by a participant, and a test checks that
every one is.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core import serializers
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fidele.contacts.fields import PERSON_FIELDS
from fidele.contacts.models import (
    Contact,
    ContactMerge,
    CustomerNumberAlias,
    Subscription,
)
from fidele.contacts.normalize import name_fold
from fidele.core.actors import Actor, actor_label_for
from fidele.core.audit import audit_record
from fidele.core.models import AuditLog


class MergeRefused(Exception):
    """The merge (or its undo) cannot be done; the message says why, in the reader's language.
    Nothing was written."""


# The fields a person chooses between, in the order the merge page shows them. The customer
# number not chosen becomes an alias, so no number is lost.
CHOSEN_FIELDS: tuple[str, ...] = PERSON_FIELDS
# Chosen together by default, so that a street does not end up with another town's postcode.
ADDRESS_FIELDS: tuple[str, ...] = ("address", "postal_code", "city", "country")

KEPT, ABSORBED = "kept", "absorbed"

# Stricter last. A bounce is about an address (see `_merged_status`); erased contacts are
# never merged (their data is gone).
_STATUS_RANK = {
    Contact.Status.ACTIVE: 0,
    Contact.Status.BOUNCED: 1,
    Contact.Status.COMPLAINED: 2,
    Contact.Status.BLOCKED: 3,
}
# Which of two subscriptions to one list survives: the stricter.
_SUBSCRIPTION_RANK = {
    Subscription.Status.SUBSCRIBED: 0,
    Subscription.Status.UNCONFIRMED: 1,
    Subscription.Status.UNSUBSCRIBED: 2,
}


# --- what the apps above hand down ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MergedPair:
    """What a participant is told about a merge (or its undo)."""

    kept_id: int
    absorbed_id: int
    # The addresses each had before, and the one the merged contact keeps.
    kept_email: str | None
    absorbed_email: str | None
    email: str | None


@dataclass(frozen=True, slots=True)
class MergeParticipant:
    """An app's part in merges: `move(pair)` does it and returns what its undo needs
    (JSON-able), `undo(pair, data)` gives it back. `claims`: model labels
    ("app_label.modelname") whose foreign keys to Contact this participant moves itself; the
    generic move leaves them alone."""

    name: str
    move: Callable[[MergedPair], Any]
    undo: Callable[[MergedPair, Any], None]
    claims: tuple[str, ...] = ()


_participants: dict[str, MergeParticipant] = {}


def merge_participant_register(participant: MergeParticipant) -> None:
    """Called from an app's `ready()`; registering a name twice replaces it."""
    _participants[participant.name] = participant


def merge_participants() -> list[MergeParticipant]:
    return [_participants[name] for name in sorted(_participants)]


# Moved by this module itself, with their own rules.
_OWN = {"contacts.subscription"}


def contact_foreign_keys() -> list[models.ForeignKey]:
    """Every foreign key to Contact, in any installed app (many-to-many fields excluded: the
    tags are this module's own). Hidden relations (`related_name="+"`, as the outbox has) are
    included."""
    return [
        relation.field
        for relation in Contact._meta.get_fields(include_hidden=True)
        if relation.auto_created
        and not relation.concrete
        and (relation.one_to_many or relation.one_to_one)
        # The tags' link table (Django's own): tags are moved by this module.
        and not relation.field.model._meta.auto_created
    ]


def _claimed() -> set[str]:
    return _OWN | {label for p in merge_participants() for label in p.claims}


def _key_label(fk: models.ForeignKey) -> str:
    return f"{fk.model._meta.label_lower}.{fk.name}"


# --- choosing the values -------------------------------------------------------------------


def _empty(value: Any) -> bool:
    return value in (None, "")


_SPELLED_FIELDS = ("first_name", "last_name", "address", "city")


def _better_spelled(candidate: str, current: str) -> bool:
    """Whether `candidate` is `current` written with its accents and in mixed case."""
    if not candidate or not current or candidate == current:
        return False
    if name_fold(candidate) != name_fold(current):
        return False

    def quality(text: str) -> tuple[bool, int]:
        return (not text.isupper(), sum(not ch.isascii() for ch in text))

    return quality(candidate) > quality(current)


def merge_defaults(kept: Contact, absorbed: Contact) -> dict[str, str]:
    """Which contact each field is taken from when nobody chooses (see `merge_choices`)."""
    return merge_choices(
        {name: getattr(kept, name) for name in CHOSEN_FIELDS},
        {name: getattr(absorbed, name) for name in CHOSEN_FIELDS},
    )


def merge_choices(kept: Mapping[str, Any], absorbed: Mapping[str, Any]) -> dict[str, str]:
    """Which side each field is taken from when nobody chooses: the kept side's value, unless it
    has none; the address as one block; a name written better; the earlier "customer since".

    On plain values (a field absent from a mapping is empty): two stored contacts, or two rows
    of one person in a file, which the import folds by these same rules (`merged_values`)."""
    choices = {
        name: ABSORBED if _empty(kept.get(name)) and not _empty(absorbed.get(name)) else KEPT
        for name in CHOSEN_FIELDS
    }
    kept_has_address = any(not _empty(kept.get(n)) for n in ADDRESS_FIELDS if n != "country")
    absorbed_has_address = any(
        not _empty(absorbed.get(n)) for n in ADDRESS_FIELDS if n != "country"
    )
    block = ABSORBED if absorbed_has_address and not kept_has_address else KEPT
    choices.update({name: block for name in ADDRESS_FIELDS})
    # The same name written better: "Hélène" over "HELENE" (a till that typed capitals and
    # dropped the accents), whichever contact is kept.
    for name in _SPELLED_FIELDS:
        if _better_spelled(absorbed.get(name) or "", kept.get(name) or ""):
            choices[name] = ABSORBED
    # Customer since: the earlier of the two.
    kept_joined, absorbed_joined = kept.get("joined_on"), absorbed.get("joined_on")
    if kept_joined and absorbed_joined and absorbed_joined < kept_joined:
        choices["joined_on"] = ABSORBED
    return choices


def _notes_joined(kept: str | None, absorbed: str | None) -> str:
    """Both notes, the kept side's first; the same note twice once."""
    notes = [n for n in (kept, absorbed) if n and n.strip()]
    if len(notes) == 2 and notes[0].strip() == notes[1].strip():
        notes = notes[:1]
    return "\n\n".join(notes)


def merged_values(kept: Mapping[str, Any], absorbed: Mapping[str, Any]) -> dict[str, Any]:
    """One person's values from two sets of them, by `merge_choices`, as a merge would keep
    them: the phone left aside follows the phone chosen, notes are joined, the source is the
    kept side's. What the import keeps when a file holds the same person twice; only fields
    with a value are returned."""
    choices = merge_choices(kept, absorbed)
    values: dict[str, Any] = {}
    for name in CHOSEN_FIELDS:
        value = (absorbed if choices[name] == ABSORBED else kept).get(name)
        if not _empty(value):
            values[name] = value
    if choices["phone"] == ABSORBED or not kept.get("phone") and not kept.get("phone_invalid"):
        phone_invalid = absorbed.get("phone_invalid")
    else:
        phone_invalid = kept.get("phone_invalid")
    if phone_invalid:
        values["phone_invalid"] = phone_invalid
    notes = _notes_joined(kept.get("notes"), absorbed.get("notes"))
    if notes:
        values["notes"] = notes
    source = kept.get("source") or absorbed.get("source")
    if source:
        values["source"] = source
    return values


def _merged_status(kept: Contact, absorbed: Contact, email: str | None) -> str:
    def effective(contact: Contact) -> str:
        # A bounce says an address does not work: it follows the address, not the person.
        if contact.status == Contact.Status.BOUNCED and contact.email != email:
            return Contact.Status.ACTIVE
        return contact.status

    return max(effective(kept), effective(absorbed), key=lambda s: _STATUS_RANK.get(s, 0))


def _merged_values(
    kept: Contact, absorbed: Contact, choices: Mapping[str, str]
) -> tuple[dict[str, Any], str | None]:
    """The kept contact's new values, and the customer number that becomes an alias."""
    values: dict[str, Any] = {}
    for name in CHOSEN_FIELDS:
        source = absorbed if choices.get(name) == ABSORBED else kept
        values[name] = getattr(source, name)
    if choices.get("phone") == ABSORBED or not kept.phone and not kept.phone_invalid:
        values["phone_invalid"] = absorbed.phone_invalid
    values["status"] = _merged_status(kept, absorbed, values["email"])
    values["tracking_allowed"] = kept.tracking_allowed and absorbed.tracking_allowed
    values["notes"] = _notes_joined(kept.notes, absorbed.notes)
    values["attributes"] = {**(absorbed.attributes or {}), **(kept.attributes or {})}
    numbers = [n for n in (kept.external_id, absorbed.external_id) if n]
    alias = next((n for n in numbers if n != values["external_id"]), None)
    return values, alias


# --- snapshots -----------------------------------------------------------------------------


def _generated(model: type[models.Model]) -> set[str]:
    return {f.name for f in model._meta.concrete_fields if isinstance(f, models.GeneratedField)}


def _snapshot(objs: Iterable[models.Model]) -> list[dict[str, Any]]:
    """Rows as Django serialises them (JSON-able, many-to-many included), generated columns
    left out: the database computes them again."""
    # The "python" serialiser, then JSON with full precision: the "json" one rounds times to
    # the millisecond, and an undo must give back the same values.
    data = json.loads(json.dumps(serializers.serialize("python", objs), default=_plain))
    for item in data:
        model = Contact if item["model"] == "contacts.contact" else None
        for name in _generated(model) if model else ():
            item["fields"].pop(name, None)
    return data


def _plain(value: Any) -> str:
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)  # Decimal, UUID


def _restore(data: list[dict[str, Any]]) -> None:
    for obj in serializers.deserialize("python", data):
        obj.save()


# --- the merge -----------------------------------------------------------------------------


def _locked_pair(kept_id: int, absorbed_id: int) -> tuple[Contact, Contact]:
    if kept_id == absorbed_id:
        raise MergeRefused(_("A contact cannot be merged with itself."))
    found = {
        c.pk: c for c in Contact.objects.select_for_update().filter(pk__in=[kept_id, absorbed_id])
    }
    if len(found) < 2:
        raise MergeRefused(
            _(
                "One of these contacts no longer exists: it was deleted or already merged into "
                "another one."
            )
        )
    kept, absorbed = found[kept_id], found[absorbed_id]
    if Contact.Status.ERASED in (kept.status, absorbed.status):
        raise MergeRefused(_("An erased contact cannot be merged: its data is gone."))
    return kept, absorbed


def _subscriptions_merge(kept: Contact, absorbed: Contact) -> tuple[list[int], list[dict]]:
    """Move the absorbed contact's subscriptions; where both are on one list, keep the stricter
    row (with its own proof) and drop the other. Returns the moved ids and the dropped rows."""
    kept_rows = {s.mailing_list_id: s for s in Subscription.objects.filter(contact=kept)}
    moved: list[int] = []
    dropped: list[Subscription] = []
    for row in Subscription.objects.filter(contact=absorbed):
        other = kept_rows.get(row.mailing_list_id)
        if other is None:
            moved.append(row.pk)
        elif _SUBSCRIPTION_RANK.get(row.status, 0) > _SUBSCRIPTION_RANK.get(other.status, 0):
            dropped.append(other)
            moved.append(row.pk)
        else:
            dropped.append(row)
    snapshot = _snapshot(dropped)
    Subscription.objects.filter(pk__in=[s.pk for s in dropped]).delete()
    Subscription.objects.filter(pk__in=moved).update(contact=kept)
    return moved, snapshot


def _rows_move(kept: Contact, absorbed: Contact) -> dict[str, list[int]]:
    claimed = _claimed()
    moved: dict[str, list[int]] = {}
    for fk in contact_foreign_keys():
        if fk.model._meta.label_lower in claimed:
            continue
        rows = fk.model._default_manager.filter(**{fk.name: absorbed.pk})
        ids = list(rows.values_list("pk", flat=True))
        if ids:
            _update_in_chunks(fk, ids, frm=absorbed.pk, to=kept.pk)
            moved[_key_label(fk)] = ids
    return moved


# A contact can have tens of thousands of email events; SQLite bounds a statement's parameters.
_CHUNK = 900


def _update_in_chunks(fk: models.ForeignKey, ids: list[int], *, frm: int, to: int) -> None:
    manager = fk.model._default_manager
    for start in range(0, len(ids), _CHUNK):
        manager.filter(pk__in=ids[start : start + _CHUNK], **{fk.name: frm}).update(**{fk.name: to})


@transaction.atomic
def contacts_merge(
    *,
    actor: Actor,
    kept_id: int,
    absorbed_id: int,
    choices: Mapping[str, str] | None = None,
) -> ContactMerge:
    """Fold the contact `absorbed_id` into `kept_id` (see the module's docstring).

    `choices` maps a field of CHOSEN_FIELDS to KEPT or ABSORBED, the contact whose value the
    merged contact takes; a field not named takes `merge_defaults`. Raises MergeRefused (nothing
    written) for a contact merged with itself, one that no longer exists or an erased one."""
    kept, absorbed = _locked_pair(int(kept_id), int(absorbed_id))
    chosen = {**merge_defaults(kept, absorbed), **_valid_choices(choices or {})}
    values, alias = _merged_values(kept, absorbed, chosen)
    pair = MergedPair(
        kept_id=kept.pk,
        absorbed_id=absorbed.pk,
        kept_email=kept.email,
        absorbed_email=absorbed.email,
        email=values["email"],
    )
    absorbed_snapshot = _snapshot([absorbed])[0]
    kept_before = {k: v for k, v in _snapshot([kept])[0]["fields"].items() if k != "tags"}

    tags_added = list(
        absorbed.tags.exclude(pk__in=kept.tags.values("pk")).values_list("pk", flat=True)
    )
    subscriptions_moved, subscriptions_dropped = _subscriptions_merge(kept, absorbed)
    moved = _rows_move(kept, absorbed)
    if subscriptions_moved:
        moved["contacts.subscription.contact"] = subscriptions_moved
    participants = {p.name: p.move(pair) for p in merge_participants()}
    # Nothing points at the absorbed contact any more: its deletion cascades to its tag links
    # only (kept in its snapshot).
    absorbed.delete()

    for name, value in values.items():
        setattr(kept, name, value)
    kept.save()
    kept.tags.add(*tags_added)
    aliases_added = []
    if alias:
        aliases_added.append(CustomerNumberAlias.objects.create(contact=kept, number=alias).pk)

    merge = ContactMerge.objects.create(
        kept_contact_id=kept.pk,
        absorbed_contact_id=pair.absorbed_id,
        absorbed=absorbed_snapshot,
        kept_before=kept_before,
        moved=moved,
        subscriptions_dropped=subscriptions_dropped,
        tags_added=tags_added,
        aliases_added=aliases_added,
        participants=participants,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        actor_label=actor_label_for(actor),
    )
    counts = {label: len(ids) for label, ids in moved.items()}
    absorbed_name = _name_of(absorbed_snapshot["fields"], pair.absorbed_id)
    audit_record(
        actor=actor,
        action=AuditLog.Action.MERGE,
        obj=kept,
        changes={
            "merge_id": merge.pk,
            "absorbed_id": pair.absorbed_id,
            "absorbed": absorbed_name,
            "fields": {k: v for k, v in chosen.items() if v == ABSORBED},
            "alias_added": alias,
            "rows_moved": counts,
        },
    )
    audit_record(
        actor=actor,
        action=AuditLog.Action.MERGE,
        object_type="contacts.contact",
        object_id=pair.absorbed_id,
        object_repr=absorbed_name,
        changes={"merge_id": merge.pk, "merged_into": kept.pk},
    )
    return merge


def _valid_choices(choices: Mapping[str, str]) -> dict[str, str]:
    return {
        name: side
        for name, side in choices.items()
        if name in CHOSEN_FIELDS and side in (KEPT, ABSORBED)
    }


def _name_of(fields: Mapping[str, Any], pk: int) -> str:
    name = " ".join(p for p in (fields.get("first_name"), fields.get("last_name")) if p)
    return (name or fields.get("email") or fields.get("external_id") or f"#{pk}")[:200]


# --- undo ----------------------------------------------------------------------------------


@transaction.atomic
def contact_merge_undo(*, actor: Actor, merge_id: int) -> Contact:
    """Put the absorbed contact back as it was (same id), with every row the merge gave the
    kept contact, and the kept contact's fields as they were; returns the contact put back.

    Raises MergeRefused when the merge was undone already, when the kept contact was deleted or
    merged into another since (undo that first), or when the absorbed contact's email or
    customer number now belongs to someone else."""
    merge = ContactMerge.objects.select_for_update().filter(pk=merge_id).first()
    if merge is None:
        raise MergeRefused(_("This merge does not exist."))
    if merge.undone_at is not None:
        raise MergeRefused(_("This merge was already undone."))
    kept = Contact.objects.select_for_update().filter(pk=merge.kept_contact_id).first()
    if kept is None:
        raise MergeRefused(
            _(
                "The contact kept by this merge was deleted or merged into another contact "
                "since; undo that first."
            )
        )
    if Contact.objects.filter(pk=merge.absorbed_contact_id).exists():
        raise MergeRefused(_("The merged contact exists again: nothing to undo."))
    fields = merge.absorbed["fields"]
    absorbed_email = fields.get("email")
    pair = MergedPair(
        kept_id=kept.pk,
        absorbed_id=merge.absorbed_contact_id,
        kept_email=merge.kept_before.get("email"),
        absorbed_email=absorbed_email,
        email=kept.email,
    )
    # The kept contact's own values first: it may hold the absorbed contact's address.
    CustomerNumberAlias.objects.filter(pk__in=merge.aliases_added, contact=kept).delete()
    before = {"model": "contacts.contact", "pk": kept.pk, "fields": merge.kept_before}
    restored_kept = next(serializers.deserialize("python", [before])).object
    for name in merge.kept_before:
        if name not in _generated(Contact):
            setattr(kept, name, getattr(restored_kept, name))
    _refuse_taken(kept, fields)
    kept.save()

    _restore([merge.absorbed])
    kept.tags.remove(*merge.tags_added)
    by_key = {_key_label(fk): fk for fk in contact_foreign_keys()}
    for label, ids in merge.moved.items():
        fk = by_key.get(label)
        if fk is not None:
            _update_in_chunks(fk, ids, frm=kept.pk, to=merge.absorbed_contact_id)
    _restore(merge.subscriptions_dropped)
    for participant in merge_participants():
        if participant.name in merge.participants:
            participant.undo(pair, merge.participants[participant.name])

    merge.undone_at = timezone.now()
    merge.save(update_fields=["undone_at"])
    absorbed = Contact.objects.get(pk=merge.absorbed_contact_id)
    for obj, other in ((kept, absorbed.pk), (absorbed, kept.pk)):
        audit_record(
            actor=actor,
            action=AuditLog.Action.UNMERGE,
            obj=obj,
            changes={"merge_id": merge.pk, "other_contact_id": other},
        )
    return absorbed


def _refuse_taken(kept: Contact, fields: Mapping[str, Any]) -> None:
    """The absorbed contact's email and customer number must be free to be given back."""
    email, number = fields.get("email"), fields.get("external_id")
    others = Contact.objects.exclude(pk=kept.pk)
    if (email and (kept.email == email or others.filter(email=email).exists())) or (
        number
        and (
            kept.external_id == number
            or others.filter(external_id=number).exists()
            or CustomerNumberAlias.objects.filter(number=number).exists()
        )
    ):
        raise MergeRefused(
            _(
                "The merged contact's email address or customer number has been given to a "
                "contact since: change it there first."
            )
        )


# --- for the pages -------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldChoice:
    name: str
    label: str
    kept: Any
    absorbed: Any
    chosen: str
    same: bool = field(default=False)

    @property
    def sides(self) -> list[tuple[str, Any]]:
        return [(KEPT, self.kept), (ABSORBED, self.absorbed)]


def merge_field_choices(kept: Contact, absorbed: Contact) -> list[FieldChoice]:
    """The side-by-side rows of the merge page, each with its default choice."""
    defaults = merge_defaults(kept, absorbed)
    rows = []
    for name in CHOSEN_FIELDS:
        a, b = getattr(kept, name), getattr(absorbed, name)
        rows.append(
            FieldChoice(
                name=name,
                label=str(Contact._meta.get_field(name).verbose_name),
                kept=a,
                absorbed=b,
                chosen=defaults[name],
                same=(a or None) == (b or None),
            )
        )
    return rows


def merges_recent(*, limit: int = 10) -> list[ContactMerge]:
    """The latest merges not undone, newest first (those a person may still undo)."""
    return list(
        ContactMerge.objects.filter(undone_at__isnull=True).order_by("-created_at", "-id")[:limit]
    )
