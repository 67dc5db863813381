"""Writes on campaigns: create, edit, duplicate, A/B variants, and the life-cycle transitions.

The life cycle is a small state machine; an illegal transition raises CampaignStateError with a
message a marketer can read (it is shown as is in the UI and by the CLI):

    draft ──schedule──▶ scheduled ──(engine starts)──▶ sending ──(engine ends)──▶ sent
      ▲                    │                         │   ▲
      └────unschedule──────┘                   pause │   │ resume
                                                     ▼   │
    draft, scheduled, sending, paused ──cancel──▶ cancelled      paused

The transitions that involve sending (-> sending, -> sent, the pause on errors) are in
fidele.campaigns.sending; both make their moves with campaign_locked / campaign_status_set
(fidele.campaigns.status), so that every status change is locked, checked and audited the same
way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fidele.campaigns.models import Campaign, Layout, Variant
from fidele.campaigns.status import campaign_locked, campaign_status_set
from fidele.contacts.models import MailingList
from fidele.core.actors import Actor
from fidele.core.audit import audit_record, model_changes
from fidele.segments.models import Segment
from fidele.segments.rules import RuleError, rule_check

Status = Campaign.Status

# Fields a marketer edits through campaign_create / campaign_update.
EDITABLE_FIELDS = (
    "name", "from_name", "from_email", "reply_to", "subject", "preheader", "body_format", "body",
    "text_body", "layout", "audience_rules", "track_links", "track_opens", "utm_source",
    "utm_medium", "utm_campaign", "ab_enabled", "ab_sample_percent", "ab_metric",
    "ab_wait_minutes",
)  # fmt: skip

# Content can only change before anything went out.
EDITABLE_STATUSES = (Status.DRAFT,)


class CampaignError(ValueError):
    """A campaign write that cannot be done, with a message for the user."""


class CampaignStateError(CampaignError):
    """A life-cycle transition that is not allowed from the campaign's current status."""


def _lists_resolve(values: Iterable[Any]) -> list[MailingList]:
    """Mailing lists from objects, ids or names (the CLI passes names)."""
    resolved: list[MailingList] = []
    missing: list[str] = []
    for value in values or ():
        if isinstance(value, MailingList):
            resolved.append(value)
            continue
        if isinstance(value, int):
            found = MailingList.objects.filter(pk=value).first()
        else:
            found = MailingList.objects.filter(name=str(value).strip()).first()
        if found is None:
            missing.append(str(value))
        else:
            resolved.append(found)
    if missing:
        raise CampaignError(_("Unknown list(s): %(names)s") % {"names": ", ".join(missing)})
    unique = {ml.pk: ml for ml in resolved}
    return list(unique.values())


def _segments_resolve(values: Iterable[Any]) -> list[Segment]:
    """Segments from objects, ids or names (the CLI passes names)."""
    resolved: list[Segment] = []
    missing: list[str] = []
    for value in values or ():
        if isinstance(value, Segment):
            resolved.append(value)
            continue
        if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
            found = Segment.objects.filter(pk=int(value)).first()
        else:
            found = Segment.objects.filter(name=str(value).strip()).first()
        if found is None:
            missing.append(str(value))
        else:
            resolved.append(found)
    if missing:
        raise CampaignError(_("Unknown segment(s): %(names)s") % {"names": ", ".join(missing)})
    return list({segment.pk: segment for segment in resolved}.values())


def _check_content(
    campaign: Campaign,
    variants: Sequence[Variant] = (),
    *,
    main: bool = True,
    checked: Collection[str] = (),
) -> None:
    """Raise the first template problem (syntax or unknown variable) with its part and line,
    for the campaign's own content (unless `main` is False) and each variant's.

    Content whose fingerprint (rendering.compile.content_fingerprint) is in `checked` was checked by
    the caller, the editor's form, and is not compiled again."""
    from fidele.campaigns.rendering.compile import content_check, content_fingerprint

    for variant in [None, *variants] if main else variants:
        if checked and content_fingerprint(campaign=campaign, variant=variant) in checked:
            continue
        problems = content_check(campaign=campaign, variant=variant)
        if problems:
            raise problems[0]


def _layout_or_default(layout: Layout | None) -> Layout | None:
    if layout is not None:
        return layout
    from fidele.campaigns.layouts import layout_default

    return layout_default()


