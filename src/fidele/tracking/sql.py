"""Hand-written SQL for tracking: the one statement an open or a click costs, and the lock that
keeps the drain to one process at a time.

Table and column names come from the models' metadata (quoted), never from a user; values always
travel as query parameters.
"""

from __future__ import annotations

import datetime as dt
import functools

from django.db import connection
from psycopg import InterfaceError, OperationalError

from fidele.tracking.models import EmailEvent, QueuedHit

_HIT_COLUMNS = ("kind", "outbox_id", "at", "method", "prefetch", "user_agent", "address", "url")
# Any constant: the key of the PostgreSQL advisory lock held by the one drain at work.
_DRAIN_LOCK_KEY = 0x46494445_4C450901


@functools.cache
def _hit_insert_sql(*, commit_async: bool) -> str:
    # Built once per process (the quoting asks the connection's operations): the endpoints run
    # it on every request.
    quote = connection.ops.quote_name
    columns = ", ".join(quote(QueuedHit._meta.get_field(name).column) for name in _HIT_COLUMNS)
    marks = ", ".join(["%s"] * len(_HIT_COLUMNS))
    insert = f"INSERT INTO {quote(QueuedHit._meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608
    # One round trip, one implicit transaction: the setting lasts for this statement only.
    return f"SET LOCAL synchronous_commit TO OFF; {insert}" if commit_async else insert


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
    """One queued hit, in one statement and one round trip, committed before it returns.

    On PostgreSQL, outside a transaction (the endpoints run in autocommit):
    - the commit does not wait for the disk (synchronous_commit off, for this statement only).
      The hit is committed, visible to the drain, and safe from any crash of the app or a
      restart of PostgreSQL; PostgreSQL writes it to disk within a fraction of a second
      (3 x wal_writer_delay at most), so only a crash of the database server itself in that
      fraction of a second could lose it. Waiting for the disk costs more than the rest of the
      request (BENCHMARKS.md).
    - the statement goes straight to the driver, without Django's cursor and its health check
      (a SELECT 1 when the connection was used by an earlier request): the insert is its own
      check, and a connection found dead (the database restarted since) is replaced and the
      insert tried once more.
    Elsewhere (SQLite, or inside a transaction) it is a plain INSERT through Django's cursor.
    """
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
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(_hit_insert_sql(commit_async=False), values)
        return
    statement = _hit_insert_sql(commit_async=True)
    connection.ensure_connection()
    try:
        connection.connection.execute(statement, values)
    except (OperationalError, InterfaceError):
        connection.close()
        connection.ensure_connection()
        connection.connection.execute(statement, values)


# What the drain writes of each event (`details` is always empty for opens and clicks).
EVENT_COLUMNS = (
    "type", "at", "campaign_id", "contact_id", "outbox_id", "is_machine", "reason", "client",
    "device", "network", "url",
)  # fmt: skip


def events_insert(rows: list[tuple]) -> None:
    """Events written together, in EVENT_COLUMNS' order: COPY on PostgreSQL, one statement run
    per row on SQLite. No model instance (the drain writes thousands a second)."""
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(EmailEvent._meta.db_table)
    columns = ", ".join(quote(name) for name in (*EVENT_COLUMNS, "details"))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row((*row, "{}"))
            return
        adapt = connection.ops.adapt_datetimefield_value
        marks = ", ".join(["%s"] * (len(EVENT_COLUMNS) + 1))
        cursor.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({marks})",  # noqa: S608
            [(row[0], adapt(row[1]), *row[2:], "{}") for row in rows],
        )


def drain_lock() -> None:
    """Inside a transaction: wait until no other drain holds the queue, hold it until commit.
    On SQLite the transaction itself is the lock (IMMEDIATE: one writer at a time)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_DRAIN_LOCK_KEY])
