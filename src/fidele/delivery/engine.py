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
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Count, Min, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext

from fidele.campaigns.models import Campaign
from fidele.compliance.models import Suppression
from fidele.delivery.journal import Journal, journal_is_open, journal_records, journals_left
from fidele.delivery.mime import DkimKey, Identity, dkim_key_from_settings, message_build
from fidele.delivery.models import OutboxMessage
from fidele.delivery.ratelimit import RateLimiter, TokenBucket  # noqa: F401 (re-exported)
from fidele.delivery.transports import (
    OutgoingMessage,
    Transport,
    TransportResult,
    transport_from_settings,
)
from fidele.tracking.tokens import token_make

logger = logging.getLogger(__name__)

Status = OutboxMessage.Status

# A claim older than this, not renewed, belongs to a sender that is gone.
LEASE_SECONDS = 120
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
# Links


@lru_cache(maxsize=512)
def _quoted(url: str) -> str:
    # The same few links are in every message of a campaign.
    return quote(url, safe="")


class RecipientLinks:
    """The LinkContext of one recipient. These URL shapes are what fidele.tracking serves."""

    __slots__ = ("outbox_id", "base_url", "_unsubscribe_token", "_clicks")

    def __init__(self, outbox_id: int, base_url: str | None = None):
        self.outbox_id = outbox_id
        self.base_url = (base_url if base_url is not None else settings.BASE_URL).rstrip("/")
        self._unsubscribe_token: str | None = None
        # The renderer asks for each link twice (HTML and text parts).
        self._clicks: dict[str, str] = {}

    @property
    def unsubscribe_token(self) -> str:
        if self._unsubscribe_token is None:
            self._unsubscribe_token = token_make(purpose="unsubscribe", subject_id=self.outbox_id)
        return self._unsubscribe_token

    def unsubscribe_url(self) -> str:
        return f"{self.base_url}/t/u/{self.unsubscribe_token}/"

    def click_url(self, url: str) -> str:
        tracked = self._clicks.get(url)
        if tracked is None:
            token = token_make(purpose="click", subject_id=self.outbox_id, extra=url)
            tracked = self._clicks[url] = f"{self.base_url}/t/c/{token}/?u={_quoted(url)}"
        return tracked

    def open_pixel_url(self) -> str:
        return f"{self.base_url}/t/o/{token_make(purpose='open', subject_id=self.outbox_id)}.gif"


# ---------------------------------------------------------------------------------------------
# Who holds a claim


def _host_key() -> str:
    # PIDs are only comparable inside one PID namespace of one running kernel: the key names that
    # (boot id + namespace), so two containers with the same hostname never judge each other.
    parts = [socket.gethostname()]
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            parts.append(handle.read().strip())
    except OSError:
        parts.append("?")
    try:
        parts.append(os.readlink("/proc/self/ns/pid"))
    except OSError:
        parts.append("?")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


HOST_KEY = _host_key()


def claimer_name() -> str:
    return f"{HOST_KEY}:{os.getpid()}:{os.urandom(4).hex()}"


def claimer_is_gone(claimed_by: str) -> bool:
    """True only when certain: the claimer was a process on this host that no longer runs."""
    host, _, rest = claimed_by.partition(":")
    pid_text = rest.partition(":")[0]
    if host != HOST_KEY or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    # A zombie (killed, not yet reaped by its parent) still answers kill(0).
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def claims_recover(*, campaign_id: int | None = None) -> int:
    """Put back in the queue the rows claimed by senders that are gone, once the results their
    journals hold on this machine are recorded. Returns how many rows went back."""
    journals_recover()
    claimed = OutboxMessage.objects.filter(status=Status.CLAIMED)
    if campaign_id is not None:
        claimed = claimed.filter(campaign_id=campaign_id)
    expired = timezone.now() - timedelta(seconds=LEASE_SECONDS)
    gone = [
        name
        for name in claimed.values_list("claimed_by", flat=True).distinct()
        if claimer_is_gone(name)
    ]
    recovered = claimed.filter(Q(claimed_at__lt=expired) | Q(claimed_by__in=gone)).update(
        status=Status.QUEUED, claimed_by="", claimed_at=None
    )
    if recovered:
        logger.warning("re-queued %s message(s) claimed by senders that stopped", recovered)
    return recovered


