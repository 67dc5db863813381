"""Writes of the segments app: saved segments, their daily size, freezing one, and the bulk
actions on a segment's contacts (through contacts' own services). Each one is audited."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fidele.contacts import services as contact_services
from fidele.contacts.consent import ConsentProof, Method
from fidele.contacts.models import MailingList, Tag
from fidele.core.actors import Actor
from fidele.core.audit import audit_record
from fidele.core.models import AuditLog
from fidele.segments.models import Segment, SegmentSize
from fidele.segments.rules import RuleError, rule_check, segment_contacts


class SegmentError(ValueError):
    """A segment that cannot be saved or acted on, with a message for the user."""


def _values(name: str, rules: Any) -> str:
    name = (name or "").strip()
    if not name:
        raise SegmentError(_("A segment needs a name."))
    rule_check(rules)  # RuleError, with the path of what is wrong
    return name[:120]


def segment_create(*, actor: Actor, name: str, rules: Any, description: str = "") -> Segment:
    name = _values(name, rules)
    try:
        with transaction.atomic():
            segment = Segment.objects.create(
                name=name,
                rules=rules,
                description=description,
                created_by=actor if getattr(actor, "is_authenticated", False) else None,
            )
            audit_record(
                actor=actor, action=AuditLog.Action.CREATE, obj=segment, changes={"rules": rules}
            )
    except IntegrityError:
        raise SegmentError(_("A segment with this name already exists.")) from None
    return segment


def segment_for_rule(*, actor: Actor, name: str, rules: Any) -> Segment:
    """The saved segment named `name` for `rules` (an RFM segment, a persona): the one saved
    before when it still holds these rules, else a new one (named "name (2)"... when the name
    was since given to other rules)."""
    for attempt in range(1, 20):
        candidate = name if attempt == 1 else f"{name} ({attempt})"
        existing = Segment.objects.filter(name=candidate).first()
        if existing is None:
            return segment_create(actor=actor, name=candidate, rules=rules)
        if existing.rules == rules:
            return existing
    raise SegmentError(_("A segment with this name already exists."))


def segment_update(
    *, actor: Actor, segment: Segment, name: str, rules: Any, description: str = ""
) -> Segment:
    name = _values(name, rules)
    if Segment.objects.filter(name=name).exclude(pk=segment.pk).exists():
        raise SegmentError(_("A segment with this name already exists."))
    with transaction.atomic():
        changes = {}
        if segment.name != name:
            changes["name"] = [segment.name, name]
        if segment.rules != rules:
            changes["rules"] = [segment.rules, rules]
        segment.name, segment.rules, segment.description = name, rules, description
        segment.save()
        audit_record(actor=actor, action=AuditLog.Action.UPDATE, obj=segment, changes=changes)
    return segment


@transaction.atomic
def segment_delete(*, actor: Actor, segment: Segment) -> None:
    audit_record(actor=actor, action=AuditLog.Action.DELETE, obj=segment)
    segment.delete()


def segment_member_ids(segment: Segment) -> list[int]:
    """The ids of the segment's contacts now (RuleError when its rule no longer runs)."""
    return list(segment_contacts(segment.rules).order_by("pk").values_list("pk", flat=True))


def segment_sizes_record(*, day: Any = None) -> dict[int, int]:
    """Count every segment once for `day` (today by default), replacing that day's count: the
    daily job. A rule that cannot run any more is recorded with its reason and size 0."""
    day = day or timezone.localdate()
    sizes = {}
    for segment in Segment.objects.order_by("pk"):
        try:
            size, problem = segment_contacts(segment.rules).order_by().count(), ""
        except RuleError as exc:
            size, problem = 0, str(exc)[:300]
        SegmentSize.objects.update_or_create(
            segment=segment, day=day, defaults={"size": size, "problem": problem}
        )
        sizes[segment.pk] = size
    return sizes


def _audit_bulk(actor: Actor, segment: Segment, action: str, **changes: Any) -> None:
    audit_record(
        actor=actor,
        action=AuditLog.Action.UPDATE if action != "delete" else AuditLog.Action.DELETE,
        obj=segment,
        changes={"bulk": action, **changes},
    )


