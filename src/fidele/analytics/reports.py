"""What a campaign did, from the send engine's outbox and the rolled-up events.

Opens and clicks count distinct recipients (a person who opened five times opened once);
`*_total` count every event. People and machines are counted apart: a recipient whose message
was only opened by Apple's proxy is in `opens_machine`, not in `opens_human`; one whose message
a scanner clicked and who then clicked too is in both. `delivered` is what the receiving
servers accepted (sent) less the recipients whose message bounced afterwards.

Conversions and revenue need the attribution of orders to clicks (issue 9, item 3), which is
not built yet: they are reported as 0 with `revenue_measured: false` until it is.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fidele.analytics.rollup import campaign_totals
from fidele.delivery.selectors import campaign_counts


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def campaign_report(*, campaign_id: int, now: dt.datetime | None = None) -> dict[str, Any]:
    outbox = campaign_counts(campaign_id=campaign_id)
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
            {"url": url, "clicks": count, "recipients": link_recipients.get(url, 0)}
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
        "conversions": 0,
        "revenue": 0.0,
        "revenue_measured": False,
        "links": links,
        "clients": clients,
    }
