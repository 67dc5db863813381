"""What a campaign did, from the send engine's outbox and the rolled-up events.

Opens and clicks count distinct recipients (a person who opened five times opened once);
`*_total` count every event. People and machines are counted apart: a recipient whose message
was only opened by Apple's proxy is in `opens_machine`, not in `opens_human`; one whose message
a scanner clicked and who then clicked too is in both. `delivered` is what the receiving
servers accepted (sent) less the recipients whose message bounced afterwards.

Conversions and revenue are the orders credited to the campaign (fidele.analytics.attribution:
the customer's last click by a person within the window before ordering), read when the report
is made, so an order's total corrected by a later import counts as corrected.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.db.models import Count, Sum

from fidele.analytics.attribution import attribution_rule
from fidele.analytics.models import Attribution, CampaignCount
from fidele.analytics.rollup import campaign_totals, campaign_totals_since_fill, fill_hour
from fidele.delivery.selectors import campaign_counts, campaigns_status_counts
from fidele.tracking.hits import hits_drain


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def campaign_report(*, campaign_id: int, now: dt.datetime | None = None) -> dict[str, Any]:
    hits_drain()  # the opens and clicks still queued count too (one query when none wait)
    outbox = campaign_counts(campaign_id=campaign_id)
    attributed = Attribution.objects.filter(campaign_id=campaign_id)
    sales = attributed.aggregate(orders=Count("order_id"), revenue=Sum("order__total"))
    revenue = float(sales["revenue"] or Decimal(0))
    revenue_by_url = {
        row["url"]: row["revenue"]
        for row in attributed.values("url").annotate(revenue=Sum("order__total"))
    }
    totals = campaign_totals(campaign_id=campaign_id, now=now)
    recipients = totals.get("recipients", {})
    events = totals.get("events", {})
    bounces = totals.get("bounces", {})

    def people(kind: str, judgment: str = "human") -> int:
        return recipients.get(f"{kind}:{judgment}", 0)

    bounced = sum(bounces.values())
    delivered = max(outbox["sent"] - bounced, 0)
    opens, clicks = people("open"), people("click")
    link_recipients = totals.get("link_recipients", {})
    links = sorted(
        (
            {
                "url": url,
                "clicks": count,
                "recipients": link_recipients.get(url, 0),
                "revenue": float(revenue_by_url.get(url) or 0),
            }
            for url, count in totals.get("link_clicks", {}).items()
        ),
        key=lambda link: (-link["clicks"], link["url"]),
    )
    clients = sorted(
        (
            {"client": key.split("|")[0], "device": key.split("|")[1], "opens": count}
            for key, count in totals.get("clients", {}).items()
        ),
        key=lambda row: -row["opens"],
    )
    return {
        "campaign_id": campaign_id,
        "sent": outbox["sent"],
        "failed": outbox["failed"],
        "delivered": delivered,
        "bounced": bounced,
        "bounced_hard": bounces.get("hard", 0),
        "bounced_soft": bounces.get("soft", 0),
        "opens_human": opens,
        "opens_machine": people("open", "machine"),
        "opens_human_total": events.get("open:human", 0),
        "opens_machine_total": events.get("open:machine", 0),
        "clicks_human": clicks,
        "clicks_machine": people("click", "machine"),
        "clicks_human_total": events.get("click:human", 0),
        "clicks_machine_total": events.get("click:machine", 0),
        "unsubscribed": people("unsubscribe"),
        "complaints": people("complaint"),
        "open_rate": _rate(opens, delivered),
        "click_rate": _rate(clicks, delivered),
        "click_to_open_rate": _rate(clicks, opens),
        "unsubscribe_rate": _rate(people("unsubscribe"), delivered),
        "conversions": sales["orders"],
        "revenue": revenue,
        "revenue_per_recipient": round(revenue / delivered, 2) if delivered else None,
        "attribution_rule": attribution_rule(),
        "links": links,
        "clients": clients,
    }


# Published industry averages a report compares with (all sectors), named with their source and
# year on the page. Brevo, "Email marketing benchmarks", 2023.
INDUSTRY_AVERAGES = {
    "source": "Brevo, Email Marketing Benchmarks 2023",
    "open_rate": 0.219,
    "click_rate": 0.0396,
    "unsubscribe_rate": 0.0015,
}


def campaign_timeline(*, campaign_id: int, hours: int = 48) -> list[dict[str, Any]]:
    """People's opens and clicks per hour from the first one, for the report's chart: the
    rolled-up hours, then the hour being filled (its events counted on the spot)."""
    per_hour: dict[dt.datetime, dict[str, int]] = {}
    rows = CampaignCount.objects.filter(
        campaign_id=campaign_id, stat="events", subgroup__in=("open:human", "click:human")
    ).values_list("hour", "subgroup", "value")
    for hour, subgroup, value in rows:
        per_hour.setdefault(hour, {"open": 0, "click": 0})[subgroup.split(":")[0]] += value
    live = campaign_totals_since_fill(campaign_id=campaign_id, stat="events")
    if live:
        hour = fill_hour("events")
        slot = per_hour.setdefault(hour, {"open": 0, "click": 0})
        slot["open"] += live.get("open:human", 0)
        slot["click"] += live.get("click:human", 0)
    if not per_hour:
        return []
    first = min(per_hour)
    span = int((max(per_hour) - first).total_seconds() // 3600) + 1
    slots = [first + dt.timedelta(hours=n) for n in range(min(hours, span))]
    return [{"hour": slot, **per_hour.get(slot, {"open": 0, "click": 0})} for slot in slots]


def account_averages(*, exclude_campaign_id: int | None = None) -> dict[str, float | None]:
    """The mean open, click and unsubscribe rates of the account's other sent campaigns (each
    campaign weighs the same), from the rolled-up counts: the yardstick a shop knows best."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        CampaignCount.objects.filter(
            stat__in=("recipients", "bounces"),
        )
        .exclude(campaign_id=exclude_campaign_id)
        .values("campaign_id", "stat", "subgroup")
        .annotate(total=Sum("value"))
    )
    for row in rows:
        key = row["subgroup"] if row["stat"] == "recipients" else "bounced"
        counts[row["campaign_id"]][key] = counts[row["campaign_id"]].get(key, 0) + row["total"]
    sent = campaigns_status_counts(campaign_ids=list(counts))
    rates: dict[str, list[float]] = {"open_rate": [], "click_rate": [], "unsubscribe_rate": []}
    for campaign_id, values in counts.items():
        delivered = sent.get(campaign_id, {}).get("sent", 0) - values.get("bounced", 0)
        if delivered <= 0:
            continue
        rates["open_rate"].append(values.get("open:human", 0) / delivered)
        rates["click_rate"].append(values.get("click:human", 0) / delivered)
        rates["unsubscribe_rate"].append(values.get("unsubscribe:human", 0) / delivered)
    return {
        key: round(sum(values) / len(values), 4) if values else None
        for key, values in rates.items()
    } | {"campaigns": len(rates["open_rate"])}
