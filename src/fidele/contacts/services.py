"""Writes to contacts, tags, lists and subscriptions made by a user. Each one is audited."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fidele.contacts.consent import (
    ConsentProof,
    Method,
    subscriptions_subscribe,
    subscriptions_unsubscribe,
)
from fidele.contacts.fields import WRITABLE_FIELDS
from fidele.contacts.models import Contact, MailingList, Subscription, Tag
from fidele.contacts.normalize import (
    InvalidValue,
    color_clean,
    email_clean,
    phone_clean,
)
from fidele.core.actors import Actor, actor_label_for
from fidele.core.audit import audit_record, audit_record_many, model_changes
from fidele.core.models import AuditLog

# --- contacts ------------------------------------------------------------------------------


def _clean_contact_data(data: dict[str, Any]) -> dict[str, Any]:
    cleaned = {key: value for key, value in data.items() if key in WRITABLE_FIELDS}
    if "email" in cleaned:
        cleaned["email"] = email_clean(cleaned["email"])
    if "phone" in cleaned:
        cleaned["phone"] = phone_clean(cleaned["phone"])
    if "external_id" in cleaned:
        cleaned["external_id"] = (cleaned["external_id"] or "").strip() or None
    for key in ("first_name", "last_name", "address", "postal_code", "city", "source"):
        if key in cleaned and isinstance(cleaned[key], str):
            cleaned[key] = cleaned[key].strip()
    if "country" in cleaned and isinstance(cleaned["country"], str):
        cleaned["country"] = cleaned["country"].strip().upper()
    return cleaned


@transaction.atomic
def contact_create(*, actor: Actor, data: dict[str, Any]) -> Contact:
    cleaned = _clean_contact_data(data)
    contact = Contact(**cleaned)
    if not contact.source:
        contact.source = "manual"
    contact.full_clean()
    contact.save()
    audit_record(
        actor=actor,
        action=AuditLog.Action.CREATE,
        obj=contact,
        changes={key: [None, value] for key, value in _jsonable_fields(contact, cleaned).items()},
    )
    return contact


class EditConflict(Exception):
    """Someone else changed a field since the form was opened, to another value than this
    user's. Nothing was written; `fields` holds the values now stored, `contact` the contact as
    it is now."""

    def __init__(self, *, contact: Contact, fields: dict[str, Any]):
        super().__init__(", ".join(fields))
        self.contact = contact
        self.fields = fields


def _same(a: Any, b: Any) -> bool:
    # A form gives "" where the database holds None (no customer number, no date).
    return (None if a == "" else a) == (None if b == "" else b)


@transaction.atomic
def contact_update(
    *,
    actor: Actor,
    contact: Contact,
    data: dict[str, Any],
    opened: dict[str, Any] | None = None,
) -> Contact:
    """Write the fields in `data`, and only those: two people editing one contact at once
    each save what they changed, not the whole form they were shown (which would put back
    the other's older values).

    `opened` holds what those fields were when the user's form was opened. A field someone
    else changed since, to another value than this user's, is a real conflict: nothing is
    written and EditConflict names the fields, so that the user decides (an edit never
    silently undoes another).
    """
    values = _clean_contact_data(data)
    if opened is None:
        return _update_audited(actor=actor, obj=contact, values=values)
    # Locked until the end of the transaction: the check and the write see the same row.
    current = Contact.objects.select_for_update().get(pk=contact.pk)
    conflicts = {
        name: getattr(current, name)
        for name, value in values.items()
        if name in opened
        and not _same(getattr(current, name), opened[name])
        and not _same(getattr(current, name), value)
    }
    if conflicts:
        raise EditConflict(contact=current, fields=conflicts)
    return _update_audited(actor=actor, obj=current, values=values)


def _update_audited(*, actor: Actor, obj: Any, values: dict[str, Any]) -> Any:
    """Set the values that differ, validate, save, and audit the change; nothing when none."""
    changes = model_changes(obj, values)
    if not changes:
        return obj
    for key, value in values.items():
        setattr(obj, key, value)
    obj.full_clean()
    obj.save()
    audit_record(actor=actor, action=AuditLog.Action.UPDATE, obj=obj, changes=changes)
    return obj


def _create_audited(*, actor: Actor, model: type, values: dict[str, Any]) -> Any:
    obj = model.objects.create(**values)
    audit_record(
        actor=actor,
        action=AuditLog.Action.CREATE,
        obj=obj,
        changes={key: [None, value] for key, value in values.items()},
    )
    return obj


def _name_free(model: type, name: str, *, message: str, exclude_pk: int | None = None) -> None:
    """Names of tags and lists are unique whatever the case: people pick them from menus."""
    if model.objects.filter(name__iexact=name).exclude(pk=exclude_pk).exists():
        raise InvalidValue(message)


@transaction.atomic
def contact_delete(*, actor: Actor, contact: Contact) -> None:
    # The audit entry keeps who deleted whom, not the person's data: the trail must not become
    # a copy of what an erasure request removes.
    audit_record(
        actor=actor,
        action=AuditLog.Action.DELETE,
        obj=contact,
        object_repr=f"#{contact.pk}",
    )
    contact.delete()


def _jsonable_fields(contact: Contact, cleaned: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key in cleaned:
        value = getattr(contact, key)
        if value in (None, "", {}):
            continue
        out[key] = value if isinstance(value, (str, int, float, bool, dict, list)) else str(value)
    return out


# --- corrections in bulk (the data-quality plan) ------------------------------------------

# (contact id, value before, value after)
FieldChange = tuple[int, str, str]


@transaction.atomic
def contacts_emails_replace(
    *, actor: Actor, replacements: Mapping[int, tuple[str, str]], reason: str
) -> list[FieldChange]:
    """Give each contact `{id: (old, new)}` its new address, where its address is still `old`
    (someone may have edited it since) and no other contact holds `new` (that would be the same
    person twice: a duplicate to merge, not an address to overwrite). Each contact's change is
    audited with `reason`. Returns the changes made; an undo passes them back reversed."""
    changed = _field_replace(
        field="email", replacements=replacements, taken=_emails_taken(replacements)
    )
    _bulk_audited(actor=actor, field="email", changes=changed, reason=reason)
    return changed


def _emails_taken(replacements: Mapping[int, tuple[str, str]]) -> set[str]:
    wanted = {new for _old, new in replacements.values()}
    return set(Contact.objects.filter(email__in=wanted).values_list("email", flat=True))


@transaction.atomic
def contacts_status_replace(
    *, actor: Actor, replacements: Mapping[int, tuple[str, str]], reason: str
) -> list[FieldChange]:
    """Set each contact's status `{id: (old, new)}` where it is still `old`; audited with
    `reason`. Returns the changes made."""
    for _old, new in replacements.values():
        if new not in Contact.Status.values:
            raise InvalidValue(f"unknown status {new!r}")
    changed = _field_replace(field="status", replacements=replacements, taken=set())
    _bulk_audited(actor=actor, field="status", changes=changed, reason=reason)
    return changed


def _field_replace(
    *, field: str, replacements: Mapping[int, tuple[str, str]], taken: set[str]
) -> list[FieldChange]:
    # Locked until the end of the transaction: what is checked is what is written over.
    current = dict(
        Contact.objects.select_for_update()
        .filter(pk__in=list(replacements))
        .values_list("pk", field)
    )
    changes: list[FieldChange] = []
    for pk, (old, new) in sorted(replacements.items()):
        if current.get(pk) != old or new in taken:
            continue
        if field == "email":
            taken.add(new)  # two addresses corrected into one: the first keeps it
        changes.append((pk, old, new))
    now = timezone.now()
    Contact.objects.bulk_update(
        [Contact(pk=pk, **{field: new, "updated_at": now}) for pk, _old, new in changes],
        [field, "updated_at"],
        batch_size=500,
    )
    return changes


def _bulk_audited(*, actor: Actor, field: str, changes: list[FieldChange], reason: str) -> None:
    names = {
        pk: Contact(pk=pk, first_name=first, last_name=last, email=email, external_id=number)
        for pk, first, last, email, number in Contact.objects.filter(
            pk__in=[pk for pk, _old, _new in changes]
        ).values_list("pk", "first_name", "last_name", "email", "external_id")
    }
    audit_record_many(
        actor=actor,
        action=AuditLog.Action.UPDATE,
        object_type=Contact._meta.label_lower,
        entries=(
            (pk, str(names.get(pk, f"#{pk}")), {field: [old, new], "reason": reason})
            for pk, old, new in changes
        ),
    )


# --- tags on a contact ---------------------------------------------------------------------


@transaction.atomic
def contact_tag_add(*, actor: Actor, contact: Contact, tag: Tag) -> bool:
    """Tag the contact; False when it already had the tag (nothing written)."""
    if contact.tags.filter(pk=tag.pk).exists():
        return False
    contact.tags.add(tag)
    audit_record(
        actor=actor, action=AuditLog.Action.UPDATE, obj=contact, changes={"tag_added": tag.name}
    )
    return True


@transaction.atomic
def contact_tag_remove(*, actor: Actor, contact: Contact, tag: Tag) -> bool:
    if not contact.tags.filter(pk=tag.pk).exists():
        return False
    contact.tags.remove(tag)
    audit_record(
        actor=actor, action=AuditLog.Action.UPDATE, obj=contact, changes={"tag_removed": tag.name}
    )
    return True


# --- subscriptions by hand -----------------------------------------------------------------


@transaction.atomic
def contact_subscribe(
    *, actor: Actor, contact: Contact, mailing_list: MailingList, note: str = ""
) -> Subscription:
    """Subscribe by hand: the proof is who confirmed holding the consent, and when."""
    proof = ConsentProof.by(actor, method=Method.MANUAL, note=note[:500])
    changed = subscriptions_subscribe(
        actor=actor, contact=contact, mailing_list_ids=[mailing_list.pk], proof=proof
    )
    if not changed:
        return Subscription.objects.get(contact=contact, mailing_list=mailing_list)
    subscription, old_status = changed[0].subscription, changed[0].old_status
    audit_record(
        actor=actor,
        action=AuditLog.Action.SUBSCRIBE,
        obj=contact,
        changes={
            "list": mailing_list.name,
            "list_id": mailing_list.pk,
            "status": [old_status, subscription.status],
        },
    )
    return subscription


@transaction.atomic
def contact_unsubscribe(
    *, actor: Actor, contact: Contact, mailing_list: MailingList
) -> Subscription | None:
    """Unsubscribe by hand. The consent proof stays: it shows what the contact had agreed to."""
    changed = subscriptions_unsubscribe(
        actor=actor, contact_ids=[contact.pk], mailing_list_ids=[mailing_list.pk]
    )
    if not changed:
        return Subscription.objects.filter(contact=contact, mailing_list=mailing_list).first()
    subscription, old_status = changed[0].subscription, changed[0].old_status
    audit_record(
        actor=actor,
        action=AuditLog.Action.UNSUBSCRIBE,
        obj=contact,
        changes={
            "list": mailing_list.name,
            "list_id": mailing_list.pk,
            "status": [old_status, subscription.status],
            "by": actor_label_for(actor),
        },
    )
    return subscription


# --- tags ----------------------------------------------------------------------------------


def _tag_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidValue(_("A tag needs a name."))
    return name[:80]


@transaction.atomic
def tag_create(*, actor: Actor, name: str, color: str = "") -> Tag:
    values = {"name": _tag_name(name), "color": color_clean(color)}
    _name_free(Tag, values["name"], message=_("A tag with this name already exists."))
    return _create_audited(actor=actor, model=Tag, values=values)


@transaction.atomic
def tag_update(*, actor: Actor, tag: Tag, name: str, color: str = "") -> Tag:
    values = {"name": _tag_name(name), "color": color_clean(color or tag.color)}
    _name_free(
        Tag, values["name"], message=_("A tag with this name already exists."), exclude_pk=tag.pk
    )
    return _update_audited(actor=actor, obj=tag, values=values)


@transaction.atomic
def tag_delete(*, actor: Actor, tag: Tag) -> None:
    count = tag.contacts.count()
    audit_record(
        actor=actor, action=AuditLog.Action.DELETE, obj=tag, changes={"contacts_untagged": count}
    )
    tag.delete()


# --- lists ---------------------------------------------------------------------------------


def _list_values(
    name: str, description: str, double_opt_in: bool, tracking: bool
) -> dict[str, Any]:
    name = (name or "").strip()
    if not name:
        raise InvalidValue(_("A list needs a name."))
    return {
        "name": name[:120],
        "description": (description or "").strip(),
        "double_opt_in": bool(double_opt_in),
        "tracking": bool(tracking),
    }


@transaction.atomic
def list_create(
    *,
    actor: Actor,
    name: str,
    description: str = "",
    double_opt_in: bool = False,
    tracking: bool = True,
) -> MailingList:
    values = _list_values(name, description, double_opt_in, tracking)
    _name_free(MailingList, values["name"], message=_("A list with this name already exists."))
    return _create_audited(actor=actor, model=MailingList, values=values)


@transaction.atomic
def list_update(
    *,
    actor: Actor,
    mailing_list: MailingList,
    name: str,
    description: str = "",
    double_opt_in: bool = False,
    tracking: bool = True,
) -> MailingList:
    values = _list_values(name, description, double_opt_in, tracking)
    _name_free(
        MailingList,
        values["name"],
        message=_("A list with this name already exists."),
        exclude_pk=mailing_list.pk,
    )
    return _update_audited(actor=actor, obj=mailing_list, values=values)


@transaction.atomic
def list_delete(*, actor: Actor, mailing_list: MailingList) -> None:
    count = mailing_list.subscriptions.count()
    audit_record(
        actor=actor,
        action=AuditLog.Action.DELETE,
        obj=mailing_list,
        changes={"subscriptions_deleted": count},
    )
    mailing_list.delete()


# --- many contacts at once (a segment's bulk actions) --------------------------------------

# Ids per statement: SQLite bounds a statement's parameters.
_BULK_CHUNK = 900


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[start : start + _BULK_CHUNK] for start in range(0, len(ids), _BULK_CHUNK)]


@transaction.atomic
def contacts_tag_add(*, actor: Actor, contact_ids: list[int], tag: Tag) -> int:
    """Tag every contact of `contact_ids` that does not have the tag yet; one audit line on
    each contact tagged. Returns how many were tagged."""
    through = Contact.tags.through
    tagged = 0
    for chunk in _chunks(sorted(set(contact_ids))):
        having = set(
            through.objects.filter(tag_id=tag.pk, contact_id__in=chunk).values_list(
                "contact_id", flat=True
            )
        )
        new = [contact_id for contact_id in chunk if contact_id not in having]
        through.objects.bulk_create([through(contact_id=cid, tag_id=tag.pk) for cid in new])
        audit_record_many(
            actor=actor,
            action=AuditLog.Action.UPDATE,
            object_type="contacts.contact",
            entries=[(cid, f"#{cid}", {"tag_added": tag.name}) for cid in new],
        )
        tagged += len(new)
    return tagged


@transaction.atomic
def contacts_tag_remove(*, actor: Actor, contact_ids: list[int], tag: Tag) -> int:
    """Untag every contact of `contact_ids` that has the tag; one audit line on each."""
    through = Contact.tags.through
    untagged = 0
    for chunk in _chunks(sorted(set(contact_ids))):
        rows = through.objects.filter(tag_id=tag.pk, contact_id__in=chunk)
        having = list(rows.values_list("contact_id", flat=True))
        rows.delete()
        audit_record_many(
            actor=actor,
            action=AuditLog.Action.UPDATE,
            object_type="contacts.contact",
            entries=[(cid, f"#{cid}", {"tag_removed": tag.name}) for cid in having],
        )
        untagged += len(having)
    return untagged


@transaction.atomic
def contacts_subscribe_with_proof(
    *, actor: Actor, contact_ids: list[int], mailing_list: MailingList, proof: ConsentProof
) -> int:
    """Subscribe the contacts to the list on one proof the user gave (how and when these people
    agreed). A contact already on the list, whatever its status, is left as it is: someone who
    unsubscribed is never subscribed again by a bulk action. One audit line on each contact
    subscribed."""
    from fidele.contacts.consent import subscriptions_add_with_proof

    ids = sorted(set(contact_ids))
    already: set[int] = set()
    for chunk in _chunks(ids):
        already.update(
            Subscription.objects.filter(
                mailing_list=mailing_list, contact_id__in=chunk
            ).values_list("contact_id", flat=True)
        )
    new = [cid for cid in ids if cid not in already]
    written = subscriptions_add_with_proof(
        actor=actor,
        mailing_list_id=mailing_list.pk,
        proof=proof,
        entries=[(cid, None, None) for cid in new],
    )
    audit_record_many(
        actor=actor,
        action=AuditLog.Action.SUBSCRIBE,
        object_type="contacts.contact",
        entries=[
            (cid, f"#{cid}", {"list": mailing_list.name, "proof": proof.as_json()}) for cid in new
        ],
    )
    return written


@transaction.atomic
def contacts_delete(*, actor: Actor, contact_ids: list[int]) -> int:
    """Delete the contacts (and what hangs on them), each audited as `contact_delete` does: who
    deleted whom, not the person's data."""
    deleted = 0
    for chunk in _chunks(sorted(set(contact_ids))):
        present = list(Contact.objects.filter(pk__in=chunk).values_list("pk", flat=True))
        audit_record_many(
            actor=actor,
            action=AuditLog.Action.DELETE,
            object_type="contacts.contact",
            entries=[(cid, f"#{cid}", {}) for cid in present],
        )
        Contact.objects.filter(pk__in=present).delete()
        deleted += len(present)
    return deleted
