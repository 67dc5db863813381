"""Campaign transitions that involve sending: start (snapshot), finish, automatic pause, A/B winner.

The marketer's own transitions (schedule, pause, resume, cancel) are in fidele.campaigns.services;
`sending` and `sent` are set here, by the engine, with the same lock and audited status change
(campaign_locked, campaign_status_set) as those.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from fidele.campaigns.models import Campaign, Variant
from fidele.campaigns.services import campaign_locked, campaign_status_set
from fidele.core.audit import audit_record
from fidele.delivery.audience import audience_snapshot
from fidele.delivery.models import OutboxMessage

logger = logging.getLogger(__name__)

Status = Campaign.Status


class SendError(ValueError):
    """The campaign cannot be sent as it is; the message says why, for the user."""


def campaign_start(*, campaign_id: int, actor: Any = None, now: Any = None) -> int:
    """Snapshot the audience and move the campaign to `sending`. Returns the recipient count.

    Accepts a draft (the CLI's `campaign send`) or a scheduled campaign whose time has come;
    a campaign already sending is left as it is (a second start task is harmless).
    """
    from fidele.campaigns.rendering.compile import content_compile
    from fidele.campaigns.rendering.sandbox import TemplateProblem

    now = now or timezone.now()
    with transaction.atomic():
        campaign = campaign_locked(campaign_id)
        if campaign.status == Status.SENDING:
            return OutboxMessage.objects.filter(campaign_id=campaign_id).count()
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
            raise SendError(str(exc)) from exc
        if not campaign.lists.exists() and not campaign.audience_rules:
            raise SendError(_("The campaign has no list to send to."))
        total = audience_snapshot(campaign=campaign)
        campaign_status_set(
            campaign,
            to=Status.SENDING,
            actor=actor,
            fields={"started_at": now, "status_reason": ""},
            audit={"recipients": total},
        )
    if (
        campaign.ab_enabled
        and OutboxMessage.objects.filter(
            campaign_id=campaign_id, status=OutboxMessage.Status.HELD
        ).exists()
    ):
        transaction.on_commit(lambda: _ab_task_enqueue(campaign))
    return total


def _ab_task_enqueue(campaign: Campaign) -> None:
    from fidele.delivery import tasks

    run_after = (campaign.started_at or timezone.now()) + timedelta(
        minutes=campaign.ab_wait_minutes
    )
    tasks.ab_pick_winner.using(run_after=run_after).enqueue(campaign.pk)


def campaign_finish(*, campaign_id: int) -> bool:
    """`sending` -> `sent` once no row is left to send. True when this call finished it."""
    with transaction.atomic():
        campaign = campaign_locked(campaign_id)
        if campaign.status != Status.SENDING:
            return campaign.status == Status.SENT
        open_rows = OutboxMessage.objects.filter(
            campaign_id=campaign_id,
            status__in=[
                OutboxMessage.Status.QUEUED,
                OutboxMessage.Status.CLAIMED,
                OutboxMessage.Status.HELD,
            ],
        )
        if open_rows.exists():
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
    from fidele.tracking.models import EmailEvent

    now = now or timezone.now()
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
        sizes = dict(
            OutboxMessage.objects.filter(campaign_id=campaign_id, variant__isnull=False)
            .values_list("variant_id")
            .annotate(n=Count("id"))
        )
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
        released = OutboxMessage.objects.filter(
            campaign_id=campaign_id, status=OutboxMessage.Status.HELD
        ).update(status=OutboxMessage.Status.QUEUED, variant=best)
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
    actor: Any = None,
) -> list[str]:
    """Send the campaign as `contact` (or with empty merge fields) to a few addresses, now,
    through the configured transport, subject prefixed with "[TEST]". Nothing is recorded in
    the outbox; links carry the id 0, which the tracking and unsubscribe endpoints accept and
    ignore. Returns the Message-IDs; raises SendError when the transport refuses one.

    The audit log records who sent the test to which addresses: those the transport accepted,
    also when a later one fails. Template errors (TemplateProblem) are raised before anything
    is sent.
    """
    import secrets

    from fidele.campaigns.rendering.compile import content_compile
    from fidele.delivery.engine import RecipientLinks, campaign_identity, rendered_message_build
    from fidele.delivery.mime import dkim_key_from_settings
    from fidele.delivery.transports import transport_from_settings

    compiled = content_compile(campaign=campaign, variant=variant)
    links = RecipientLinks(0)
    rendered = compiled.render(contact=contact, links=links)
    identity = campaign_identity(campaign)
    dkim_key = dkim_key_from_settings()
    sent: list[str] = []
    accepted: list[str] = []
    try:
        with transport_from_settings() as transport:
            for address in to:
                message = rendered_message_build(
                    rendered=rendered,
                    links=links,
                    identity=identity,
                    to_email=address,
                    dkim_key=dkim_key,
                    subject_prefix="[TEST] ",
                    message_id=(
                        f"<fidele.test.{campaign.pk}.{secrets.token_hex(8)}"
                        f"@{identity.message_id_domain}>"
                    ),
                )
                message.campaign_id = campaign.pk
                message.outbox_id = None  # no outbox row behind a test
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
