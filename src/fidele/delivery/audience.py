"""Who a campaign goes to, frozen into outbox rows when sending starts.

The audience is a Contact queryset (lists now; segment rules plug in through `audience_rules`),
and the snapshot is one INSERT ... SELECT run by the database: a million recipients never pass
through Python. The unique (campaign, email) constraint with ON CONFLICT DO NOTHING makes the
snapshot idempotent (a start task run twice adds nobody twice).
"""

from __future__ import annotations

import random
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet

from fidele.compliance.models import Suppression
from fidele.contacts.models import Contact, Subscription
from fidele.delivery.models import OutboxMessage

Status = OutboxMessage.Status


def audience_rules_apply(queryset: QuerySet[Contact], rules: Any) -> QuerySet[Contact]:
    """Narrow the audience by a segment rule (DESIGN.md). The hook for the segments app.

    Lists only for now: a campaign with rules is refused rather than sent to more people than
    the marketer chose.
    """
    if not rules:
        return queryset
    try:
        from fidele.segments.selectors import segment_filter  # type: ignore[import-not-found]
    except ImportError as exc:
        raise ValueError("segment rules are not supported yet; use lists") from exc
    return queryset.filter(segment_filter(rules))


def audience_queryset(campaign: Any) -> QuerySet[Contact]:
    """Contacts this campaign would go to now: subscribed to one of its lists, subscribed to none
    of its excluded lists, active, with an email, and not on the suppression list."""
    list_ids = list(campaign.lists.values_list("id", flat=True))
    excluded_ids = list(campaign.exclude_lists.values_list("id", flat=True))
    subscribed = Subscription.objects.filter(
        contact=OuterRef("pk"), status=Subscription.Status.SUBSCRIBED
    )
    queryset = (
        Contact.objects.filter(status=Contact.Status.ACTIVE, email__isnull=False)
        .exclude(email="")
        .filter(Exists(subscribed.filter(mailing_list_id__in=list_ids)))
        .exclude(Exists(Suppression.objects.filter(email=OuterRef("email"))))
    )
    if excluded_ids:
        queryset = queryset.exclude(Exists(subscribed.filter(mailing_list_id__in=excluded_ids)))
    return audience_rules_apply(queryset, campaign.audience_rules)


def audience_snapshot(*, campaign: Any) -> int:
    """Write one queued outbox row per recipient; returns the number of rows the campaign has."""
    select_sql, select_params = (
        audience_queryset(campaign)
        .order_by("id")
        .values_list("id", "email")
        .query.sql_with_params()
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
        cursor.execute(sql, [campaign.pk, Status.QUEUED, *select_params])
    total = OutboxMessage.objects.filter(campaign_id=campaign.pk).count()
    if campaign.ab_enabled:
        ab_assign(campaign=campaign)
    return total


def ab_assign(*, campaign: Any) -> dict[str, int]:
    """Give `ab_sample_percent` % of the recipients to each variant, hold the rest for the winner.

    The shuffle is seeded by the campaign id, so that running it again gives the same split.
    """
    variants = list(campaign.variants.order_by("label"))
    if len(variants) < 2:
        return {}
    rows = OutboxMessage.objects.filter(campaign_id=campaign.pk, status=Status.QUEUED)
    ids = list(rows.filter(variant__isnull=True).order_by("id").values_list("id", flat=True))
    if not ids:
        return {}
    random.Random(f"ab:{campaign.pk}").shuffle(ids)
    percent = max(1, min(int(campaign.ab_sample_percent or 0), 100))
    if percent * len(variants) >= 100:
        per_variant = -(-len(ids) // len(variants))  # everyone is in a sample: no winner phase
    else:
        per_variant = max(1, len(ids) * percent // 100)
    counts = {}
    for index, variant in enumerate(variants):
        chunk = ids[index * per_variant : (index + 1) * per_variant]
        for start in range(0, len(chunk), 5000):
            OutboxMessage.objects.filter(id__in=chunk[start : start + 5000]).update(variant=variant)
        counts[variant.label] = len(chunk)
    counts["held"] = rows.filter(variant__isnull=True).update(status=Status.HELD)
    return counts