def segment_tag(*, actor: Actor, segment: Segment, tag: Tag) -> int:
    """Tag the segment's contacts (each audited on its contact, the whole on the segment)."""
    with transaction.atomic():
        count = contact_services.contacts_tag_add(
            actor=actor, contact_ids=segment_member_ids(segment), tag=tag
        )
        _audit_bulk(actor, segment, "tag", tag=tag.name, contacts=count)
    return count


def segment_untag(*, actor: Actor, segment: Segment, tag: Tag) -> int:
    with transaction.atomic():
        count = contact_services.contacts_tag_remove(
            actor=actor, contact_ids=segment_member_ids(segment), tag=tag
        )
        _audit_bulk(actor, segment, "untag", tag=tag.name, contacts=count)
    return count


def segment_freeze(*, actor: Actor, segment: Segment, tag_name: str) -> tuple[Tag, int]:
    """Keep who is in the segment now under a new tag (a static copy that later changes of the
    rule or of the data leave alone). A tag, never a list: a list membership is a subscription,
    which only the person's consent may create (adding to a list is the bulk action that asks
    for a proof of it)."""
    name = (tag_name or "").strip()[:80]
    if not name:
        raise SegmentError(_("The tag needs a name."))
    if Tag.objects.filter(name__iexact=name).exists():
        raise SegmentError(_("A tag with this name already exists: choose a new name."))
    with transaction.atomic():
        tag = contact_services.tag_create(actor=actor, name=name)
        count = contact_services.contacts_tag_add(
            actor=actor, contact_ids=segment_member_ids(segment), tag=tag
        )
        _audit_bulk(actor, segment, "freeze", tag=tag.name, contacts=count)
    return tag, count


def segment_subscribe(
    *, actor: Actor, segment: Segment, mailing_list: MailingList, how: str, ip: str = ""
) -> int:
    """Subscribe the segment's contacts that have an email to the list, on the user's statement
    of how these people agreed (`how`, required: kept as the proof). Contacts already on the
    list, unsubscribed ones included, are left as they are."""
    how = (how or "").strip()
    if not how:
        raise SegmentError(_("Say how these people agreed to receive this list's emails."))
    proof = ConsentProof.by(
        actor, method=Method.MANUAL, note=how[:500], ip=ip, confirmed_by_user=True
    )
    ids = list(
        segment_contacts(segment.rules)
        .filter(email__isnull=False)
        .exclude(email="")
        .values_list("pk", flat=True)
    )
    with transaction.atomic():
        count = contact_services.contacts_subscribe_with_proof(
            actor=actor, contact_ids=ids, mailing_list=mailing_list, proof=proof
        )
        _audit_bulk(actor, segment, "subscribe", list=mailing_list.name, contacts=count)
    return count


def segment_contacts_delete(*, actor: Actor, segment: Segment) -> int:
    with transaction.atomic():
        count = contact_services.contacts_delete(
            actor=actor, contact_ids=segment_member_ids(segment)
        )
        _audit_bulk(actor, segment, "delete", contacts=count)
    return count


def email_hash(email: str) -> str:
    """An email as ad platforms match customers: trimmed, lower case, SHA-256 in hex."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def segment_hashes_export(
    *, actor: Actor, segment: Segment, ip: str | None = None
) -> Iterator[str]:
    """One line per distinct email of the segment's contacts (hashed), for a customer-match
    upload. The export is audited before the first line is written."""
    emails = (
        segment_contacts(segment.rules)
        .filter(email__isnull=False)
        .exclude(email="")
        .order_by("pk")
        .values_list("email", flat=True)
    )
    count = emails.count()
    audit_record(
        actor=actor,
        action=AuditLog.Action.EXPORT,
        obj=segment,
        changes={"format": "sha256", "count": count},
        ip_address=ip,
    )
    seen: set[str] = set()
    for email in emails.iterator(chunk_size=5000):
        digest = email_hash(email)
        if digest not in seen:
            seen.add(digest)
            yield digest + "\n"
