"""Reads of the segments app: samples, sizes over time, and what the builder suggests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from fidele.commerce.models import OrderLine
from fidele.contacts.models import Contact, MailingList, Tag
from fidele.segments.models import Segment, SegmentSize
from fidele.segments.rules import segment_contacts

SUGGESTIONS = 200


def segment_sample(rules: Any, *, limit: int = 10) -> list[Contact]:
    """The newest members (RuleError when the rule cannot run)."""
    return list(segment_contacts(rules).order_by("-created_at", "-id")[:limit])


def segments_all() -> QuerySet[Segment]:
    return Segment.objects.order_by("name")


def segment_sizes(*, segment: Segment, days: int = 90) -> list[dict[str, Any]]:
    since = timezone.localdate() - dt.timedelta(days=days)
    return list(
        SegmentSize.objects.filter(segment=segment, day__gte=since)
        .order_by("day")
        .values("day", "size")
    )


def segment_latest_sizes() -> dict[int, int]:
    """{segment id: its last recorded size}."""
    latest: dict[int, int] = {}
    for segment_id, size in SegmentSize.objects.order_by("segment_id", "day").values_list(
        "segment_id", "size"
    ):
        latest[segment_id] = size
    return latest


def builder_suggestions() -> dict[str, list[str]]:
    """Values that exist, offered as the builder's field values: the most common cities, every
    tag, list and product category (bounded)."""
    from django.db.models import Count

    cities = (
        Contact.objects.exclude(city="")
        .values("city")
        .annotate(n=Count("id"))
        .order_by("-n", "city")
        .values_list("city", flat=True)[:SUGGESTIONS]
    )
    categories = (
        OrderLine.objects.exclude(category="")
        .values_list("category", flat=True)
        .distinct()
        .order_by("category")[:SUGGESTIONS]
    )
    return {
        "cities": list(cities),
        "tags": list(Tag.objects.order_by("name").values_list("name", flat=True)[:SUGGESTIONS]),
        "lists": list(
            MailingList.objects.order_by("name").values_list("name", flat=True)[:SUGGESTIONS]
        ),
        "categories": list(categories),
    }
