"""Which campaign brought an order: the last click of its customer, by a person, within the
window before the order (ATTRIBUTION_DAYS, 7 by default; with ATTRIBUTION_OPENS, the last
open counts too, for shops whose customers read and then walk into the shop).

Each order is judged once, in id order, by the rollup (`attributions_record`): orders imported
later under an older date are judged against the clicks recorded before them. The rule is
stored with the attribution: changing the window credits new orders differently and leaves the
ones already credited as they were.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fidele.analytics.models import Attribution, FillState
from fidele.commerce.models import Order
from fidele.tracking.hits import hits_drain
from fidele.tracking.models import EmailEvent

STAT = "attribution"
BATCH = 2000


def attribution_rule() -> str:
    touches = "click-or-open" if settings.ATTRIBUTION_OPENS else "click"
    return f"last {touches}, {settings.ATTRIBUTION_DAYS} days"


def attributions_record() -> int:
    """Judge the orders not judged yet; returns how many were credited to a campaign."""
    hits_drain()  # a click still queued may be the one an order follows
    window = dt.timedelta(days=settings.ATTRIBUTION_DAYS)
    types = [EmailEvent.Type.CLICK]
    if settings.ATTRIBUTION_OPENS:
        types.append(EmailEvent.Type.OPEN)
    rule = attribution_rule()
    credited = 0
    state, _created = FillState.objects.get_or_create(
        stat=STAT, defaults={"filled_until": timezone.now()}
    )
    while True:
        orders = list(
            Order.objects.filter(pk__gt=state.position)
            .order_by("pk")
            .values("pk", "contact_id", "ordered_at")[:BATCH]
        )
        if not orders:
            return credited
        first = min(o["ordered_at"] for o in orders) - window
        last = max(o["ordered_at"] for o in orders)
        touches: dict[int, list[tuple[dt.datetime, int, str]]] = defaultdict(list)
        for contact_id, at, campaign_id, url in EmailEvent.objects.filter(
            contact_id__in={o["contact_id"] for o in orders},
            type__in=types,
            is_machine=False,
            campaign_id__isnull=False,
            at__gte=first,
            at__lte=last,
        ).values_list("contact_id", "at", "campaign_id", "url"):
            touches[contact_id].append((at, campaign_id, url))
        found = []
        for order in orders:
            before = [
                t
                for t in touches.get(order["contact_id"], ())
                if order["ordered_at"] - window <= t[0] <= order["ordered_at"]
            ]
            if before:
                at, campaign_id, url = max(before, key=lambda t: t[0])
                found.append(
                    Attribution(
                        order_id=order["pk"],
                        campaign_id=campaign_id,
                        contact_id=order["contact_id"],
                        url=url,
                        touched_at=at,
                        rule=rule,
                    )
                )
        with transaction.atomic():
            Attribution.objects.bulk_create(found, ignore_conflicts=True)
            state.position = orders[-1]["pk"]
            state.filled_until = timezone.now()
            state.save(update_fields=["position", "filled_until", "updated_at"])
        credited += len(found)