# ---------------------------------------------------------------------------------------------
# Claims and results


@dataclass(slots=True)
class Recipient:
    """A claimed outbox row with what rendering needs of its contact (a dict of plain values:
    reading model instances cost a third of the per-message budget)."""

    pk: int
    campaign_id: int
    email: str
    attempts: int
    variant_id: int | None
    contact: dict[str, Any] | None
    # The suppression's reason when the address was suppressed after the snapshot.
    suppressed_for: str = ""

    @property
    def full_name(self) -> str:
        if not self.contact:
            return ""
        parts = (self.contact.get("first_name") or "", self.contact.get("last_name") or "")
        return " ".join(part for part in parts if part)


def _contact_fields() -> tuple[str, ...]:
    from fidele.campaigns.rendering.sandbox import CONTACT_FIELDS

    return (*CONTACT_FIELDS, "attributes")


def batch_claim(*, campaign_id: int, claimer: str, limit: int) -> list[Recipient]:
    """Claim up to `limit` queued rows (one UPDATE whose subquery skips the rows other senders
    hold), then read them back with what rendering needs: two statements a batch, whatever
    its size."""
    now = timezone.now()
    ready = (
        OutboxMessage.objects.filter(campaign_id=campaign_id, status=Status.QUEUED)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("id")
    )
    if connection.features.has_select_for_update_skip_locked:
        ready = ready.select_for_update(skip_locked=True)
    with transaction.atomic():
        claimed = OutboxMessage.objects.filter(id__in=ready.values("id")[:limit]).update(
            status=Status.CLAIMED, claimed_by=claimer, claimed_at=now
        )
    if not claimed:
        return []
    # This claimer's rows are this batch: each earlier one was recorded or released before.
    return _recipients(
        OutboxMessage.objects.filter(
            campaign_id=campaign_id, status=Status.CLAIMED, claimed_by=claimer
        )
    )


def recipients_read(ids: list[int]) -> list[Recipient]:
    """The outbox rows `ids`, in id order, with what rendering needs of their contacts."""
    return _recipients(OutboxMessage.objects.filter(id__in=ids))


def _recipients(rows: Any) -> list[Recipient]:
    fields = _contact_fields()
    columns = ["id", "campaign_id", "email", "attempts", "variant_id", "contact_id"]
    # Whether the address was suppressed since the snapshot, read in the same query.
    suppression = Suppression.objects.filter(email=OuterRef("email")).values("reason")[:1]
    values = (
        rows.order_by("id")
        .annotate(suppressed_for=Subquery(suppression))
        .values_list(*columns, "suppressed_for", *[f"contact__{name}" for name in fields])
    )
    return [
        Recipient(
            pk=row[0],
            campaign_id=row[1],
            email=row[2],
            attempts=row[3],
            variant_id=row[4],
            suppressed_for=row[6] or "",
            contact=dict(zip(fields, row[7:], strict=True)) if row[5] is not None else None,
        )
        for row in values
    ]


def batch_release(*, ids: list[int], claimer: str) -> int:
    if not ids:
        return 0
    return OutboxMessage.objects.filter(
        id__in=ids, status=Status.CLAIMED, claimed_by=claimer
    ).update(status=Status.QUEUED, claimed_by="", claimed_at=None)


def lease_renew(*, campaign_id: int, claimer: str) -> None:
    OutboxMessage.objects.filter(
        campaign_id=campaign_id, status=Status.CLAIMED, claimed_by=claimer
    ).update(claimed_at=timezone.now())


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

    def __init__(self, *, claimer: str, max_attempts: int, retry_base: float):
        self.claimer = claimer
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
            results_apply(self._records, claimer=self.claimer)
            self.journal.clear()
            self._records = []
        self._flushed_at = time.monotonic()

    def close(self) -> None:
        try:
            self.flush()
        except BaseException:
            # Left on disk: claims_recover records it once the database answers again.
            self.journal.close(delete=False)
            raise
        self.journal.close(delete=True)


