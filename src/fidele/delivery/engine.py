"""The sender: claim a batch of outbox rows, render, build, send, journal each result at once.

Crash safety comes from the order of writes, not from luck:

1. A batch is claimed in one short transaction (queued -> claimed, with who and when).
   PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED`, so any number of senders on any number of
   machines take disjoint batches. SQLite: the claim runs in an IMMEDIATE transaction, which takes
   the database's single write lock at BEGIN: claims are serialised, so several senders stay
   correct there too (they are just not faster: SQLite has one writer).
2. Each message's result (sent + Message-ID, or a failure) is appended to the connection's
   journal, a local file, before the next message is handed over (fidele.delivery.journal);
   the journal is copied to the outbox table in one transaction every few hundred messages or
   every second, and before the next batch is claimed. A sender killed at any instant leaves at
   most one message per connection sent and not journaled.
3. Claimed rows whose sender is gone go back to queued: at once when the claimer was a process on
   this machine that no longer exists (after its journal is recorded), otherwise when its lease
   ran out (senders renew their lease while they work). The message in flight at the kill is
   therefore sent again: that is the one duplicate the design allows, and it carries the same
   Message-ID as the first copy.

The journal replaced one autocommitted UPDATE per message: on the project machine that round trip
cost the sender and PostgreSQL together more CPU than rendering and building the message (see
BENCHMARKS.md, "Sending"). What it gives up is written in fidele.delivery.journal: when a whole
machine stops, or claims are recovered from another machine, up to one copy interval of results
per connection is lost and those recipients are sent to again.

The engine knows no campaign: what it sends and whether to go on come through a SendContent
(below; fidele.campaigns.sending implements it), the outbox rows through a SendStore
(fidele.delivery.store, where all its SQL is), and each recipient's links from
fidele.tracking.links.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone
from django.utils.translation import gettext

from fidele.delivery.journal import Journal
from fidele.delivery.mime import DkimKey, Identity, message_build
from fidele.delivery.models import OutboxMessage
from fidele.delivery.ratelimit import RateLimiter, TokenBucket  # noqa: F401 (re-exported)
from fidele.delivery.store import (
    LEASE_SECONDS,
    DjangoSendStore,
    Recipient,
    SendStore,
    claimer_name,
)
from fidele.delivery.transports import (
    OutgoingMessage,
    Transport,
    TransportResult,
    transport_from_settings,
)
from fidele.tracking.links import RecipientLinks

logger = logging.getLogger(__name__)

Status = OutboxMessage.Status

# Temporary failures are retried after RETRY_BASE_SECONDS, then twice as long each time.
RETRY_BASE_SECONDS = 60
RETRY_MAX_SECONDS = 3600
# Pause the campaign when at least ERROR_PAUSE_RATIO of the last ERROR_WINDOW attempts failed
# (once ERROR_MIN_ATTEMPTS were made): a dead relay, a blocked account, a broken template or a
# list full of bad addresses; carrying on would only harm the sender's reputation.
ERROR_WINDOW = 100
ERROR_MIN_ATTEMPTS = 20
ERROR_PAUSE_RATIO = 0.5


# ---------------------------------------------------------------------------------------------
# What the engine sends


# The statuses of what is sent (a campaign's) that the engine tells apart; any other stops it.
SENDING, SENT, CANCELLED = "sending", "sent", "cancelled"


class Compiled(Protocol):
    """Content prepared once, rendered per recipient (fidele.campaigns.rendering.compile)."""

    def render(self, *, contact: dict[str, Any] | None, links: RecipientLinks) -> Any: ...


class SendContent(Protocol):
    """What the engine sends and whom it asks whether to go on: one campaign, implemented by
    fidele.campaigns.sending.CampaignContent. The engine reads no campaign itself.

    The content: `identity` (From, List-Id, Message-ID domain), `dkim_key`, `compiled(variant)`
    (thread-safe, cached), and `contact_fields`, the contact columns its templates read (the
    store reads them with each recipient). The life cycle: `status()` (SENDING, SENT, CANCELLED,
    or another that stops the engine), `finish()` once no row is left (True when this call
    finished it), and `pause_for_errors(reason)`.
    """

    campaign_id: int
    contact_fields: tuple[str, ...]

    @property
    def identity(self) -> Identity: ...

    @property
    def dkim_key(self) -> DkimKey | None: ...

    def compiled(self, variant_id: int | None) -> Compiled: ...

    def status(self) -> str: ...

    def finish(self) -> bool: ...

    def pause_for_errors(self, reason: str) -> bool: ...


# ---------------------------------------------------------------------------------------------
# Results


def retry_delay(attempts: int, base: float = RETRY_BASE_SECONDS) -> float:
    """Exponential back-off: base, 2 x base, 4 x base... capped at RETRY_MAX_SECONDS."""
    return float(min(base * (2 ** max(0, attempts - 1)), RETRY_MAX_SECONDS))


class ResultWriter:
    """Records each message's result in the connection's journal at once (a local file: see
    fidele.delivery.journal), and copies the journal to the outbox table in one transaction every
    FLUSH_EVERY results or FLUSH_SECONDS, and before the next batch is claimed.

    Each record holds the row's whole new state (not "attempts + 1"), and is applied only to a
    row still claimed by this claimer: applying a journal twice changes nothing.
    """

    FLUSH_EVERY = 500
    FLUSH_SECONDS = 1.0

    def __init__(
        self,
        *,
        claimer: str,
        max_attempts: int,
        retry_base: float,
        store: SendStore | None = None,
    ):
        self.claimer = claimer
        self.store = store if store is not None else DjangoSendStore()
        self.max_attempts = max(1, max_attempts)
        self.retry_base = retry_base
        self.journal = Journal(claimer)
        self._records: list[list[Any]] = []
        self._flushed_at = time.monotonic()

    def outcome(self, row: Recipient, result: TransportResult) -> tuple[str, Any]:
        """The row's next status (and retry time) after this attempt."""
        if result.accepted:
            return Status.SENT.value, None
        attempts = row.attempts + 1
        if result.permanent or attempts >= self.max_attempts:
            return Status.FAILED.value, None
        delay = retry_delay(attempts, self.retry_base)
        return Status.QUEUED.value, timezone.now() + timedelta(seconds=delay)

    def write(self, row: Recipient, result: TransportResult, status: str, next_at: Any) -> None:
        if status == Status.SENT:
            now = timezone.now().isoformat()
            self._record([row.pk, status, row.attempts + 1, result.message_id, now])
        else:
            when = next_at.isoformat() if next_at is not None else None
            self._record([row.pk, status, row.attempts + 1, result.error[:2000], when])

    def skipped(self, row: Recipient, reason: str) -> None:
        self._record([row.pk, Status.SKIPPED.value, row.attempts, reason, None])

    def _record(self, record: list[Any]) -> None:
        self.journal.append(record)
        self._records.append(record)
        if (
            len(self._records) >= self.FLUSH_EVERY
            or time.monotonic() - self._flushed_at > self.FLUSH_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        """Copies the journal to the outbox table, then empties it."""
        if self._records:
            self.store.results_apply(self._records, claimer=self.claimer)
            self.journal.clear()
            self._records = []
        self._flushed_at = time.monotonic()

    def close(self) -> None:
        try:
            self.flush()
        except BaseException:
            # Left on disk: the store's claims_recover records it once the database answers again.
            self.journal.close(delete=False)
            raise
        self.journal.close(delete=True)


# ---------------------------------------------------------------------------------------------
# The sender


@dataclass
class SendSummary:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retried: int = 0
    paused_reason: str = ""
    finished: bool = False
    seconds: float = 0.0


@dataclass
class _Shared:
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    outcomes: deque = field(default_factory=lambda: deque(maxlen=ERROR_WINDOW))
    summary: SendSummary = field(default_factory=SendSummary)
    errors: list[BaseException] = field(default_factory=list)


def rendered_message_build(
    *,
    rendered: Any,
    links: RecipientLinks,
    identity: Identity,
    to_email: str,
    to_name: str = "",
    dkim_key: DkimKey | None,
    subject_prefix: str = "",
    message_id: str = "",
) -> OutgoingMessage:
    """The message of one recipient whose content is rendered (SendContent.compiled)."""
    return message_build(
        identity=identity,
        outbox_id=links.outbox_id,
        to_email=to_email,
        to_name=to_name,
        subject=subject_prefix + rendered.subject,
        preheader=rendered.preheader,
        html=rendered.html,
        text=rendered.text,
        html_chunks=rendered.html_chunks,
        text_chunks=rendered.text_chunks,
        unsubscribe_url=links.unsubscribe_url(),
        unsubscribe_token=links.unsubscribe_token,
        extra_headers=rendered.headers,
        dkim_key=dkim_key,
        message_id=message_id,
    )


def message_for(row: Recipient, content: SendContent) -> OutgoingMessage | TransportResult:
    """One recipient's message, rendered and built; a failed result when it cannot be built."""
    links = RecipientLinks(row.pk)
    try:
        rendered = content.compiled(row.variant_id).render(contact=row.contact, links=links)
        message = rendered_message_build(
            rendered=rendered,
            links=links,
            identity=content.identity,
            to_email=row.email,
            to_name=row.full_name,
            dkim_key=content.dkim_key,
        )
    except Exception as exc:
        # A template that fails for this contact only (a filter on an odd value): this
        # recipient fails, the error window pauses the campaign if it is everyone.
        logger.exception("cannot build the message for outbox row %s", row.pk)
        return TransportResult.hard(f"message could not be built: {exc}")
    message.campaign_id = row.campaign_id
    return message


class Sender:
    """Sends one campaign's queued outbox rows until none is left (or the campaign stops).

    `concurrency` connections work side by side, each in its own thread with its own transport
    and database connection; with 1 everything runs in the calling thread. What is sent comes
    from a SendContent, the rows from a SendStore (DjangoSendStore unless told otherwise).
    """

    def __init__(
        self,
        *,
        transport_factory: Callable[[], Transport] = transport_from_settings,
        concurrency: int | None = None,
        batch_size: int | None = None,
        max_attempts: int | None = None,
        limiter: RateLimiter | None = None,
        retry_base: float = RETRY_BASE_SECONDS,
        on_result: Callable[[str], None] | None = None,
        poll_seconds: float = 1.0,
        store: SendStore | None = None,
    ):
        self.transport_factory = transport_factory
        self.store = store if store is not None else DjangoSendStore()
        self.concurrency = max(1, concurrency or settings.SEND_CONCURRENCY)
        self.batch_size = max(1, batch_size or settings.SEND_BATCH_SIZE)
        self.max_attempts = max_attempts or settings.SEND_MAX_ATTEMPTS
        self.limiter = limiter or RateLimiter.from_settings()
        self.retry_base = retry_base
        self.on_result = on_result
        self.poll_seconds = poll_seconds

    def stop(self) -> None:
        """Ask a running `run()` to stop after the message in flight (from a signal handler or
        another thread); rows claimed and not sent go back to the queue."""
        shared = getattr(self, "_shared", None)
        if shared is not None:
            shared.stop.set()

    def _batch_limit(self) -> int:
        # A rate-limited sender claims no more than it can send in a quarter of its lease.
        rate = self.limiter.messages_per_second
        if not rate:
            return self.batch_size
        return max(1, min(self.batch_size, int(rate * LEASE_SECONDS / 4 / self.concurrency)))

    def run(self, content: SendContent, *, wait: bool = False) -> SendSummary:
        """Send until nothing is left to send now (`wait=False`) or until the campaign is done,
        paused or cancelled, sleeping through retry back-offs (`wait=True`)."""
        started = time.monotonic()
        campaign_id = content.campaign_id
        shared = _Shared()
        self._shared = shared
        status = content.status()
        if status != SENDING:
            shared.summary.finished = status == SENT
            return shared.summary
        self.store.claims_recover(campaign_id=campaign_id)
        if self.concurrency == 1:
            self._work(campaign_id, content, shared, wait)
        else:
            threads = [
                threading.Thread(
                    target=self._thread_main,
                    args=(campaign_id, content, shared, wait),
                    name=f"sender-{campaign_id}-{index}",
                    daemon=True,
                )
                for index in range(self.concurrency)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if shared.errors:
                raise shared.errors[0]
        shared.summary.seconds = time.monotonic() - started
        return shared.summary

    def _thread_main(self, campaign_id, content, shared, wait) -> None:
        try:
            self._work(campaign_id, content, shared, wait)
        except BaseException as exc:  # reported by run() in the calling thread
            shared.errors.append(exc)
            shared.stop.set()
        finally:
            connection.close()

    def _work(self, campaign_id: int, content: SendContent, shared: _Shared, wait: bool):
        claimer = claimer_name()
        writer = ResultWriter(
            claimer=claimer,
            max_attempts=self.max_attempts,
            retry_base=self.retry_base,
            store=self.store,
        )
        transport = self.transport_factory()
        try:
            while not shared.stop.is_set():
                status = content.status()
                if status != SENDING:
                    if status == CANCELLED:
                        self.store.cancelled_rows_skip(campaign_id=campaign_id)
                    return
                batch = self.store.batch_claim(
                    campaign_id=campaign_id,
                    claimer=claimer,
                    limit=self._batch_limit(),
                    contact_fields=content.contact_fields,
                )
                if batch:
                    self._send_batch(batch, content, transport, writer, claimer, shared)
                    continue
                if not self._idle(campaign_id, content, shared, wait):
                    return
        finally:
            try:
                writer.close()
            finally:
                transport.close()

    def _idle(self, campaign_id: int, content: SendContent, shared: _Shared, wait: bool) -> bool:
        """Nothing to claim: finish, wait, or stop. Returns True to look again."""
        left = self.store.rows_left(campaign_id=campaign_id)
        if not (left.queued or left.claimed or left.held):
            shared.summary.finished = content.finish()
            return False
        if not wait:
            return False
        if left.claimed:
            # Another sender's rows, or a dead sender's whose lease has not run out yet.
            self.store.claims_recover(campaign_id=campaign_id)
        elif not left.queued:
            return False  # only rows held for the A/B winner: the winner task releases them
        pause = self.poll_seconds
        if left.next_at is not None and not left.claimed:
            pause = max(0.05, min(30.0, (left.next_at - timezone.now()).total_seconds()))
        shared.stop.wait(pause)
        if not connection.in_atomic_block:
            # A long wait may outlive the connection (CONN_MAX_AGE, a database restart).
            close_old_connections()
        return True

    def _send_batch(
        self,
        batch: list[Recipient],
        content: SendContent,
        transport: Transport,
        writer: ResultWriter,
        claimer: str,
        shared: _Shared,
    ) -> None:
        for variant_id in {row.variant_id for row in batch}:
            content.compiled(variant_id)
        lease_renewed = time.monotonic()
        pending = {row.pk for row in batch}
        try:
            for row in batch:
                if shared.stop.is_set():
                    return
                if row.suppressed_for:
                    # Suppressed after the snapshot (a bounce, a complaint, an unsubscribe from
                    # everything): it must not be mailed.
                    writer.skipped(row, f"suppressed: {row.suppressed_for}")
                    pending.discard(row.pk)
                    self._count(shared, Status.SKIPPED)
                    continue
                if time.monotonic() - lease_renewed > LEASE_SECONDS / 3:
                    self.store.lease_renew(campaign_id=row.campaign_id, claimer=claimer)
                    lease_renewed = time.monotonic()
                built = message_for(row, content)
                if isinstance(built, TransportResult):
                    result = built
                else:
                    self.limiter.acquire()
                    result = transport.send(built)
                # Handed over: if its result cannot be recorded, the row stays claimed (not
                # released for another try at once) until it is recovered.
                pending.discard(row.pk)
                status, next_at = writer.outcome(row, result)
                writer.write(row, result, status, next_at)
                bounce = bounce_kind(result, status)
                if bounce:
                    self._bounce_record(row, result, bounce)
                self._count(shared, status, failed_attempt=not result.accepted)
                if not result.accepted and self._too_many_errors(shared):
                    writer.flush()
                    self._pause(content, shared, result.error)
                    return
        finally:
            try:
                # Before the next claim, which reads back this claimer's claimed rows.
                writer.flush()
            finally:
                self.store.batch_release(ids=list(pending), claimer=claimer)

    def _count(self, shared: _Shared, outcome: str, failed_attempt: bool = False) -> None:
        with shared.lock:
            summary = shared.summary
            if outcome == Status.SENT:
                summary.sent += 1
            elif outcome == Status.FAILED:
                summary.failed += 1
            elif outcome == Status.SKIPPED:
                summary.skipped += 1
            else:
                summary.retried += 1
            if outcome != Status.SKIPPED:
                shared.outcomes.append(failed_attempt)
        if self.on_result is not None:
            self.on_result(outcome)

    def _too_many_errors(self, shared: _Shared) -> bool:
        with shared.lock:
            attempts = len(shared.outcomes)
            failures = sum(shared.outcomes)
        return attempts >= ERROR_MIN_ATTEMPTS and failures >= ERROR_PAUSE_RATIO * attempts

    def _pause(self, content: SendContent, shared: _Shared, last_error: str) -> None:
        with shared.lock:
            if shared.stop.is_set():
                return
            shared.stop.set()
            attempts, failures = len(shared.outcomes), sum(shared.outcomes)
        reason = gettext(
            "Paused automatically: %(failures)s of the last %(attempts)s messages failed. "
            "Last error: %(error)s"
        ) % {"failures": failures, "attempts": attempts, "error": last_error}
        content.pause_for_errors(reason)
        shared.summary.paused_reason = reason

    def _bounce_record(self, row: Recipient, result: TransportResult, kind: str) -> None:
        # The suppression and the bounce event belong to fidele.delivery.bounces (consent side).
        from fidele.delivery.bounces import bounce_record
        from fidele.delivery.models import BounceReport

        outbox = self.store.outbox_row(row.pk)
        try:
            bounce_record(
                kind=kind,
                email=row.email,
                outbox=outbox,
                diagnostic=result.error,
                source=BounceReport.Source.SMTP,
            )
        except Exception:
            # The send result is recorded already; a failure here must not stop the campaign.
            logger.exception("cannot record the bounce of outbox row %s", row.pk)


_MAILBOX_STATUS = re.compile(r"\b5\.1\.\d{1,3}\b")


def bounce_kind(result: TransportResult, status: str) -> str:
    """What a refusal tells about the address: "hard" (it does not exist: 5xx at RCPT with an
    enhanced code 5.1.x, or none), "soft" (refused at RCPT until we gave up), or "" (nothing:
    a refusal of the sender or of the content says nothing about the recipient)."""
    if result.accepted or not result.recipient_refused:
        return ""
    if result.permanent:
        code = result.error[:3]
        enhanced = _MAILBOX_STATUS.search(result.error)
        has_enhanced = re.search(r"\b[245]\.\d{1,3}\.\d{1,3}\b", result.error) is not None
        if code.startswith("5") and (enhanced or not has_enhanced):
            return "hard"
        return ""
    return "soft" if status == Status.FAILED else ""