@transaction.atomic
def campaign_create(
    *,
    name: str,
    subject: str,
    from_email: str,
    from_name: str = "",
    reply_to: str = "",
    preheader: str = "",
    html: str = "",
    text: str = "",
    body_format: str = Campaign.BodyFormat.HTML,
    layout: Layout | None = None,
    lists: Iterable[Any] = (),
    exclude_lists: Iterable[Any] = (),
    track_links: bool = True,
    track_opens: bool = True,
    utm_source: str = "fidele",
    utm_medium: str = "email",
    utm_campaign: str = "",
    ab_enabled: bool = False,
    ab_sample_percent: int = 10,
    ab_metric: str = Campaign.AbMetric.CLICKS,
    ab_wait_minutes: int = 240,
    audience_rules: Any = None,
    segments: Iterable[Any] = (),
    exclude_segments: Iterable[Any] = (),
    checked: Collection[str] = (),
    actor: Actor = None,
) -> Campaign:
    """A new draft campaign. `html` is the body in `body_format` (HTML by default); `text` an
    optional hand-written plain-text part. Lists are objects, ids or names. The templates are
    checked (TemplateProblem) unless their fingerprint is in `checked` (see _check_content)."""
    if not (name or "").strip():
        raise CampaignError(_("A campaign needs a name."))
    if not (from_email or "").strip():
        raise CampaignError(_("A campaign needs a sender address."))
    if body_format not in Campaign.BodyFormat.values:
        raise CampaignError(_("Unknown editor: %(format)s") % {"format": body_format})
    _audience_rules_check(audience_rules)
    resolved_lists = _lists_resolve(lists)
    resolved_excluded = _lists_resolve(exclude_lists)
    resolved_segments = _segments_resolve(segments)
    resolved_excluded_segments = _segments_resolve(exclude_segments)
    campaign = Campaign(
        name=name.strip(),
        subject=subject or "",
        from_email=from_email.strip(),
        from_name=from_name or "",
        reply_to=reply_to or "",
        preheader=preheader or "",
        body_format=body_format,
        body=html or "",
        text_body=text or "",
        layout=_layout_or_default(layout),
        track_links=track_links,
        track_opens=track_opens,
        utm_source=utm_source or "",
        utm_medium=utm_medium or "",
        utm_campaign=utm_campaign or "",
        ab_enabled=ab_enabled,
        ab_sample_percent=ab_sample_percent,
        ab_metric=ab_metric,
        ab_wait_minutes=ab_wait_minutes,
        audience_rules=audience_rules,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    _check_content(campaign, checked=checked)
    campaign.save()
    campaign.lists.set(resolved_lists)
    campaign.exclude_lists.set(resolved_excluded)
    campaign.segments.set(resolved_segments)
    campaign.exclude_segments.set(resolved_excluded_segments)
    changes = {
        "subject": campaign.subject,
        "lists": [ml.name for ml in resolved_lists],
        "exclude_lists": [ml.name for ml in resolved_excluded],
    }
    if resolved_segments or resolved_excluded_segments:
        changes["segments"] = [segment.name for segment in resolved_segments]
        changes["exclude_segments"] = [segment.name for segment in resolved_excluded_segments]
    audit_record(actor=actor, action="create", obj=campaign, changes=changes)
    return campaign


def _audience_rules_check(rules: Any) -> None:
    """A rule that cannot run is refused when the campaign is saved, with its JSON path, rather
    than when it starts."""
    if rules:
        try:
            rule_check(rules)
        except RuleError as exc:
            raise CampaignError(
                _("The audience rule cannot be used: %(error)s") % {"error": str(exc)}
            ) from exc


def _utm_default_stored(campaign: Campaign) -> str:
    return f"{campaign.pk}-{_slug(campaign.name)}"[:100]


def _slug(text: str) -> str:
    from django.utils.text import slugify

    return slugify(text) or "campagne"


def _require_status(campaign: Campaign, allowed: Sequence[str], action: str) -> None:
    if campaign.status not in allowed:
        raise CampaignStateError(
            _("Cannot %(action)s a campaign that is %(status)s.")
            % {"action": action, "status": campaign.get_status_display().lower()}
        )


@transaction.atomic
def campaign_update(
    *,
    campaign: Campaign,
    actor: Actor = None,
    lists: Iterable[Any] | None = None,
    exclude_lists: Iterable[Any] | None = None,
    segments: Iterable[Any] | None = None,
    exclude_segments: Iterable[Any] | None = None,
    checked: Collection[str] = (),
    **values: Any,
) -> Campaign:
    """Change a draft's fields (see EDITABLE_FIELDS); `html` is accepted for `body`, `text` for
    `text_body`. Lists are replaced when given. The content, and each variant with it, is
    checked unless its fingerprint is in `checked` (see _check_content)."""
    campaign = campaign_locked(campaign.pk)
    _require_status(campaign, EDITABLE_STATUSES, _("edit"))
    if "html" in values:
        values["body"] = values.pop("html")
    if "text" in values:
        values["text_body"] = values.pop("text")
    _audience_rules_check(values.get("audience_rules"))
    unknown = set(values) - set(EDITABLE_FIELDS)
    if unknown:
        raise CampaignError(
            _("Unknown campaign field(s): %(names)s") % {"names": ", ".join(sorted(unknown))}
        )
    if "name" in values and not (values["name"] or "").strip():
        raise CampaignError(_("A campaign needs a name."))
    if "from_email" in values and not (values["from_email"] or "").strip():
        raise CampaignError(_("A campaign needs a sender address."))
    changes = model_changes(campaign, values)
    for field, value in values.items():
        setattr(campaign, field, value)
    _check_content(campaign, list(campaign.variants.all()), checked=checked)
    campaign.save()
    for field, given, resolve in (
        ("lists", lists, _lists_resolve),
        ("exclude_lists", exclude_lists, _lists_resolve),
        ("segments", segments, _segments_resolve),
        ("exclude_segments", exclude_segments, _segments_resolve),
    ):
        if given is None:
            continue
        related = getattr(campaign, field)
        before = sorted(related.values_list("name", flat=True))
        resolved = resolve(given)
        related.set(resolved)
        after = sorted(ml.name for ml in resolved)
        if before != after:
            changes[field] = [before, after]
    # Long bodies would bloat the audit trail: record that they changed, not their text.
    for field in ("body", "text_body"):
        if field in changes:
            changes[field] = ["…", "…"]
    if changes:
        audit_record(actor=actor, action="update", obj=campaign, changes=changes)
    return campaign


@transaction.atomic
def campaign_duplicate(*, campaign: Campaign, actor: Actor = None, name: str = "") -> Campaign:
    """A new draft with the same content, audience, tracking and A/B settings (not its history)."""
    copy = Campaign.objects.get(pk=campaign.pk)
    copy.pk = None
    copy.id = None
    copy.name = (name or _("%(name)s (copy)") % {"name": campaign.name})[:200]
    copy.status = Status.DRAFT
    copy.scheduled_at = copy.started_at = copy.finished_at = None
    copy.status_reason = ""
    copy.ab_winner = None
    copy.ab_decided_at = None
    copy.created_by = actor if getattr(actor, "is_authenticated", False) else None
    if campaign.utm_campaign == _utm_default_stored(campaign):
        # A default stored by an older release: the copy follows its own name instead.
        copy.utm_campaign = ""
    copy.save()
    copy.lists.set(campaign.lists.all())
    copy.exclude_lists.set(campaign.exclude_lists.all())
    copy.segments.set(campaign.segments.all())
    copy.exclude_segments.set(campaign.exclude_segments.all())
    for variant in campaign.variants.all():
        Variant.objects.create(
            campaign=copy,
            label=variant.label,
            subject=variant.subject,
            preheader=variant.preheader,
            body=variant.body,
        )
    audit_record(actor=actor, action="create", obj=copy, changes={"duplicate_of": campaign.pk})
    return copy


@transaction.atomic
def campaign_follow_up_create(*, campaign: Campaign, actor: Actor = None) -> Campaign:
    """A draft copy of a sent campaign for those of its recipients who did not open it."""
    copy = campaign_duplicate(
        campaign=campaign,
        actor=actor,
        name=_("%(name)s, to those who did not open") % {"name": campaign.name},
    )
    copy.follow_up_of = campaign
    copy.save(update_fields=["follow_up_of"])
    return copy


@transaction.atomic
def campaign_variants_set(
    *, campaign: Campaign, variants: Sequence[dict[str, str]], actor: Actor = None
) -> list[Variant]:
    """Replace the A/B variants. Each is {"label", "subject", "preheader", "body"}; empty fields
    fall back to the campaign's own. Two or more variants turn the A/B test on; none turns it off.

    Each variant's templates are checked (TemplateProblem), except when its "checked" is the
    fingerprint under which the caller (the editor's form) already checked that very content.
    The campaign's own content is not this service's to check: it was when it was saved.
    """
    campaign = campaign_locked(campaign.pk)
    _require_status(campaign, EDITABLE_STATUSES, _("edit"))
    if len(variants) == 1:
        raise CampaignError(_("An A/B test needs at least two variants."))
    labels = [str(v.get("label") or "").strip() for v in variants]
    if any(not label for label in labels) or len(set(labels)) != len(labels):
        raise CampaignError(_("Each variant needs its own label (A, B…)."))
    if variants and all(
        not (v.get("subject") or v.get("preheader") or v.get("body")) for v in variants
    ):
        raise CampaignError(_("The variants must differ by their subject or content."))
    new = [
        Variant(
            campaign=campaign,
            label=label[:10],
            subject=v.get("subject") or "",
            preheader=v.get("preheader") or "",
            body=v.get("body") or "",
        )
        for label, v in zip(labels, variants, strict=True)
    ]
    if new and campaign.ab_sample_percent * len(new) > 100:
        raise CampaignError(
            _("%(count)s variants of %(percent)s%% each exceed the whole audience.")
            % {"count": len(new), "percent": campaign.ab_sample_percent}
        )
    _check_content(
        campaign, new, main=False, checked={v["checked"] for v in variants if v.get("checked")}
    )
    before = [
        {"label": v.label, "subject": v.subject} for v in campaign.variants.all().order_by("label")
    ]
    campaign.variants.all().delete()
    Variant.objects.bulk_create(new)
    campaign.ab_enabled = bool(new)
    campaign.save(update_fields=["ab_enabled", "updated_at"])
    audit_record(
        actor=actor,
        action="update",
        obj=campaign,
        changes={"variants": [before, [{"label": v.label, "subject": v.subject} for v in new]]},
    )
    return list(campaign.variants.all())


def _audience_is_empty(campaign: Campaign) -> bool:
    # The lists give the consent: segments and rules only narrow their subscribers.
    return not campaign.lists.exists()


@transaction.atomic
def campaign_transition(
    *,
    campaign_id: int,
    to: str,
    allowed: Sequence[str],
    action: str,
    actor: Actor = None,
    fields: dict[str, Any] | None = None,
    audit: dict[str, Any] | None = None,
) -> Campaign:
    """Lock the campaign, check that its status is one of `allowed` (CampaignStateError,
    "Cannot <action> a campaign that is <status>.", otherwise) and move it to `to` with
    campaign_status_set. Every status change, the marketer's and the engine's, goes through
    here or through those two steps."""
    campaign = campaign_locked(campaign_id)
    _require_status(campaign, allowed, action)
    return campaign_status_set(campaign, to=to, actor=actor, fields=fields, audit=audit)


def _start_task_enqueue(campaign: Campaign) -> None:
    from fidele.campaigns import tasks

    task = tasks.campaign_start
    if campaign.scheduled_at and campaign.scheduled_at > timezone.now():
        task = task.using(run_after=campaign.scheduled_at)
    task.enqueue(campaign.pk)


@transaction.atomic
def campaign_schedule(
    *, campaign: Campaign, at: dt.datetime | None = None, actor: Actor = None
) -> Campaign:
    """Schedule a draft for `at` (an aware datetime), or for now when `at` is None ("send now").
    The engine's start task snapshots the audience and sends when the time comes."""
    campaign = campaign_locked(campaign.pk)
    _require_status(campaign, (Status.DRAFT,), _("schedule"))
    now = timezone.now()
    if at is not None and timezone.is_naive(at):
        raise CampaignError(_("The send time needs a time zone."))
    if at is not None and at < now - dt.timedelta(minutes=1):
        raise CampaignError(_("The send time is in the past."))
    if _audience_is_empty(campaign):
        raise CampaignError(_("Choose at least one list to send to."))
    if not campaign.subject.strip():
        raise CampaignError(_("The campaign has no subject."))
    if not campaign.body.strip():
        raise CampaignError(_("The campaign has no content."))
    variants = list(campaign.variants.all())
    if campaign.ab_enabled and len(variants) < 2:
        raise CampaignError(_("An A/B test needs at least two variants."))
    _check_content(campaign, variants)
    campaign_status_set(
        campaign,
        to=Status.SCHEDULED,
        actor=actor,
        fields={"scheduled_at": at or now, "status_reason": ""},
        audit={"scheduled_at": str(at or now)},
    )
    # Enqueued after commit so the worker never sees the campaign still in draft.
    transaction.on_commit(lambda: _start_task_enqueue(campaign))
    return campaign


def campaign_unschedule(*, campaign: Campaign, actor: Actor = None) -> Campaign:
    """Back to draft before the send time (the start task finds it in draft and does nothing)."""
    return campaign_transition(
        campaign_id=campaign.pk,
        to=Status.DRAFT,
        allowed=(Status.SCHEDULED,),
        action=_("unschedule"),
        actor=actor,
        fields={"scheduled_at": None},
    )


def campaign_pause(*, campaign: Campaign, actor: Actor = None, reason: str = "") -> Campaign:
    """Stop sending after the batch in flight. The engine also pauses, with a reason, on errors."""
    return campaign_transition(
        campaign_id=campaign.pk,
        to=Status.PAUSED,
        allowed=(Status.SENDING,),
        action=_("pause"),
        actor=actor,
        fields={"status_reason": reason},
        audit={"reason": reason},
    )


def _resume_task_enqueue(campaign: Campaign) -> None:
    from fidele.campaigns import tasks

    tasks.campaign_resume.enqueue(campaign.pk)


@transaction.atomic
def campaign_resume(*, campaign: Campaign, actor: Actor = None) -> Campaign:
    campaign = campaign_transition(
        campaign_id=campaign.pk,
        to=Status.SENDING,
        allowed=(Status.PAUSED,),
        action=_("resume"),
        actor=actor,
        fields={"status_reason": ""},
    )
    transaction.on_commit(lambda: _resume_task_enqueue(campaign))
    return campaign


def campaign_cancel(*, campaign: Campaign, actor: Actor = None) -> Campaign:
    """Stop for good: nothing more is sent. Messages already sent stay sent."""
    return campaign_transition(
        campaign_id=campaign.pk,
        to=Status.CANCELLED,
        allowed=(Status.DRAFT, Status.SCHEDULED, Status.SENDING, Status.PAUSED),
        action=_("cancel"),
        actor=actor,
        fields={"finished_at": timezone.now()},
    )


# What each status allows, for the UI's buttons (the services above enforce it).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    Status.DRAFT: ("edit", "schedule", "send_now", "cancel", "duplicate", "test"),
    Status.SCHEDULED: ("unschedule", "cancel", "duplicate", "test"),
    Status.SENDING: ("pause", "cancel", "duplicate", "test"),
    Status.PAUSED: ("resume", "cancel", "duplicate", "test"),
    Status.SENT: ("duplicate", "test"),
    Status.CANCELLED: ("duplicate", "test"),
}


