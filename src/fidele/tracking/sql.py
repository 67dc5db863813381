"""Hand-written SQL for tracking: the one statement an open or a click costs (on the queue's own
connection), the drain's bulk write of events, and the lock that keeps the drain to one process
at a time.

Table and column names come from the models' metadata (quoted), never from a user; values always
travel as query parameters.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import threading

import psycopg
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.db.backends.base.base import BaseDatabaseWrapper

from fidele.tracking.models import EmailEvent, QueuedHit

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


class _QueueConnection(threading.local):
    wrapper: BaseDatabaseWrapper | None = None
    # PostgreSQL: a cursor binding its values on the server, so that the INSERT is parsed and
    # planned once per connection (prepared), not once per hit.
    prepared: psycopg.Cursor | None = None


_queue = _QueueConnection()
# What a broken connection raises: Django's errors through its cursor, psycopg's through ours.
_BROKEN = (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)


def _queue_connection() -> tuple[BaseDatabaseWrapper, psycopg.Cursor | None]:
    """The queue's own connection to the database, one per thread, opened once and kept.

    Kept apart from Django's, whose handling per request (SQLite's: a new connection per
    request, PRAGMAs and functions included; PostgreSQL's: a SELECT 1 before the first
    statement) costs more than the insert. Set up once for what the insert needs: on
    PostgreSQL, commits that do not wait for the disk (see hit_insert) and a prepared INSERT."""
    if _queue.wrapper is None:
        wrapper = connection.copy()
        wrapper.ensure_connection()
        if wrapper.vendor == "postgresql":
            wrapper.connection.execute("SET synchronous_commit TO OFF")
            _queue.prepared = psycopg.Cursor(wrapper.connection)
        _queue.wrapper = wrapper
    return _queue.wrapper, _queue.prepared


def queue_connection_close() -> None:
    """Close this thread's queue connection (tests that drop their database)."""
    wrapper, _queue.wrapper, _queue.prepared = _queue.wrapper, None, None
    if wrapper is not None:
        with contextlib.suppress(DatabaseError):  # broken beyond closing: forgotten all the same
            wrapper.close()


def _queue_insert(values: tuple) -> None:
    wrapper, prepared = _queue_connection()
    if prepared is not None:
        prepared.execute(_hit_insert_sql(), values, prepare=True)
        return
    with wrapper.cursor() as cursor:
        cursor.execute(_hit_insert_sql(), values)


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
    """One queued hit: one INSERT, committed before it returns, on the queue's own connection.

    On PostgreSQL the commit does not wait for the disk (synchronous_commit off, on that
    connection only): the hit is committed, visible to the drain, and safe from any crash of
    the app or a restart of PostgreSQL, which writes it to disk within a fraction of a second
    (3 x wal_writer_delay at most); only a crash of the database server itself in that
    fraction of a second could lose it. Waiting for the disk costs more than the rest of the
    request (BENCHMARKS.md). A connection found broken (the database restarted since) is
    replaced and the insert tried once more.

    Inside a transaction (a caller's, a test's) the hit is written in it, on Django's
    connection, and stands or falls with it."""
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
    if connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(_hit_insert_sql(), values)
        return
    try:
        _queue_insert(values)
    except _BROKEN:
        queue_connection_close()
        _queue_insert(values)


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