def results_apply(records: list[list[Any]], *, claimer: str) -> int:
    """Writes journal records to the outbox rows this claimer still holds, in one transaction.
    Returns how many rows changed."""
    table = connection.ops.quote_name(OutboxMessage._meta.db_table)
    # The table name comes from the model; every value is a parameter.
    update = f"UPDATE {table} SET "  # noqa: S608
    guard = " WHERE id = %s AND status = 'claimed' AND claimed_by = %s"
    sent, failed, skipped = [], [], []
    adapt = connection.ops.adapt_datetimefield_value
    for outbox_id, status, attempts, text, when in records:
        moment = adapt(datetime.fromisoformat(when)) if when else None
        if status == Status.SENT:
            sent.append([status, text, moment, attempts, outbox_id, claimer])
        elif status == Status.SKIPPED:
            skipped.append([status, text, outbox_id, claimer])
        else:
            failed.append([status, text, attempts, moment, outbox_id, claimer])
    changed = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for sql, rows in (
            (
                "status = %s, message_id = %s, sent_at = %s, error = '', attempts = %s, "
                "claimed_by = '', next_attempt_at = NULL",
                sent,
            ),
            ("status = %s, error = %s, claimed_by = ''", skipped),
            (
                "status = %s, error = %s, attempts = %s, claimed_by = '', next_attempt_at = %s",
                failed,
            ),
        ):
            if rows:
                cursor.executemany(update + sql + guard, rows)
                changed += max(0, cursor.rowcount)
    return changed


def _journal_abandoned(claimer: str, path: Any) -> bool:
    """Left by a sender that is gone, or by one of this process that could not copy it."""
    if claimer_is_gone(claimer):
        return True
    host, _, rest = claimer.partition(":")
    ours = host == HOST_KEY and rest.partition(":")[0] == str(os.getpid())
    return ours and not journal_is_open(path)


def journals_recover() -> int:
    """Applies, then deletes, the journals left on this machine by senders that stopped."""
    applied = 0
    for claimer, path in journals_left():
        if _journal_abandoned(claimer, path):
            applied += results_apply(journal_records(path), claimer=claimer)
            path.unlink(missing_ok=True)
    if applied:
        logger.warning("recorded %s result(s) from the journals of senders that stopped", applied)
    return applied


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


def campaign_identity(campaign: Campaign) -> Identity:
    """Who the campaign's messages come from; List-Id names the campaign's first list."""
    first_list = campaign.lists.order_by("id").first()
    return Identity.for_campaign(
        campaign,
        list_id=first_list.pk if first_list else None,
        list_name=first_list.name if first_list else "",
    )


class _CampaignContent:
    """Everything that is the same for all recipients, prepared once per campaign and variant."""

    def __init__(self, campaign: Campaign):
        from fidele.campaigns.rendering.compile import content_compile

        self.campaign = campaign
        self.identity = campaign_identity(campaign)
        self._compile = content_compile
        self._compiled: dict[int | None, Any] = {}
        self._lock = threading.Lock()
        self.dkim_key: DkimKey | None = dkim_key_from_settings()

    def compiled(self, variant_id: int | None) -> Any:
        with self._lock:
            if variant_id not in self._compiled:
                variant = (
                    self.campaign.variants.get(pk=variant_id) if variant_id is not None else None
                )
                self._compiled[variant_id] = self._compile(campaign=self.campaign, variant=variant)
            return self._compiled[variant_id]


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
    """The message of one recipient whose content is rendered (campaigns.rendering)."""
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


