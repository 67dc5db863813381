"""Campaign transitions that involve sending: start (snapshot), finish, automatic pause, A/B
winner, test send; and CampaignContent, a campaign as the send engine sees it.

The marketer's own transitions (schedule, pause, resume, cancel) are in fidele.campaigns.services;
`sending` and `sent` are set here, for the engine, with the same lock and audited status change
(fidele.campaigns.status: campaign_locked, campaign_status_set) as those. The engine
(fidele.delivery.engine) reads no campaign: it is given a CampaignContent (its SendContent), and
the tasks that run it are in fidele.campaigns.tasks.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from fidele.campaigns.audience import audience_snapshot
from fidele.campaigns.models import Campaign, Variant
from fidele.campaigns.rendering.compile import CompiledContent, content_compile
from fidele.campaigns.rendering.sandbox import CONTACT_FIELDS, TemplateProblem
from fidele.campaigns.status import campaign_locked, campaign_status_set
from fidele.core.actors import Actor
from fidele.core.audit import audit_record
from fidele.delivery import selectors as delivery_selectors
from fidele.delivery import services as delivery_services
from fidele.delivery.engine import rendered_message_build
from fidele.delivery.mime import DkimKey, Identity, dkim_key_from_settings
from fidele.delivery.transports import OutgoingMessage, transport_from_settings
from fidele.tracking.hits import hits_drain
from fidele.tracking.links import RecipientLinks
from fidele.tracking.models import EmailEvent

logger = logging.getLogger(__name__)

Status = Campaign.Status

# What the engine reads of each recipient's contact: what templates can read (the sandbox's
# contact context), attributes included.
# What the engine reads of each recipient: the merge fields, custom attributes, and whether the
# person may be followed (opens and clicks).
SEND_CONTACT_FIELDS: tuple[str, ...] = (*CONTACT_FIELDS, "attributes", "tracking_allowed")


class SendError(ValueError):
    """The campaign cannot be sent as it is; the message says why, for the user."""


class NotSendable(SendError):
    """The campaign's own content or audience stops it (a template that fails, no list): it
    will not start until someone edits it. A scheduled campaign goes back to draft with the
    reason on its page (campaign_unschedule_for_problem) instead of waiting forever."""


def campaign_start(
    *,
    campaign_id: int,
    actor: Actor = None,
    now: Any = None,
    ab_pick_enqueue: Callable[[Campaign], None] | None = None,
) -> int:
    """Snapshot the audience and move the campaign to `sending`. Returns the recipient count.

    Accepts a draft (the CLI's `campaign send`) or a scheduled campaign whose time has come;
    a campaign already sending is left as it is (a second start task is harmless).

    `ab_pick_enqueue(campaign)` queues the A/B winner's pick once this start is committed, when
    recipients are held back for it: fidele.campaigns.tasks.campaign_start_now passes it (the
    tasks depend on this module, not the reverse); None queues nothing.
    """
    now = now or timezone.now()
    hits_drain()  # a follow-up's audience leaves out who opened the first: every open counts
    with transaction.atomic():
        campaign = campaign_locked(campaign_id)
        if campaign.status == Status.SENDING:
            return delivery_selectors.outbox_rows_count(campaign_id=campaign_id)
        if campaign.status not in (Status.DRAFT, Status.SCHEDULED):
            raise SendError(
                _("Campaign %(id)s is %(status)s: it cannot be started.")
                % {"id": campaign_id, "status": campaign.get_status_display()}
            )
        if (
            campaign.status == Status.SCHEDULED
            and campaign.scheduled_at
            and (campaign.scheduled_at > now)
        ):
            raise SendError(
                _("Campaign %(id)s is scheduled for %(when)s.")
                % {"id": campaign_id, "when": timezone.localtime(campaign.scheduled_at)}
            )
        # Template errors are found here, before anyone receives anything.
        try:
            variants = list(campaign.variants.all()) if campaign.ab_enabled else []
            for variant in variants or [None]:
                content_compile(campaign=campaign, variant=variant)
        except TemplateProblem as exc:
            raise NotSendable(str(exc)) from exc
        if not campaign.lists.exists():
            raise NotSendable(_("The campaign has no list to send to."))
        try:
            total = audience_snapshot(campaign=campaign)
        except ValueError as exc:  # segment rules, which do not exist yet
            raise NotSendable(
                _("Segment rules are not available yet: choose the lists this campaign goes to.")
            ) from exc
        campaign_status_set(
            campaign,
            to=Status.SENDING,
            actor=actor,
            fields={"started_at": now, "status_reason": ""},
            audit={"recipients": total},
        )
    if (
        ab_pick_enqueue is not None
        and campaign.ab_enabled
        and delivery_selectors.outbox_has_held(campaign_id=campaign_id)
    ):
        transaction.on_commit(lambda: ab_pick_enqueue(campaign))
    return total


def campaign_unschedule_for_problem(*, campaign_id: int, reason: str) -> bool:
    """A scheduled campaign that cannot start when its time comes (NotSendable) goes back to
    draft, where it can be corrected and scheduled again, with the reason shown on its page.
    True when this call changed it."""
    shown = (
        _("Not sent at the scheduled time: %(reason)s Correct it, then schedule it again.")
        % {"reason": reason}
    )[:2000]
    with transaction.atomic():
        campaign = campaign_locked(campaign_id)
        if campaign.status != Status.SCHEDULED:
            return False
        campaign_status_set(
            campaign,
            to=Status.DRAFT,
            fields={"status_reason": shown, "scheduled_at": None},
            audit={"reason": reason[:2000]},
        )
    logger.warning("campaign %s not started at its scheduled time: %s", campaign_id, reason)
    return True


def campaign_finish(*, campaign_id: int) -> bool:
    """`sending` -> `sent` once no row is left to send. True when this call finished it."""
    with transaction.atomic():
        campaign = campaign_locked(campaign_id)
        if campaign.status != Status.SENDING:
            return campaign.status == Status.SENT
        if delivery_selectors.outbox_has_open(campaign_id=campaign_id):
            return False
        campaign_status_set(campaign, to=Status.SENT, fields={"finished_at": timezone.now()})
    return True


def campaign_pause_for_errors(*, campaign_id: int, reason: str) -> bool:
    """The engine's own pause: too many failures in a row. The reason is shown on the campaign."""
    shown = reason[:2000]
    with transaction.atomic():
        campaign = campaign_locked(campaign_id)
        if campaign.status != Status.SENDING:
            return False  # paused, cancelled or finished meanwhile
        campaign_status_set(
            campaign,
            to=Status.PAUSED,
            fields={"status_reason": shown},
            audit={"reason": shown},
        )
    logger.warning("campaign %s paused: %s", campaign_id, reason)
    return True


def ab_winner_pick(*, campaign_id: int, now: Any = None) -> Variant | None:
    """Pick the variant with the most human clicks (or opens) per recipient, and give it the
    recipients held back. Ties go to the first variant by label."""
    now = now or timezone.now()
    hits_drain()  # the variants' clicks and opens still queued count too
    with transaction.atomic():
        campaign = campaign_locked(campaign_id)
        if not campaign.ab_enabled or campaign.ab_winner_id is not None:
            return campaign.ab_winner
        if campaign.status not in (Status.SENDING, Status.PAUSED):
            return None
        event_type = (
            EmailEvent.Type.CLICK
            if campaign.ab_metric == Campaign.AbMetric.CLICKS
            else EmailEvent.Type.OPEN
        )
        variants = list(campaign.variants.order_by("label"))
        if not variants:
            return None
        sizes = delivery_selectors.outbox_variant_sizes(campaign_id=campaign_id)
        # Distinct recipients who acted, so one enthusiastic clicker does not pick the winner.
        actors = dict(
            EmailEvent.objects.filter(
                campaign_id=campaign_id,
                type=event_type,
                is_machine=False,
                outbox__variant__isnull=False,
            )
            .values_list("outbox__variant_id")
            .annotate(n=Count("outbox_id", distinct=True))
        )

        def score(variant: Variant) -> float:
            return actors.get(variant.pk, 0) / max(1, sizes.get(variant.pk, 0))

        best = variants[0]
        for variant in variants[1:]:
            if score(variant) > score(best):
                best = variant
        released = delivery_services.outbox_held_release(
            campaign_id=campaign_id, variant_id=best.pk
        )
        campaign.ab_winner = best
        campaign.ab_decided_at = now
        campaign.save(update_fields=["ab_winner", "ab_decided_at", "updated_at"])
        audit_record(
            actor=None,
            action="update",
            obj=campaign,
            changes={
                "ab_winner": best.label,
                "scores": {v.label: round(score(v), 4) for v in variants},
                "released": released,
            },
        )
    return best


def message_send_test(
    *,
    campaign: Campaign,
    to: list[str],
    variant: Variant | None = None,
    contact: Any = None,
    actor: Actor = None,
) -> list[str]:
    """Send the campaign as `contact` (or with empty merge fields) to a few addresses, now,
    through the configured transport, subject prefixed with "[TEST]". Nothing is recorded in
    the outbox; links carry the id 0, which the tracking and unsubscribe endpoints accept and
    ignore. Returns the Message-IDs; raises SendError when the transport refuses one.

    The audit log records who sent the test to which addresses: those the transport accepted,
    also when a later one fails. Template errors (TemplateProblem) are raised before anything
    is sent.
    """
    content = CampaignContent(campaign)
    variant_id = variant.pk if variant is not None else None
    content.compiled(variant_id)  # template errors before the transport is opened
    identity = content.identity
    sent: list[str] = []
    accepted: list[str] = []
    try:
        with transport_from_settings() as transport:
            for address in to:
                message = message_sample(
                    content=content,
                    variant_id=variant_id,
                    contact=contact,
                    to_email=address,
                    subject_prefix="[TEST] ",
                    message_id=(
                        f"<fidele.test.{campaign.pk}.{secrets.token_hex(8)}"
                        f"@{identity.message_id_domain}>"
                    ),
                )
                result = transport.send(message)
                if not result.accepted:
                    raise SendError(
                        _("The server refused the test to %(address)s: %(error)s")
                        % {"address": address, "error": result.error}
                    )
                sent.append(result.message_id)
                accepted.append(address)
    finally:
        # Also after a refusal: the messages accepted before it did go out.
        if accepted:
            audit_record(
                actor=actor, action="other", obj=campaign, changes={"test_sent_to": accepted}
            )
    return sent


def message_sample(
    *,
    content: CampaignContent,
    variant_id: int | None = None,
    contact: Any = None,
    to_email: str,
    to_name: str = "",
    subject_prefix: str = "",
    message_id: str = "",
) -> OutgoingMessage:
    """One message of the campaign built as the send engine builds a recipient's (same compiled
    content, identity, DKIM key and builder), for someone who has no outbox row: a test send,
    the deliverability check. Its links carry the id 0, which the tracking and unsubscribe
    endpoints accept and ignore."""
    links = RecipientLinks(0)
    rendered = content.compiled(variant_id).render(contact=contact, links=links)
    message = rendered_message_build(
        rendered=rendered,
        links=links,
        identity=content.identity,
        to_email=to_email,
        to_name=to_name,
        dkim_key=content.dkim_key,
        subject_prefix=subject_prefix,
        message_id=message_id,
    )
    message.campaign_id = content.campaign_id
    message.outbox_id = None  # no outbox row behind it
    return message


# ---------------------------------------------------------------------------------------------
# What the engine sends


def campaign_identity(campaign: Campaign) -> Identity:
    """Who the campaign's messages come from; List-Id names the campaign's first list."""
    first_list = campaign.lists.order_by("id").first()
    return Identity.for_campaign(
        campaign,
        list_id=first_list.pk if first_list else None,
        list_name=first_list.name if first_list else "",
    )


_UNSET: Any = object()


class CampaignContent:
    """A campaign as the send engine sees it (fidele.delivery.engine.SendContent): everything
    that is the same for all recipients, prepared once per campaign and variant, and the
    campaign's life cycle, read from the database each time the engine asks.

    Made from a campaign or its id (a missing campaign raises Campaign.DoesNotExist at once).
    The identity and DKIM key are prepared when the first message needs them."""

    contact_fields: tuple[str, ...] = SEND_CONTACT_FIELDS

    def __init__(self, campaign: Campaign | int):
        if not isinstance(campaign, Campaign):
            campaign = Campaign.objects.get(pk=campaign)
        self.campaign = campaign
        self.campaign_id: int = campaign.pk
        self._compiled: dict[int | None, CompiledContent] = {}
        self._lock = threading.Lock()
        self._identity: Identity | None = None
        self._dkim_key: Any = _UNSET

    @property
    def identity(self) -> Identity:
        if self._identity is None:
            with self._lock:
                if self._identity is None:
                    self._identity = campaign_identity(self.campaign)
        return self._identity

    @property
    def dkim_key(self) -> DkimKey | None:
        if self._dkim_key is _UNSET:
            with self._lock:
                if self._dkim_key is _UNSET:
                    self._dkim_key = dkim_key_from_settings()
        return self._dkim_key

    def compiled(self, variant_id: int | None) -> CompiledContent:
        with self._lock:
            if variant_id not in self._compiled:
                variant = (
                    self.campaign.variants.get(pk=variant_id) if variant_id is not None else None
                )
                self._compiled[variant_id] = content_compile(
                    campaign=self.campaign, variant=variant
                )
            return self._compiled[variant_id]

    def status(self) -> str:
        status = (
            Campaign.objects.filter(pk=self.campaign_id).values_list("status", flat=True).first()
        )
        return status or ""

    def finish(self) -> bool:
        return campaign_finish(campaign_id=self.campaign_id)

    def pause_for_errors(self, reason: str) -> bool:
        return campaign_pause_for_errors(campaign_id=self.campaign_id, reason=reason)
