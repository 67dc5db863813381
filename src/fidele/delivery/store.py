"""The send engine's store: every read and write of outbox rows the engine makes, in one place.

`SendStore` is what fidele.delivery.engine needs of it; `DjangoSendStore` is the one it runs on
(Django's database: PostgreSQL or SQLite). A batch is claimed with one UPDATE whose subquery skips
the rows other senders hold (`SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite serialises
writers), read back with its contacts and suppressions in one query, and results reach the
table from the senders' journals (fidele.delivery.journal) in one transaction per copy.

Who holds a claim is written in the row (`claimed_by`: this machine's key, the process id and a
nonce), so that the rows of a sender that is gone can be put back in the queue: at once when it
was a process on this machine that no longer exists (after its journal is recorded), otherwise
when its lease ran out.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.db import connection, transaction
from django.db.models import Count, Min, OuterRef, Q, Subquery
from django.utils import timezone

from fidele.compliance.models import Suppression
from fidele.core.claims import HOST_KEY, claimer_is_gone, claimer_name  # noqa: F401 - re-exported
from fidele.delivery.journal import journal_is_open, journal_records, journals_left
from fidele.delivery.models import OutboxMessage

logger = logging.getLogger(__name__)

Status = OutboxMessage.Status

# A claim older than this, not renewed, belongs to a sender that is gone.
LEASE_SECONDS = 120


# ---------------------------------------------------------------------------------------------
# Who holds a claim: the names and the dead-process check live in fidele.core.claims (imports
# recovers its jobs the same way); re-exported here for the engine.


def _journal_abandoned(claimer: str, path: Any) -> bool:
    """Left by a sender that is gone, or by one of this process that could not copy it."""
    if claimer_is_gone(claimer):
        return True
    host, _, rest = claimer.partition(":")
    ours = host == HOST_KEY and rest.partition(":")[0] == str(os.getpid())
    return ours and not journal_is_open(path)


# ---------------------------------------------------------------------------------------------
# What the engine reads and writes


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


@dataclass(frozen=True, slots=True)
class RowsLeft:
    """A campaign's rows that are not final yet; `next_at`: the earliest retry of a queued one."""

    queued: int
    claimed: int
    held: int
    next_at: datetime | None


class SendStore(Protocol):
    """The outbox as the send engine uses it. `contact_fields` are the contact columns read with
    each recipient (the content says which it renders). A record is a journal line:
    `[outbox id, status, attempts, Message-ID or error, time (ISO) or None]`."""

    def batch_claim(
        self, *, campaign_id: int, claimer: str, limit: int, contact_fields: Sequence[str]
    ) -> list[Recipient]: ...

    def recipients_read(
        self, ids: list[int], *, contact_fields: Sequence[str]
    ) -> list[Recipient]: ...

    def batch_release(self, *, ids: list[int], claimer: str) -> int: ...

    def lease_renew(self, *, campaign_id: int, claimer: str) -> None: ...

    def results_apply(self, records: list[list[Any]], *, claimer: str) -> int: ...

    def journals_recover(self) -> int: ...

    def claims_recover(self, *, campaign_id: int | None = None) -> int: ...

    def rows_left(self, *, campaign_id: int) -> RowsLeft: ...

    def next_due(self, *, campaign_id: int) -> datetime | None: ...

    def cancelled_rows_skip(self, *, campaign_id: int) -> int: ...

    def outbox_row(self, pk: int) -> OutboxMessage | None: ...


class DjangoSendStore:
    """SendStore on Django's database."""

    def batch_claim(
        self, *, campaign_id: int, claimer: str, limit: int, contact_fields: Sequence[str]
    ) -> list[Recipient]:
        """Claim up to `limit` queued rows (one UPDATE whose subquery skips the rows other
        senders hold), then read them back with what rendering needs: two statements a batch,
        whatever its size."""
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
        return self._recipients(
            OutboxMessage.objects.filter(
                campaign_id=campaign_id, status=Status.CLAIMED, claimed_by=claimer
            ),
            contact_fields,
        )

    def recipients_read(self, ids: list[int], *, contact_fields: Sequence[str]) -> list[Recipient]:
        """The outbox rows `ids`, in id order, with what rendering needs of their contacts."""
        return self._recipients(OutboxMessage.objects.filter(id__in=ids), contact_fields)

    def _recipients(self, rows: Any, fields: Sequence[str]) -> list[Recipient]:
        fields = tuple(fields)
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

    def batch_release(self, *, ids: list[int], claimer: str) -> int:
        if not ids:
            return 0
        return OutboxMessage.objects.filter(
            id__in=ids, status=Status.CLAIMED, claimed_by=claimer
        ).update(status=Status.QUEUED, claimed_by="", claimed_at=None)

    def lease_renew(self, *, campaign_id: int, claimer: str) -> None:
        OutboxMessage.objects.filter(
            campaign_id=campaign_id, status=Status.CLAIMED, claimed_by=claimer
        ).update(claimed_at=timezone.now())

    def results_apply(self, records: list[list[Any]], *, claimer: str) -> int:
        """Writes journal records to the outbox rows this claimer still holds, in one
        transaction. Returns how many rows changed."""
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

    def journals_recover(self) -> int:
        """Applies, then deletes, the journals left on this machine by senders that stopped."""
        applied = 0
        for claimer, path in journals_left():
            if _journal_abandoned(claimer, path):
                applied += self.results_apply(journal_records(path), claimer=claimer)
                path.unlink(missing_ok=True)
        if applied:
            logger.warning(
                "recorded %s result(s) from the journals of senders that stopped", applied
            )
        return applied

    def claims_recover(self, *, campaign_id: int | None = None) -> int:
        """Put back in the queue the rows claimed by senders that are gone, once the results
        their journals hold on this machine are recorded. Returns how many rows went back."""
        self.journals_recover()
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

    def rows_left(self, *, campaign_id: int) -> RowsLeft:
        left = OutboxMessage.objects.filter(campaign_id=campaign_id).aggregate(
            queued=Count("id", filter=Q(status=Status.QUEUED)),
            claimed=Count("id", filter=Q(status=Status.CLAIMED)),
            held=Count("id", filter=Q(status=Status.HELD)),
            next_at=Min("next_attempt_at", filter=Q(status=Status.QUEUED)),
        )
        return RowsLeft(**left)

    def next_due(self, *, campaign_id: int) -> datetime | None:
        """When a sender should look at this campaign again: its earliest retry, or the end of
        the oldest claim's lease (a sender that may be gone); None when neither."""
        left = OutboxMessage.objects.filter(campaign_id=campaign_id).aggregate(
            next_retry=Min("next_attempt_at", filter=Q(status=Status.QUEUED)),
            oldest_claim=Min("claimed_at", filter=Q(status=Status.CLAIMED)),
        )
        candidates = [left["next_retry"]]
        if left["oldest_claim"] is not None:
            candidates.append(left["oldest_claim"] + timedelta(seconds=LEASE_SECONDS + 1))
        return min((at for at in candidates if at is not None), default=None)

    def cancelled_rows_skip(self, *, campaign_id: int) -> int:
        return OutboxMessage.objects.filter(
            campaign_id=campaign_id, status__in=[Status.QUEUED, Status.HELD]
        ).update(status=Status.SKIPPED, error="campaign cancelled")

    def outbox_row(self, pk: int) -> OutboxMessage | None:
        return OutboxMessage.objects.filter(pk=pk).first()