def message_for(row: Recipient, content: _CampaignContent) -> OutgoingMessage | TransportResult:
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
    and database connection; with 1 everything runs in the calling thread.
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
    ):
        self.transport_factory = transport_factory
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

    def run(self, *, campaign_id: int, wait: bool = False) -> SendSummary:
        """Send until nothing is left to send now (`wait=False`) or until the campaign is done,
        paused or cancelled, sleeping through retry back-offs (`wait=True`)."""
        started = time.monotonic()
        campaign = Campaign.objects.get(pk=campaign_id)
        shared = _Shared()
        self._shared = shared
        if campaign.status != Campaign.Status.SENDING:
            shared.summary.finished = campaign.status == Campaign.Status.SENT
            return shared.summary
        claims_recover(campaign_id=campaign_id)
        content = _CampaignContent(campaign)
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

    def _work(self, campaign_id: int, content: _CampaignContent, shared: _Shared, wait: bool):
        claimer = claimer_name()
        writer = ResultWriter(
            claimer=claimer, max_attempts=self.max_attempts, retry_base=self.retry_base
        )
        transport = self.transport_factory()
        try:
            while not shared.stop.is_set():
                status = (
                    Campaign.objects.filter(pk=campaign_id).values_list("status", flat=True).first()
                )
                if status != Campaign.Status.SENDING:
                    if status == Campaign.Status.CANCELLED:
                        _cancelled_rows_skip(campaign_id)
                    return
                batch = batch_claim(
                    campaign_id=campaign_id, claimer=claimer, limit=self._batch_limit()
                )
                if batch:
                    self._send_batch(batch, content, transport, writer, claimer, shared)
                    continue
                if not self._idle(campaign_id, shared, wait):
                    return
        finally:
            try:
                writer.close()
            finally:
                transport.close()

    def _idle(self, campaign_id: int, shared: _Shared, wait: bool) -> bool:
        """Nothing to claim: finish, wait, or stop. Returns True to look again."""
        left = OutboxMessage.objects.filter(campaign_id=campaign_id).aggregate(
            queued=Count("id", filter=Q(status=Status.QUEUED)),
            claimed=Count("id", filter=Q(status=Status.CLAIMED)),
            held=Count("id", filter=Q(status=Status.HELD)),
            next_at=Min("next_attempt_at", filter=Q(status=Status.QUEUED)),
        )
        if not (left["queued"] or left["claimed"] or left["held"]):
            from fidele.delivery.services import campaign_finish

            shared.summary.finished = campaign_finish(campaign_id=campaign_id)
            return False
        if not wait:
            return False
        if left["claimed"]:
            # Another sender's rows, or a dead sender's whose lease has not run out yet.
            claims_recover(campaign_id=campaign_id)
        elif not left["queued"]:
            return False  # only rows held for the A/B winner: the winner task releases them
        pause = self.poll_seconds
        if left["next_at"] is not None and not left["claimed"]:
            pause = max(0.05, min(30.0, (left["next_at"] - timezone.now()).total_seconds()))
        shared.stop.wait(pause)
        if not connection.in_atomic_block:
            # A long wait may outlive the connection (CONN_MAX_AGE, a database restart).
            close_old_connections()
        return True

    def _send_batch(
        self,
        batch: list[Recipient],
        content: _CampaignContent,
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
                    lease_renew(campaign_id=row.campaign_id, claimer=claimer)
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
                    _bounce_record(row, result, bounce)
                self._count(shared, status, failed_attempt=not result.accepted)
                if not result.accepted and self._too_many_errors(shared):
                    writer.flush()
                    self._pause(row.campaign_id, shared, result.error)
                    return
        finally:
            try:
                # Before the next claim, which reads back this claimer's claimed rows.
                writer.flush()
            finally:
                batch_release(ids=list(pending), claimer=claimer)

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

    def _pause(self, campaign_id: int, shared: _Shared, last_error: str) -> None:
        from fidele.delivery.services import campaign_pause_for_errors

        with shared.lock:
            if shared.stop.is_set():
                return
            shared.stop.set()
            attempts, failures = len(shared.outcomes), sum(shared.outcomes)
        reason = gettext(
            "Paused automatically: %(failures)s of the last %(attempts)s messages failed. "
            "Last error: %(error)s"
        ) % {"failures": failures, "attempts": attempts, "error": last_error}
        campaign_pause_for_errors(campaign_id=campaign_id, reason=reason)
        shared.summary.paused_reason = reason


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


def _bounce_record(row: Recipient, result: TransportResult, kind: str) -> None:
    # The suppression and the bounce event belong to fidele.delivery.bounces (consent side).
    from fidele.delivery.bounces import bounce_record
    from fidele.delivery.models import BounceReport

    outbox = OutboxMessage.objects.filter(pk=row.pk).first()
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


def _cancelled_rows_skip(campaign_id: int) -> None:
    OutboxMessage.objects.filter(
        campaign_id=campaign_id, status__in=[Status.QUEUED, Status.HELD]
    ).update(status=Status.SKIPPED, error="campaign cancelled")
