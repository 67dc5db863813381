"""The queue between the links in emails and the events: opens and clicks recorded fast, judged
in batches.

An open pixel or a click is requested by every recipient, often within minutes of a send, and
by machines on top (privacy proxies, scanners). So the endpoints do the least that keeps the
fact: check the token, then `hit_append` writes the request's few facts to QueuedHit in one
INSERT, committed before the answer leaves (a process killed afterwards loses nothing).

`hits_drain` moves the queue into EmailEvent: the messages' ids read in one query per batch, each
hit judged (people or machines, fidele.tracking.classify), the events written together, then the
clicks of the messages concerned judged again together (a burst, the invisible link). A batch
is one transaction that also deletes its hits, so a drain killed half-way leaves its batch
queued and a second drain records nothing twice. One drain works at a time (a lock), so that
two never judge the same message's clicks without seeing each other's.

Who drains: the worker, every few seconds (fidele.tracking.tasks), and whatever reads the events
and must not miss one (the rollup and the campaign report, the A/B winner, a follow-up's
audience) just before it reads.
"""

from __future__ import annotations

import time

from django.db import connection, transaction
from django.db.models import Max
from django.http import HttpRequest
from django.utils import timezone

from fidele.tracking import sql
from fidele.tracking.classify import Hit, client_of, judge_click, judge_open
from fidele.tracking.messages import message_lookup
from fidele.tracking.models import EmailEvent, QueuedHit
from fidele.tracking.services import clicks_rejudge_around, network_of

BATCH = 1000
# SQLite lets one writer in at a time, and the endpoints' inserts wait for the drain's batch in
# SQLite's busy handler, which sleeps in growing steps: smaller batches there, and a pause after
# each that lets the waiting inserts in before the next (else a drain of thousands of hits
# would hold the endpoints for its whole length).
SQLITE_BATCH = 200
SQLITE_PAUSE_SECONDS = 0.02
Kind = QueuedHit.Kind
_ADDRESS_LENGTH = QueuedHit._meta.get_field("address").max_length or 45


def hit_append(*, kind: str, outbox_id: int, request: HttpRequest, url: str = "") -> None:
    """Queue one open or click of the message `outbox_id` (a verified token's), as `request`
    made it. Messages of test sends (id 0) are not recorded."""
    if not outbox_id:
        return
    hit = Hit.from_request(request)
    sql.hit_insert(
        kind=kind,
        outbox_id=outbox_id,
        at=timezone.now(),
        method=hit.method,
        prefetch=hit.prefetch,
        user_agent=hit.user_agent,
        address=(hit.address or "")[:_ADDRESS_LENGTH],
        url=url,
    )


def hits_drain(*, batch: int | None = None) -> int:
    """Record every hit queued when it starts as an event; returns how many hits it took
    (hits of messages that no longer exist are dropped). Costs one query when nothing waits."""
    last = QueuedHit.objects.aggregate(last=Max("id"))["last"]
    one_writer = connection.vendor == "sqlite"
    if batch is None:
        batch = SQLITE_BATCH if one_writer else BATCH
    taken = 0
    while last is not None:
        if taken and one_writer:
            time.sleep(SQLITE_PAUSE_SECONDS)
        with transaction.atomic():
            sql.drain_lock()
            hits = list(
                QueuedHit.objects.filter(id__lte=last)
                .order_by("id")
                .values_list(
                    "id", "kind", "outbox_id", "at", "method", "prefetch", "user_agent", "address",
                    "url",
                )[:batch]
            )  # fmt: skip
            if not hits:
                break
            rows = _event_rows(hits)
            sql.events_insert(rows)
            clicks = [row for row in rows if row[0] == EmailEvent.Type.CLICK]
            if clicks:
                clicks_rejudge_around(
                    outbox_ids={row[4] for row in clicks},
                    start=min(row[1] for row in clicks),
                    end=max(row[1] for row in clicks),
                )
            QueuedHit.objects.filter(id__in=[row[0] for row in hits]).delete()
        taken += len(hits)
        if len(hits) < batch:
            break
    return taken


def _event_rows(hits: list[tuple]) -> list[tuple]:
    """The events' rows (sql.EVENT_COLUMNS) of the hits whose message still exists, judged."""
    refs = message_lookup().outbox_refs({row[2] for row in hits})
    rows = []
    for _id, kind, outbox_id, at, method, prefetch, user_agent, address, url in hits:
        ref = refs.get(outbox_id)
        if ref is None:
            continue
        hit = Hit(method=method, user_agent=user_agent, address=address or None, prefetch=prefetch)
        if kind == Kind.OPEN:
            reason = judge_open(hit, sent_at=ref.sent_at, now=at)
        elif kind == Kind.TRAP:
            reason = EmailEvent.Reason.HONEYPOT
        else:
            reason = judge_click(hit)
        client, device = client_of(user_agent)
        rows.append(
            (
                EmailEvent.Type.OPEN if kind == Kind.OPEN else EmailEvent.Type.CLICK,
                at,
                ref.campaign_id,
                ref.contact_id,
                ref.id,
                bool(reason),
                reason,
                client,
                device,
                network_of(address),
                url,
            )
        )
    return rows
