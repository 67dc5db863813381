"""Writes on the outbox made for its owner (fidele.campaigns): the audience snapshot, the A/B
split and the release of the recipients held for the winner. The send engine's own writes (claims,
results, recovery) are in fidele.delivery.store.

The snapshot is one INSERT ... SELECT run by the database: a million recipients never pass
through Python. The unique (campaign, email) constraint with ON CONFLICT DO NOTHING makes it
idempotent (a start task run twice adds nobody twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from fidele.delivery.models import OutboxMessage

Status = OutboxMessage.Status


def outbox_snapshot(*, campaign_id: int, audience: QuerySet[Any]) -> int:
    """Write one queued outbox row per contact of `audience` (a Contact queryset), in id order;
    returns the number of rows the campaign has."""
    select_sql, select_params = (
        audience.order_by("id").values_list("id", "email").query.sql_with_params()
    )
    table = connection.ops.quote_name(OutboxMessage._meta.db_table)
    # "WHERE true" keeps SQLite from reading ON CONFLICT as part of a join (its documented
    # parsing ambiguity for INSERT ... SELECT ... ON CONFLICT).
    # The table name comes from the model, the SELECT is compiled by Django with parameters.
    columns = "campaign_id, contact_id, email, status, attempts, claimed_by, message_id, error"
    values = "%s, audience.id, audience.email, %s, 0, '', '', ''"
    sql = (
        f"INSERT INTO {table} ({columns}) SELECT {values} FROM ({select_sql}) audience "  # noqa: S608
        "WHERE true ON CONFLICT (campaign_id, email) DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [campaign_id, Status.QUEUED, *select_params])
    return OutboxMessage.objects.filter(campaign_id=campaign_id).count()


def outbox_variant_set(*, ids: Sequence[int], variant_id: int) -> int:
    """Give the rows `ids` to a variant, a few thousand per UPDATE."""
    changed = 0
    for start in range(0, len(ids), 5000):
        changed += OutboxMessage.objects.filter(id__in=ids[start : start + 5000]).update(
            variant_id=variant_id
        )
    return changed


def outbox_unassigned_hold(*, campaign_id: int) -> int:
    """Hold back the queued rows that no variant got (they wait for the A/B winner)."""
    return OutboxMessage.objects.filter(
        campaign_id=campaign_id, status=Status.QUEUED, variant__isnull=True
    ).update(status=Status.HELD)


def outbox_held_release(*, campaign_id: int, variant_id: int) -> int:
    """Queue the rows held back for the A/B winner, with the winning variant."""
    return OutboxMessage.objects.filter(campaign_id=campaign_id, status=Status.HELD).update(
        status=Status.QUEUED, variant_id=variant_id
    )
