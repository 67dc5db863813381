"""Hand-written SQL for contacts: the set-based write of many subscriptions sharing one proof.

Table and column names come from the models' metadata (quoted), never from a user; values always
travel as query parameters.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from django.db import connection

from fidele.contacts.models import Subscription


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _column(name: str) -> str:
    return _q(Subscription._meta.get_field(name).column)


def subscriptions_insert(
    *,
    mailing_list_id: int,
    entries: Sequence[tuple[int, int | None, dt.datetime | None]],
    status: str,
    consent_at: dt.datetime | None,
    source: str,
    proof: dict[str, Any],
    created_by_id: int | None,
    now: dt.datetime,
) -> int:
    """Insert one subscription per (contact id, file row, consent time) entry, in one
    INSERT ... SELECT: every value but those three is the same for all, and the proof's JSON is
    built by the database (the shared proof, plus the entry's `row` when it has one). A contact
    already on the list keeps its subscription as it is. Returns how many were inserted.

    `consent_at` is the consent time of the entries without their own."""
    columns = ", ".join(
        _column(name)
        for name in (
            "contact",
            "mailing_list",
            "status",
            "consent_at",
            "consent_source",
            "consent_proof",
            "unsubscribed_at",
            "created_by",
            "created_at",
            "updated_at",
        )
    )
    target = f"{_column('contact')}, {_column('mailing_list')}"
    table = _q(Subscription._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    shared = [mailing_list_id, status, adapt(consent_at), source]
    proof_json = json.dumps(proof)
    tail = [created_by_id, adapt(now), adapt(now)]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The entries travel as three arrays, unnested side by side.
            cursor.execute(
                f"INSERT INTO {table} ({columns}) "  # noqa: S608
                "SELECT e.contact_id, %s, %s, COALESCE(e.given_at, %s), %s, "
                "CASE WHEN e.file_row IS NULL THEN %s::jsonb "
                "ELSE %s::jsonb || jsonb_build_object('row', e.file_row) END, "
                "NULL, %s, %s, %s "
                "FROM unnest(%s::bigint[], %s::integer[], %s::timestamptz[]) "
                "AS e(contact_id, file_row, given_at) "
                f"ON CONFLICT ({target}) DO NOTHING",
                [
                    *shared,
                    proof_json,
                    proof_json,
                    *tail,
                    [contact_id for contact_id, _r, _g in entries],
                    [row for _c, row, _g in entries],
                    [given_at for _c, _r, given_at in entries],
                ],
            )
        else:
            # SQLite: the entries travel as one JSON array ([[contact id, row, time], ...]),
            # read back by json_each; times in the text format Django stores.
            cursor.execute(
                f"INSERT INTO {table} ({columns}) "  # noqa: S608
                # json_extract rather than ->>, which needs SQLite 3.38.
                "SELECT json_extract(e.value, '$[0]'), %s, %s, "
                "COALESCE(json_extract(e.value, '$[2]'), %s), %s, "
                "CASE WHEN json_extract(e.value, '$[1]') IS NULL THEN json(%s) "
                "ELSE json_set(%s, '$.row', json_extract(e.value, '$[1]')) END, "
                "NULL, %s, %s, %s "
                # WHERE true: SQLite's parser needs it before ON CONFLICT in INSERT ... SELECT.
                f"FROM json_each(%s) AS e WHERE true ON CONFLICT ({target}) DO NOTHING",
                [
                    *shared,
                    proof_json,
                    proof_json,
                    *tail,
                    json.dumps(
                        [
                            (contact_id, row, None if given_at is None else adapt(given_at))
                            for contact_id, row, given_at in entries
                        ]
                    ),
                ],
            )
        return cursor.rowcount
