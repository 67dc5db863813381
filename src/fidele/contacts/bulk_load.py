"""A first import into an empty contacts table: the rows first, the search indexes after.

Every row written into `contacts_contact` updates each of its indexes; a database builds an
index over a million sorted rows far faster than it maintains it row by row (BENCHMARKS.md:
the search indexes cost three quarters of a raw insert into the table). So an import into an
empty base sets the search indexes aside - every index but the primary key and the unique ones,
which the import needs to recognise the people it has already written - and builds them after.

The order keeps a crash harmless:
1. in the import's one transaction: each search index's definition is recorded (DeferredIndex),
   then the index is dropped; the rows are written; commit. A killed import rolls back the
   records, the drops and the rows together: the base is as before.
2. after the commit, each recorded index is built and its record deleted, one index at a time
   (two builds at once deadlocked on PostgreSQL), each in its own transaction. A process killed
   here leaves records: `search_indexes_build()` runs again when a worker starts, after
   `migrate`, and before the next import, and `search_indexes_pending()` lets a page say it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

from fidele.contacts.models import Contact, DeferredIndex

logger = logging.getLogger(__name__)

TABLE = Contact._meta.db_table
# pg_advisory_lock key of the index builds: "fidele-contacts-indexes" folded into a bigint.
_BUILD_LOCK = 0x0F1DE1E_1DE5


def contacts_empty() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(TABLE)} LIMIT 1")  # noqa: S608
        return cursor.fetchone() is None


def _search_indexes() -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of each index of the table that is neither the primary
    key nor unique, as the database itself spells it."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE i.indrelid = %s::regclass AND NOT i.indisunique AND NOT i.indisprimary "
                "ORDER BY c.relname",
                [TABLE],
            )
        else:
            # SQLite's own indexes (primary key, UNIQUE columns) have no SQL.
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s "
                "AND sql IS NOT NULL AND upper(sql) NOT LIKE 'CREATE UNIQUE%%' ORDER BY name",
                [TABLE],
            )
        return [(name, definition) for name, definition in cursor.fetchall()]


def search_indexes_set_aside() -> bool:
    """In the caller's transaction, when the contacts table is empty: record and drop its
    search indexes. False (nothing done) when someone else's contacts arrived meanwhile."""
    if not connection.in_atomic_block:
        raise RuntimeError("search indexes are set aside inside the import's transaction")
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Taken now rather than by the first DROP INDEX, so that no contact can be written
            # between the check below and the drops.
            cursor.execute(f"LOCK TABLE {quote(TABLE)} IN ACCESS EXCLUSIVE MODE")
        if not contacts_empty():
            return False
        indexes = _search_indexes()
        # A record left by an earlier first load whose build has not run yet is kept as it is.
        DeferredIndex.objects.bulk_create(
            [DeferredIndex(name=name, definition=sql) for name, sql in indexes],
            ignore_conflicts=True,
        )
        for name, _sql in indexes:
            cursor.execute(f"DROP INDEX {quote(name)}")
    return True


def search_indexes_pending() -> list[str]:
    return list(DeferredIndex.objects.order_by("name").values_list("name", flat=True))


@contextmanager
def _one_builder() -> Iterator[None]:
    """One process builds at a time (SQLite's single writer serialises them already)."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [_BUILD_LOCK])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_BUILD_LOCK])


def search_indexes_build() -> list[str]:
    """Build each index set aside, one at a time, each in its own transaction (or in the
    caller's, when there is one); the names built. Safe to run from several processes."""
    built: list[str] = []
    quote = connection.ops.quote_name
    with _one_builder():
        for name, definition in DeferredIndex.objects.order_by("name").values_list(
            "name", "definition"
        ):
            started = time.perf_counter()
            with transaction.atomic(), connection.cursor() as cursor:
                # Another process may have built it since the list was read.
                if not DeferredIndex.objects.filter(name=name).delete()[0]:
                    continue
                # A build killed half-way may have left an invalid index under the same name.
                cursor.execute(f"DROP INDEX IF EXISTS {quote(name)}")
                cursor.execute(definition)
            built.append(name)
            logger.info("contacts index %s built in %.1f s", name, time.perf_counter() - started)
    return built
