"""Hand-written SQL for tracking: the one statement an open or a click costs, and the lock that
keeps the drain to one process at a time.

Table and column names come from the models' metadata (quoted), never from a user; values always
travel as query parameters.
"""

from __future__ import annotations

import datetime as dt
import functools

from django.db import connection

from fidele.tracking.models import QueuedHit

_HIT_COLUMNS = ("kind", "outbox_id", "at", "method", "prefetch", "user_agent", "address", "url")
# Any constant: the key of the PostgreSQL advisory lock held by the one drain at work.
_DRAIN_LOCK_KEY = 0x46494445_4C450901


@functools.cache
def _hit_insert_sql() -> str:
    # Built once per process (the quoting asks the connection's operations): the endpoints run
    # it on every request.
    quote = connection.ops.quote_name
    columns = ", ".join(quote(QueuedHit._meta.get_field(name).column) for name in _HIT_COLUMNS)
    marks = ", ".join(["%s"] * len(_HIT_COLUMNS))
    return f"INSERT INTO {quote(QueuedHit._meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608


def hit_insert(
    *,
    kind: str,
    outbox_id: int,
    at: dt.datetime,
    method: str,
    prefetch: bool,
    user_agent: str,
    address: str,
    url: str,
) -> None:
    """One queued hit, in one statement, committed with it (the endpoints run in autocommit)."""
    values = (
        kind,
        outbox_id,
        connection.ops.adapt_datetimefield_value(at),
        method,
        prefetch,
        user_agent,
        address,
        url,
    )
    with connection.cursor() as cursor:
        cursor.execute(_hit_insert_sql(), values)


def drain_lock() -> None:
    """Inside a transaction: wait until no other drain holds the queue, hold it until commit.
    On SQLite the transaction itself is the lock (IMMEDIATE: one writer at a time)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_DRAIN_LOCK_KEY])
