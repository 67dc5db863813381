"""The improvement plan's safe corrections, applied in bulk after a preview: a mistyped domain
replaced by the one it misspells, disposable addresses suppressed. The contacts are written by
their owner's services (fidele.contacts.services), each contact's change audited there; here
each batch is recorded with every value it replaced (FixBatch, FixChange), audited as one
line, and can be undone: a contact edited since keeps its new value.

A disposable address goes on the suppression list (compliance's, through the port of
fidele.quality.suppression) with its own reason, and its contact is blocked (no campaign
reaches it); the address is kept, so nothing the business typed is lost. The batch records the
suppressions it added, and its undo lifts those and no other: an address that was on the list
before stays there, and so does one whose suppression was raised since (an unsubscription).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from fidele.contacts.models import Contact
from fidele.contacts.services import FieldChange, contacts_emails_replace, contacts_status_replace
from fidele.core.actors import Actor, actor_label_for
from fidele.core.audit import audit_record
from fidele.core.models import AuditLog
from fidele.quality.audit import annotate_for_conditions, audit_run, audited_contacts
from fidele.quality.models import AuditSnapshot, FixBatch, FixChange
from fidele.quality.suppression import address_suppressor

# How many addresses of a domain the preview shows, before and after.
EXAMPLES = 3
REASON_TYPO = "quality: mistyped domain corrected"
REASON_DISPOSABLE = "quality: disposable address suppressed"
# The FixChange field that records a suppression the batch added (its id as the new value).
SUPPRESSION = "suppression"
REASON_UNDO = "quality: correction undone"


@dataclass
class DomainPreview:
    """One domain of a preview: how many contacts the correction would change, with examples,
    and how many it would leave (their corrected address belongs to another contact)."""

    domain: str
    fix: str
    count: int
    examples: list[tuple[str, str]] = field(default_factory=list)
    conflicts: int = 0


def _local(email: str) -> str:
    return email.rsplit("@", 1)[0]


def _at_domain(domain: str, *, active_only: bool = False) -> list[tuple[int, str]]:
    contacts = annotate_for_conditions(audited_contacts()).filter(
        email__isnull=False, email_domain=domain
    )
    if active_only:
        contacts = contacts.filter(status=Contact.Status.ACTIVE)
    return list(contacts.order_by("pk").values_list("pk", "email"))


def typo_fix_preview(snapshot: AuditSnapshot | None) -> list[DomainPreview]:
    """What correcting each mistyped domain of the latest audit would do, domain by domain."""
    typos: dict[str, str] = (snapshot.domains or {}).get("typos", {}) if snapshot else {}
    rows = []
    for domain, fix in sorted(typos.items()):
        contacts = _at_domain(domain)
        if not contacts:
            continue
        corrected = {email: f"{_local(email)}@{fix}" for _pk, email in contacts}
        taken = set(
            Contact.objects.filter(email__in=list(corrected.values())).values_list(
                "email", flat=True
            )
        )
        rows.append(
            DomainPreview(
                domain=domain,
                fix=fix,
                count=len(contacts),
                examples=[(email, corrected[email]) for _pk, email in contacts[:EXAMPLES]],
                conflicts=sum(1 for new in corrected.values() if new in taken),
            )
        )
    return rows


def disposable_suppress_preview(snapshot: AuditSnapshot | None) -> list[DomainPreview]:
    disposable: list[str] = (snapshot.domains or {}).get("disposable", []) if snapshot else []
    rows = []
    for domain in disposable:
        contacts = _at_domain(domain, active_only=True)
        if contacts:
            rows.append(
                DomainPreview(
                    domain=domain,
                    fix="",
                    count=len(contacts),
                    examples=[(email, "") for _pk, email in contacts[:EXAMPLES]],
                )
            )
    return rows


def _batch_record(
    *,
    actor: Actor,
    kind: str,
    field_name: str,
    changes: list[FieldChange],
    summary: dict,
    suppressed: list[FieldChange] = (),  # type: ignore[assignment]
) -> FixBatch:
    batch = FixBatch.objects.create(
        kind=kind,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        actor_label=actor_label_for(actor),
        summary={**summary, "changed": len(changes)},
    )
    FixChange.objects.bulk_create(
        [
            FixChange(batch=batch, contact_id=pk, field=name, old_value=old, new_value=new)
            for name, rows in ((field_name, changes), (SUPPRESSION, suppressed))
            for pk, old, new in rows
        ],
        batch_size=1000,
    )
    audit_record(
        actor=actor,
        action=AuditLog.Action.UPDATE,
        obj=batch,
        object_repr=str(batch.get_kind_display()),
        changes=batch.summary,
    )
    return batch


def typo_fix_apply(*, actor: Actor, domains: Iterable[str]) -> FixBatch:
    """Correct the chosen mistyped domains (of the latest audit), then audit again."""
    snapshot = AuditSnapshot.objects.order_by("-created_at", "-id").first()
    typos: dict[str, str] = (snapshot.domains or {}).get("typos", {}) if snapshot else {}
    chosen = {domain: typos[domain] for domain in set(domains) if domain in typos}
    with transaction.atomic():
        replacements = {
            pk: (email, f"{_local(email)}@{fix}")
            for domain, fix in chosen.items()
            for pk, email in _at_domain(domain)
        }
        changes = contacts_emails_replace(
            actor=actor, replacements=replacements, reason=REASON_TYPO
        )
        batch = _batch_record(
            actor=actor,
            kind=FixBatch.Kind.DOMAIN_TYPO,
            field_name="email",
            changes=changes,
            summary={
                "domains": dict(sorted(chosen.items())),
                "left": len(replacements) - len(changes),
            },
        )
    audit_run(trigger=AuditSnapshot.Trigger.FIX)
    return batch


def disposable_suppress_apply(*, actor: Actor, domains: Iterable[str]) -> FixBatch:
    """Suppress the addresses of the active contacts at the chosen disposable domains and block
    those contacts, then audit again."""
    snapshot = AuditSnapshot.objects.order_by("-created_at", "-id").first()
    known = set((snapshot.domains or {}).get("disposable", [])) if snapshot else set()
    chosen = sorted(set(domains) & known)
    active, blocked = Contact.Status.ACTIVE, Contact.Status.BLOCKED
    with transaction.atomic():
        emails = {
            pk: email for domain in chosen for pk, email in _at_domain(domain, active_only=True)
        }
        changes = contacts_status_replace(
            actor=actor,
            replacements={pk: (active, blocked) for pk in emails},
            reason=REASON_DISPOSABLE,
        )
        added = address_suppressor().disposable_suppress(
            actor=actor, emails=[emails[pk] for pk, _old, _new in changes]
        )
        contact_of = {emails[pk]: pk for pk, _old, _new in changes}
        suppressed = [
            (contact_of[email], "", str(pk)) for email, pk in added.items() if email in contact_of
        ]
        batch = _batch_record(
            actor=actor,
            kind=FixBatch.Kind.DISPOSABLE,
            field_name="status",
            changes=changes,
            suppressed=suppressed,
            summary={
                "domains": chosen,
                "left": len(emails) - len(changes),
                "suppressed": len(suppressed),
                "listed_before": len(changes) - len(suppressed),
            },
        )
    audit_run(trigger=AuditSnapshot.Trigger.FIX)
    return batch


class AlreadyUndone(Exception):
    """The correction was undone before."""


def fix_undo(*, actor: Actor, batch: FixBatch) -> int:
    """Put back what the correction replaced, on the contacts still holding what it wrote;
    returns how many. Then audit again."""
    with transaction.atomic():
        locked = FixBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.undone_at is not None:
            raise AlreadyUndone(str(batch.pk))
        restored = 0
        replace = {"email": contacts_emails_replace, "status": contacts_status_replace}
        for field_name, service in replace.items():
            reversed_changes = {
                change.contact_id: (change.new_value, change.old_value)
                for change in locked.changes.filter(field=field_name)
            }
            if reversed_changes:
                restored += len(
                    service(actor=actor, replacements=reversed_changes, reason=REASON_UNDO)
                )
        suppressions = [
            int(change.new_value) for change in locked.changes.filter(field=SUPPRESSION)
        ]
        lifted = (
            address_suppressor().disposable_unsuppress(actor=actor, ids=suppressions)
            if suppressions
            else 0
        )
        locked.undone_at = timezone.now()
        locked.undone_by_label = actor_label_for(actor)
        locked.save(update_fields=["undone_at", "undone_by_label"])
        audit_record(
            actor=actor,
            action=AuditLog.Action.UPDATE,
            obj=locked,
            object_repr=str(locked.get_kind_display()),
            changes={
                "undone": True,
                "restored": restored,
                "unsuppressed": lifted,
                "changed": locked.summary.get("changed"),
            },
        )
    audit_run(trigger=AuditSnapshot.Trigger.FIX)
    batch.refresh_from_db()
    return restored
