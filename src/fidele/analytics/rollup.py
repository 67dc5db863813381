"""The rollup: raw events counted hour by hour into CampaignCount, with a fill state per stat.

Each stat is a function that counts one window of events, per campaign and subgroup. `rollup_fill`
fills every complete hour since the stat's fill state, one transaction per hour (the hour's rows
replaced, then the state moved on): run hourly by the worker and on demand (`fidele campaign
report` runs it first), it is idempotent and picks up where a killed run stopped.

Counts of distinct recipients are summable across hours because each recipient is counted in
the hour of their *first* event of a kind ("first human open"): the sum over hours is the number
of recipients who ever did it. Hours are filled a minute after they end, since a click is
re-judged (a burst, the honeypot) within seconds of the clicks after it.

Reports read the filled hours plus the events since, counted by the same functions
(`campaign_totals`): a report is never behind what the server recorded. Opens and clicks wait
in tracking's queue for a few seconds before they are events: the fill and the report drain it
first (fidele.tracking.hits), so that neither misses a hit the server answered.

The customer-analytics issue extends it with stats over orders and customers: one more entry in
STATS, with its own count table if it is not per campaign.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, QuerySet, Sum
from django.utils import timezone

from fidele.analytics.attribution import attributions_record
from fidele.analytics.models import CampaignCount, FillState
from fidele.tracking.hits import hits_drain
from fidele.tracking.models import EmailEvent
from fidele.tracking.services import contacts_engagement_refresh, events_delete_before

HOUR = dt.timedelta(hours=1)
# How long after its end an hour is left alone before it is filled.
SETTLE = dt.timedelta(minutes=1)

Row = tuple[int, str, int]  # (campaign id, subgroup, value)
Counter = Callable[[QuerySet[EmailEvent], dt.datetime], Iterable[Row]]


def _kind(is_machine: bool) -> str:
    return "machine" if is_machine else "human"


def _events(window: QuerySet[EmailEvent], start: dt.datetime) -> Iterable[Row]:
    """Every event, by type and by people or machines: total opens, clicks, bounces..."""
    for row in window.values("campaign_id", "type", "is_machine").annotate(n=Count("id")):
        yield row["campaign_id"], f"{row['type']}:{_kind(row['is_machine'])}", row["n"]


def _first_of(window: QuerySet[EmailEvent], start: dt.datetime, **same: object) -> QuerySet:
    """The window's events that are the first of their recipient for their campaign, type and
    judgment (and whatever `same` adds): none like them before `start`."""
    earlier = EmailEvent.objects.filter(
        campaign_id=OuterRef("campaign_id"),
        contact_id=OuterRef("contact_id"),
        type=OuterRef("type"),
        is_machine=OuterRef("is_machine"),
        at__lt=start,
        **same,
    )
    return window.filter(contact_id__isnull=False).exclude(Exists(earlier))


def _recipients(window: QuerySet[EmailEvent], start: dt.datetime) -> Iterable[Row]:
    """Recipients counted in the hour of their first event of a type and judgment."""
    rows = (
        _first_of(window, start)
        .values("campaign_id", "type", "is_machine")
        .annotate(n=Count("contact_id", distinct=True))
    )
    for row in rows:
        yield row["campaign_id"], f"{row['type']}:{_kind(row['is_machine'])}", row["n"]


def _bounces(window: QuerySet[EmailEvent], start: dt.datetime) -> Iterable[Row]:
    """Bounced recipients by kind (hard, soft), counted once per kind."""
    rows = (
        _first_of(window.filter(type=EmailEvent.Type.BOUNCE), start)
        .values("campaign_id", "details__kind")
        .annotate(n=Count("contact_id", distinct=True))
    )
    for row in rows:
        yield row["campaign_id"], str(row["details__kind"] or "unknown"), row["n"]


def _link_clicks(window: QuerySet[EmailEvent], start: dt.datetime) -> Iterable[Row]:
    """People's clicks per link (machines' are in `events`)."""
    rows = (
        window.filter(type=EmailEvent.Type.CLICK, is_machine=False)
        .values("campaign_id", "url")
        .annotate(n=Count("id"))
    )
    for row in rows:
        yield row["campaign_id"], row["url"][:300], row["n"]


def _link_recipients(window: QuerySet[EmailEvent], start: dt.datetime) -> Iterable[Row]:
    """People who clicked each link, in the hour of their first click on it."""
    clicks = window.filter(type=EmailEvent.Type.CLICK, is_machine=False)
    rows = (
        _first_of(clicks, start, url=OuterRef("url"))
        .values("campaign_id", "url")
        .annotate(n=Count("contact_id", distinct=True))
    )
    for row in rows:
        yield row["campaign_id"], row["url"][:300], row["n"]


def _clients(window: QuerySet[EmailEvent], start: dt.datetime) -> Iterable[Row]:
    """People's opens by mail client and device."""
    rows = (
        window.filter(type=EmailEvent.Type.OPEN, is_machine=False)
        .values("campaign_id", "client", "device")
        .annotate(n=Count("id"))
    )
    for row in rows:
        yield row["campaign_id"], f"{row['client']}|{row['device']}", row["n"]


