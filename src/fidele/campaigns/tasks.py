"""Background tasks of campaign sending (queue "sending"). Thin: ids in, a service or the sender.

campaign_start   scheduled -> sending (audience snapshot), then sends (enqueued by
                 fidele.campaigns.services.campaign_schedule, with run_after = the send time)
campaign_send    the sender loop; re-enqueues itself for the next retry when rows wait for one
campaign_resume  after a pause: the same loop
ab_pick_winner   after ab_wait_minutes: pick the A/B winner and send it to the rest
sending_watchdog every 2 minutes (queued by `fidele worker`): hands campaigns whose sender died
                 back to a sender

They lived in fidele.delivery.tasks until the engine stopped depending on campaigns; runs queued
under the old paths are renamed by migration campaigns 0002.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.utils import timezone
from django_tasks import task

from fidele.campaigns import sending
from fidele.campaigns.models import Campaign
from fidele.campaigns.selectors import campaigns_stalled
from fidele.core.actors import Actor
from fidele.core.tasks import task_schedule_next
from fidele.delivery.engine import LEASE_SECONDS, Sender
from fidele.delivery.store import DjangoSendStore

logger = logging.getLogger(__name__)

QUEUE = "sending"
WATCH_EVERY = timedelta(minutes=2)


def campaign_start_now(*, campaign_id: int, actor: Actor = None, now: Any = None) -> int:
    """sending.campaign_start, and for an A/B test with recipients held back, the winner's pick
    queued for after the wait once the start is committed. What the start task and
    `fidele campaign send` call."""
    return sending.campaign_start(
        campaign_id=campaign_id, actor=actor, now=now, ab_pick_enqueue=_ab_task_enqueue
    )


def _ab_task_enqueue(campaign: Campaign) -> None:
    run_after = (campaign.started_at or timezone.now()) + timedelta(
        minutes=campaign.ab_wait_minutes
    )
    ab_pick_winner.using(run_after=run_after).enqueue(campaign.pk)


@task(queue_name=QUEUE)
def campaign_start(campaign_id: int) -> None:
    try:
        campaign_start_now(campaign_id=campaign_id)
    except sending.NotSendable as exc:
        # Its template fails or it has nowhere to go: back to draft, the reason on its page.
        sending.campaign_unschedule_for_problem(campaign_id=campaign_id, reason=str(exc))
        return
    except sending.SendError as exc:
        # Unscheduled, cancelled or not due yet: nothing to do.
        logger.info("campaign %s not started: %s", campaign_id, exc)
        return
    _send(campaign_id)


@task(queue_name=QUEUE)
def campaign_send(campaign_id: int) -> None:
    _send(campaign_id)


@task(queue_name=QUEUE)
def campaign_resume(campaign_id: int) -> None:
    _send(campaign_id)


@task(queue_name=QUEUE)
def ab_pick_winner(campaign_id: int) -> None:
    if sending.ab_winner_pick(campaign_id=campaign_id) is not None:
        _send(campaign_id)


def _send(campaign_id: int) -> None:
    summary = Sender().run(sending.CampaignContent(campaign_id), wait=False)
    if summary.finished or summary.paused_reason:
        return
    # Rows wait for a retry, or are claimed by a sender that may be gone (its lease runs out
    # later): come back then, instead of holding a worker while waiting.
    due = DjangoSendStore().next_due(campaign_id=campaign_id)
    if due is not None:
        run_after = max(due, timezone.now() + timedelta(seconds=1))
        campaign_send.using(run_after=run_after).enqueue(campaign_id)


@task(queue_name=QUEUE)
def sending_watchdog() -> list[int]:
    try:
        stalled = campaigns_stalled(quiet_seconds=LEASE_SECONDS, lease_seconds=LEASE_SECONDS)
        for campaign_id in stalled:
            logger.warning(
                "campaign %s: no sender for %ss, sending resumes", campaign_id, LEASE_SECONDS
            )
            campaign_send.enqueue(campaign_id)
        return stalled
    finally:
        sending_watchdog_schedule()


def sending_watchdog_schedule(*, delay: timedelta = WATCH_EVERY) -> bool:
    """Queue the next watch unless one is already waiting; False when nothing was queued."""
    return task_schedule_next(sending_watchdog, delay=delay)
