"""Hand-written SQL for the import's bulk writes: COPY on PostgreSQL, executemany on SQLite.

Table and column names come from the models' metadata (quoted), never from a file or a user;
values always travel as COPY data or query parameters.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def datetime_value(value: dt.datetime) -> Any:
    """`value` as Django stores a DateTimeField in this database (SQLite: naive UTC text), for
    rows written without the ORM."""
    return connection.ops.adapt_datetimefield_value(value)


def executemany_insert(
    *, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """SQLite: insert prepared rows with one statement run once per row (no SQL built per row,
    no model instance). The database computes the generated columns and the defaults of the
    columns not named."""
    column_list = ", ".join(_q(c) for c in columns)
    marks = ", ".join(["%s"] * len(columns))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {_q(table)} ({column_list}) VALUES ({marks})",  # noqa: S608
            list(rows),
        )


def allocate_ids(table: str, count: int) -> list[int]:
    """Take `count` ids for `table` before inserting, so each new row's id is known up front
    (tags, subscriptions and the merge of later rows need it) without a RETURNING round trip."""
    if count <= 0:
        return []
    with connection.cursor() as cursor:
        if is_postgresql():
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, count],
            )
            return [row[0] for row in cursor.fetchall()]
        # SQLite: the batch runs in an IMMEDIATE transaction, which holds the database's only
        # write lock, so nobody else can take these ids before we insert them.
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {_q(table)}")  # noqa: S608
        start = cursor.fetchone()[0] + 1
        return list(range(start, start + count))


def copy_insert_ignoring_conflicts(
    *, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> set[int]:
    """PostgreSQL: COPY rows (first column `id`) into a temporary table, then one
    INSERT ... SELECT ... ON CONFLICT DO NOTHING. Returns the ids actually inserted: a row
    whose email or customer number was saved by someone else since we looked is left out
    rather than failing the whole batch."""
    stage = f"fidele_stage_{table}"
    column_list = ", ".join(_q(c) for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_q(stage)} "  # noqa: S608
            f"(LIKE {_q(table)} INCLUDING DEFAULTS)"
        )
        cursor.execute(f"TRUNCATE {_q(stage)}")
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(f"COPY {_q(stage)} ({column_list}) FROM STDIN") as copy:  # noqa: S608
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {_q(table)} ({column_list}) "  # noqa: S608
            f"SELECT {column_list} FROM {_q(stage)} ON CONFLICT DO NOTHING RETURNING id"
        )
        inserted = {row[0] for row in cursor.fetchall()}
        cursor.execute(f"TRUNCATE {_q(stage)}")
    return inserted


def existing_contacts(
    *, table: str, columns: Sequence[str], emails: list[str], external_ids: list[str]
) -> list[tuple]:
    """Contacts whose email or customer number is in the given lists, in one round trip with
    one parameter per list (an array on PostgreSQL, a JSON array on SQLite): a query of 10,000
    separate parameters costs more to build and plan than to run."""
    column_list = ", ".join(_q(c) for c in columns)
    query = f"SELECT {column_list} FROM {_q(table)} "  # noqa: S608
    with connection.cursor() as cursor:
        if not is_postgresql():
            # Each IN probes its unique index ("MULTI-INDEX OR" in the query plan).
            cursor.execute(
                query + "WHERE email IN (SELECT value FROM json_each(%s)) "  # noqa: S608
                "OR external_id IN (SELECT value FROM json_each(%s))",
                [json.dumps(emails), json.dumps(external_ids)],
            )
            return cursor.fetchall()
        # With thousands of values the planner prices the index probes above a sequential scan
        # of the table, which is right for one query and wrong for the hundreds a large
        # re-import makes (each would read the whole table). Within this batch's transaction
        # only, tell it to use the unique indexes.
        cursor.execute("SET LOCAL enable_seqscan = off")
        try:
            cursor.execute(
                query + "WHERE email = ANY(%s) OR external_id = ANY(%s)", [emails, external_ids]
            )
            return cursor.fetchall()
        finally:
            cursor.execute("SET LOCAL enable_seqscan = on")


def sequence_name(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        return cursor.fetchone()[0]


def copy_insert_new(
    *, table: str, sequence: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> dict[int, int]:
    """PostgreSQL: insert rows that are probably new, in four statements whatever their number.

    Rows (first value: their position `seq` in the batch, then `columns`) are COPYed into a
    temporary table, given ids from the table's own sequence there, and inserted with
    ON CONFLICT DO NOTHING. Returns {seq: id} for the rows inserted; a row left out collided
    with an existing email or customer number and is for the caller to match and merge. This
    spares the look-up of existing contacts for every row of a first import, where almost none
    exist (a look-up of 5,000 emails is a sequential scan of the table for the planner).
    """
    stage = _q(f"fidele_new_{table}")
    column_list = ", ".join(_q(c) for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} AS "  # noqa: S608
            f"SELECT 0::integer AS seq, * FROM {_q(table)} WITH NO DATA"
        )
        cursor.execute(f"TRUNCATE {stage}")
        with cursor.cursor.copy(f"COPY {stage} (seq, {column_list}) FROM STDIN") as copy:  # noqa: S608
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"UPDATE {stage} SET id = nextval(%s::regclass) RETURNING seq, id",  # noqa: S608
            [sequence],
        )
        ids = dict(cursor.fetchall())
        cursor.execute(
            f"INSERT INTO {_q(table)} (id, {column_list}) "  # noqa: S608
            f"SELECT id, {column_list} FROM {stage} ON CONFLICT DO NOTHING RETURNING id"
        )
        inserted = {row[0] for row in cursor.fetchall()}
    return {seq: pk for seq, pk in ids.items() if pk in inserted}
