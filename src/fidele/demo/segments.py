"""The demo shop's saved segments: what a shop keeper would build first, so that a new user sees
what segments are for (a town's regulars, the readers who stopped opening, the big customers
who stopped buying) before building one.

Names and descriptions are the shop's own, in French like the rest of its data.
"""

from __future__ import annotations

from typing import Any

from fidele.core.actors import Actor
from fidele.segments.models import Segment
from fidele.segments.services import segment_create, segment_sizes_record

DEMO_SEGMENTS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "Clients fidèles de Bergerac",
        "Habitent Bergerac et ont commandé au moins deux fois cette année.",
        {
            "all": [
                {"field": "city", "op": "eq", "value": "Bergerac"},
                {"orders": {"since_days": 365, "count_gte": 2}},
            ]
        },
    ),
    (
        "N'ont pas ouvert depuis 90 jours",
        "Abonnés à la newsletter, ont reçu un email ces 90 derniers jours et n'en ont ouvert "
        "aucun : à relancer autrement, ou à moins solliciter.",
        {
            "all": [
                {"list": "Newsletter"},
                {"email": {"event": "open", "within_days": 90, "count_lte": 0}},
            ]
        },
    ),
    (
        "Grands amateurs à reconquérir",
        "Plus de 300 € d'achats en tout, mais aucune commande depuis six mois.",
        {
            "all": [
                {"orders": {"total_gte": 300}},
                {"not": {"orders": {"since_days": 180}}},
            ]
        },
    ),
]


def demo_segments_create(*, actor: Actor) -> list[Segment]:
    """The demo's segments (a reload replaces them), with today's size counted so that the
    segment list shows how many each holds."""
    Segment.objects.filter(name__in=[name for name, _, _ in DEMO_SEGMENTS]).delete()
    segments = [
        segment_create(actor=actor, name=name, rules=rules, description=description)
        for name, description, rules in DEMO_SEGMENTS
    ]
    segment_sizes_record()
    return segments
