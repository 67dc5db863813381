"""Background tasks of the send engine (queue "sending"). Thin: ids in, a service or the sender.

campaign_start   scheduled -> sending (audience snapshot), then sends (enqueued by
                 fidele.campaigns.services.campaign_schedule, with run_after = the send time)
campaign_send    the sender loop; re-enqueues itself for the next retry when rows wait for one
campaign_resume  after a pause: the same loop
ab_pick_winner   after ab_wait_minutes: pick the A/B winner and send it to the rest
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db.models import Min
from django.utils import timezone
from django_tasks import task

from fidele.delivery import services
from fidele.delivery.engine import Sender
from fidele.delivery.models import OutboxMessage

logger = logging.getLogger(__name__)

QUEUE = "sending"


@task(queue_name=QUEUE)
def campaign_start(campaign_id: int) -> None:
    try:
        services.campaign_start(campaign_id=campaign_id)
    except services.SendError as exc:
        # Unscheduled, cancelled or not due: nothing to do. A template error pauses it visibly.
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
    if services.ab_winner_pick(campaign_id=campaign_id) is not None:
        _send(campaign_id)


def _send(campaign_id: int) -> None:
    summary = Sender().run(campaign_id=campaign_id, wait=False)
    if summary.finished or summary.paused_reason:
        return
    # Rows wait for a retry: come back when the first one is due instead of holding a worker.
    next_at = OutboxMessage.objects.filter(
        campaign_id=campaign_id, status=OutboxMessage.Status.QUEUED
    ).aggregate(next_at=Min("next_attempt_at"))["next_at"]
    if next_at is not None:
        run_after = max(next_at, timezone.now() + timedelta(seconds=1))
        campaign_send.using(run_after=run_after).enqueue(campaign_id)