# ---------------------------------------------------------------------------------------------
# Layouts


@transaction.atomic
def layout_update(*, layout: Layout, actor: Actor = None, **values: Any) -> Layout:
    from fidele.campaigns.rendering.sandbox import layout_check
    from fidele.core.audit import model_changes

    allowed = {"name", "html", "sender_name", "sender_postal_address", "is_default"}
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"unknown layout fields: {sorted(unknown)}")
    changes = model_changes(layout, values)
    for field, value in values.items():
        setattr(layout, field, value)
    problems = layout_check(layout=layout)
    if problems:
        raise problems[0]
    layout.save()
    if values.get("is_default"):
        Layout.objects.exclude(pk=layout.pk).filter(is_default=True).update(is_default=False)
    if "html" in changes:
        changes["html"] = ["…", "…"]
    if changes:
        audit_record(actor=actor, action="update", obj=layout, changes=changes)
    return layout


@transaction.atomic
def layout_create(
    *,
    name: str,
    html: str,
    sender_name: str,
    sender_postal_address: str,
    is_default: bool = False,
    actor: Actor = None,
) -> Layout:
    from fidele.campaigns.rendering.sandbox import layout_check

    layout = Layout(
        name=name,
        html=html,
        sender_name=sender_name,
        sender_postal_address=sender_postal_address,
        is_default=is_default,
    )
    problems = layout_check(layout=layout)
    if problems:
        raise problems[0]
    layout.save()
    if is_default:
        Layout.objects.exclude(pk=layout.pk).filter(is_default=True).update(is_default=False)
    audit_record(actor=actor, action="create", obj=layout)
    return layout