STATS: dict[str, Counter] = {
    "events": _events,
    "recipients": _recipients,
    "bounces": _bounces,
    "link_clicks": _link_clicks,
    "link_recipients": _link_recipients,
    "clients": _clients,
}


def _window(start: dt.datetime, end: dt.datetime) -> QuerySet[EmailEvent]:
    return EmailEvent.objects.filter(at__gte=start, at__lt=end, campaign_id__isnull=False)


def _floor_hour(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def _start_of(stat: str) -> dt.datetime | None:
    state = FillState.objects.filter(stat=stat).values_list("filled_until", flat=True).first()
    if state is not None:
        return state
    first = EmailEvent.objects.order_by("at").values_list("at", flat=True).first()
    return _floor_hour(first) if first is not None else None


@dataclass
class FillResult:
    attributed: int = 0
    hours: int = 0
    rows: int = 0


# The fill state of the contacts' last human engagement (Contact.last_engaged_at), moved forward
# over the same settled hours; no count table of its own.
ENGAGEMENT = "contacts_engagement"


def _engagement_fill(until: dt.datetime) -> None:
    since = FillState.objects.filter(stat=ENGAGEMENT).values_list("filled_until", flat=True).first()
    if since is not None and since >= until:
        return
    with transaction.atomic():
        contacts_engagement_refresh(since=since, until=until)
        FillState.objects.update_or_create(stat=ENGAGEMENT, defaults={"filled_until": until})


def rollup_fill(*, now: dt.datetime | None = None) -> FillResult:
    """Fill every stat up to the last complete, settled hour, and the contacts' last human
    engagement with them (read by the data-quality audit: the raw events do not last)."""
    until = _floor_hour((now or timezone.now()) - SETTLE)
    hits_drain()  # the hours to fill, and the orders to credit, see every hit answered
    result = FillResult(attributed=attributions_record())
    _engagement_fill(until)
    for stat, counter in STATS.items():
        start = _start_of(stat)
        if start is None:
            FillState.objects.update_or_create(stat=stat, defaults={"filled_until": until})
            continue
        while start < until:
            # Hours without events are skipped in one step (a quiet night, or the months before
            # tracking started): the next hour worth filling is the next event's.
            following = (
                EmailEvent.objects.filter(at__gte=start, campaign_id__isnull=False)
                .order_by("at")
                .values_list("at", flat=True)
                .first()
            )
            if following is None or following >= until:
                FillState.objects.update_or_create(stat=stat, defaults={"filled_until": until})
                break
            start = max(start, _floor_hour(following))
            end = start + HOUR
            with transaction.atomic():
                CampaignCount.objects.filter(stat=stat, hour=start).delete()
                rows = [
                    CampaignCount(stat=stat, campaign_id=c, subgroup=s, hour=start, value=v)
                    for c, s, v in counter(_window(start, end), start)
                    if v
                ]
                CampaignCount.objects.bulk_create(rows, batch_size=1000)
                FillState.objects.update_or_create(stat=stat, defaults={"filled_until": end})
            result.hours += 1
            result.rows += len(rows)
            start = end
    return result


def fill_hour(stat: str) -> dt.datetime:
    """The hour being filled for `stat` (where the events not rolled up yet fall)."""
    return _start_of(stat) or _floor_hour(timezone.now())


def campaign_totals_since_fill(
    *, campaign_id: int, stat: str, now: dt.datetime | None = None
) -> dict[str, int]:
    """{subgroup: value} of one stat over the events not rolled up yet."""
    end = now or timezone.now()
    start = _start_of(stat) or _floor_hour(end)
    window = _window(start, end + dt.timedelta(seconds=1)).filter(campaign_id=campaign_id)
    totals: dict[str, int] = defaultdict(int)
    for _campaign, subgroup, value in STATS[stat](window, start):
        totals[subgroup] += value
    return dict(totals)


def campaign_totals(*, campaign_id: int, now: dt.datetime | None = None) -> dict[str, dict]:
    """{stat: {subgroup: value}} of one campaign since it began: the filled hours, plus the
    events since the fill state counted on the spot."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = (
        CampaignCount.objects.filter(campaign_id=campaign_id)
        .values("stat", "subgroup")
        .annotate(total=Sum("value"))
    )
    for row in rows:
        totals[row["stat"]][row["subgroup"]] += row["total"]
    for stat in STATS:
        for subgroup, value in campaign_totals_since_fill(
            campaign_id=campaign_id, stat=stat, now=now
        ).items():
            totals[stat][subgroup] += value
    return {stat: dict(groups) for stat, groups in totals.items()}


def raw_events_retention(*, now: dt.datetime | None = None) -> int:
    """Delete the opens and clicks older than EVENT_RETENTION_DAYS, never before every stat has
    counted them and the contacts' engagement taken them in (a rollup that fell behind keeps its
    events until it catches up). Bounces, unsubscribes and complaints are kept: they are the
    proof behind a suppression."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.EVENT_RETENTION_DAYS)
    counted = {*STATS, ENGAGEMENT}
    states = dict(FillState.objects.filter(stat__in=counted).values_list("stat", "filled_until"))
    if set(states) != counted:
        return 0
    moment = min(cutoff, *states.values())
    return events_delete_before(moment=moment, types=(EmailEvent.Type.OPEN, EmailEvent.Type.CLICK))
