"""Who a campaign goes to, frozen into outbox rows when sending starts, and the A/B split.

The audience is a Contact queryset: the lists' subscribers (the consent), narrowed by segments
and segment rules (fidele.segments.rules, the one engine);
the snapshot itself is one INSERT ... SELECT written by fidele.delivery.services.outbox_snapshot:
a million recipients never pass through Python, and a start task run twice adds nobody twice.
"""

from __future__ import annotations

import random
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from fidele.compliance.models import Suppression
from fidele.contacts.models import Contact, Subscription
from fidele.delivery import selectors as delivery_selectors
from fidele.delivery import services as delivery_services
from fidele.delivery.models import OutboxMessage
from fidele.segments.rules import rule_condition
from fidele.tracking.models import EmailEvent


def _segments_condition(segments: list[Any]) -> Q:
    """Members of any of the segments (RuleError when one of their rules cannot run)."""
    condition = Q(pk__in=[])
    for segment in segments:
        condition |= rule_condition(segment.rules)
    return condition


def audience_rules_apply(queryset: QuerySet[Contact], campaign: Any) -> QuerySet[Contact]:
    """Narrow the lists' subscribers by the campaign's segments (members of any of them), its
    exclusion segments and its `audience_rules` (one engine: fidele.segments.rules). A rule
    that cannot run (a tag it names was deleted) raises RuleError: nobody is mailed on a rule
    that means something else than what the marketer chose."""
    segments = list(campaign.segments.all()) if campaign.pk else []
    excluded = list(campaign.exclude_segments.all()) if campaign.pk else []
    if segments:
        queryset = queryset.filter(_segments_condition(segments))
    if excluded:
        queryset = queryset.exclude(_segments_condition(excluded))
    if campaign.audience_rules:
        queryset = queryset.filter(rule_condition(campaign.audience_rules))
    return queryset


def audience_queryset(campaign: Any) -> QuerySet[Contact]:
    """Contacts this campaign would go to now: subscribed to one of its lists (the consent),
    members of one of its segments when it has segments, subscribed to none of its excluded
    lists and in none of its excluded segments, active, with an email, and not on the
    suppression list."""
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
    queryset = _follow_up_only(queryset, campaign)
    return audience_rules_apply(queryset, campaign)


def _follow_up_only(queryset: QuerySet[Contact], campaign: Any) -> QuerySet[Contact]:
    """For a follow-up, only the earlier campaign's recipients whose message no person opened."""
    parent_id = getattr(campaign, "follow_up_of_id", None)
    if not parent_id:
        return queryset
    sent = OutboxMessage.objects.filter(
        campaign_id=parent_id, contact=OuterRef("pk"), status=OutboxMessage.Status.SENT
    )
    opened = EmailEvent.objects.filter(
        campaign_id=parent_id, contact=OuterRef("pk"), type=EmailEvent.Type.OPEN, is_machine=False
    )
    return queryset.filter(Exists(sent)).exclude(Exists(opened))


def audience_breakdown(campaign: Any) -> dict[str, int]:
    """Why the recipients differ from the lists' subscribers (or the segments' size), for the
    confirmation before sending. One count per line, each step leaving out people the one
    before kept, in this order:

    - without segments: `subscribed` (contacts subscribed to one of the lists);
    - with segments: `in_segments` (members of one of the segments, the size the segments
      page shows), `unsubscribed` (who unsubscribed from every one of the campaign's lists
      they were on), `no_consent` (never subscribed to any of them, or not confirmed yet);
    - then `excluded` (on an excluded list or in an excluded segment), `inactive` (bounced,
      complained or blocked), `no_email`, `suppressed` (on the suppression list),
      `opened_before` for a follow-up; `recipients` is what is left, the exact count
      audience_snapshot will write.

    RuleError when a segment's rule cannot run any more."""
    list_ids = list(campaign.lists.values_list("id", flat=True))
    excluded_ids = list(campaign.exclude_lists.values_list("id", flat=True))
    segments = list(campaign.segments.all())
    excluded_segments = list(campaign.exclude_segments.all())
    subscriptions = Subscription.objects.filter(contact=OuterRef("pk"))
    subscribed = subscriptions.filter(status=Subscription.Status.SUBSCRIBED)
    on_lists = Exists(subscribed.filter(mailing_list_id__in=list_ids))
    counts: dict[str, int] = {}
    if segments:
        steps = Contact.objects.filter(_segments_condition(segments))
        counts["in_segments"] = after = steps.count()
        left_lists = Exists(
            subscriptions.filter(
                mailing_list_id__in=list_ids, status=Subscription.Status.UNSUBSCRIBED
            )
        )
        unsubscribed = steps.exclude(on_lists).filter(left_lists).count()
        steps = steps.filter(on_lists)
        subscribed_count = steps.count()
        counts["unsubscribed"] = unsubscribed
        counts["no_consent"] = after - subscribed_count - unsubscribed
        after = subscribed_count
    else:
        steps = Contact.objects.filter(on_lists)
        counts["subscribed"] = after = steps.count()
    if excluded_ids:
        steps = steps.exclude(Exists(subscribed.filter(mailing_list_id__in=excluded_ids)))
    if excluded_segments:
        steps = steps.exclude(_segments_condition(excluded_segments))
    counts["excluded"] = after - (after := steps.count())
    steps = steps.filter(status=Contact.Status.ACTIVE)
    counts["inactive"] = after - (after := steps.count())
    steps = steps.filter(email__isnull=False).exclude(email="")
    counts["no_email"] = after - (after := steps.count())
    steps = steps.exclude(Exists(Suppression.objects.filter(email=OuterRef("email"))))
    counts["suppressed"] = after - (after := steps.count())
    if getattr(campaign, "follow_up_of_id", None):
        steps = _follow_up_only(steps, campaign)
        counts["opened_before"] = after - (after := steps.count())
    if campaign.audience_rules:
        steps = steps.filter(rule_condition(campaign.audience_rules))
        counts["rules"] = after - (after := steps.count())
    counts["recipients"] = after
    return counts


def audience_snapshot(*, campaign: Any) -> int:
    """Write one queued outbox row per recipient; returns the number of rows the campaign has."""
    total = delivery_services.outbox_snapshot(
        campaign_id=campaign.pk, audience=audience_queryset(campaign)
    )
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
    ids = delivery_selectors.outbox_unassigned_ids(campaign_id=campaign.pk)
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
        delivery_services.outbox_variant_set(ids=chunk, variant_id=variant.pk)
        counts[variant.label] = len(chunk)
    counts["held"] = delivery_services.outbox_unassigned_hold(campaign_id=campaign.pk)
    return counts
