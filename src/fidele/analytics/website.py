"""What the shop's website did over a range of days, from the visits and events the snippet
recorded (fidele.tracking.site). The database aggregates; Python only shapes the few rows.

Definitions, as the page explains them:
- a visitor is one browser on one day (the id changes every day, by design: no cookie), so
  visitors over several days are the sum of each day's;
- a visit is a visitor's hits with no gap of 30 minutes; it belongs to the day it started;
- a bounce is a visit of one page (or none: a visit of events only);
- a converted visit made a purchase or reached one of the site's goals (a page, an event).

Read straight from the raw tables, which hold 13 months at most (EVENT_RETENTION_DAYS): the
funnel needs each visit's pages in order, which no pre-aggregated count keeps.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Case, Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum, When

from fidele.tracking.models import SiteEvent, SiteGoal, SiteVisit

MAX_FUNNEL_STEPS = 5
TOP_ROWS = 15


@dataclass(frozen=True)
class DayRange:
    """From `first` to `last`, both included (the shop's days)."""

    first: dt.date
    last: dt.date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        tz = ZoneInfo(settings.TIME_ZONE)
        start = dt.datetime.combine(self.first, dt.time.min, tzinfo=tz)
        end = dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        return start, end


def _visits(site_id: int, days: DayRange) -> QuerySet[SiteVisit]:
    return SiteVisit.objects.filter(site_id=site_id, day__gte=days.first, day__lte=days.last)


def _events(site_id: int, days: DayRange, type: str) -> QuerySet[SiteEvent]:
    start, end = days.bounds()
    return SiteEvent.objects.filter(site_id=site_id, type=type, at__gte=start, at__lt=end)


def _goal_filter(goal: SiteGoal) -> Q:
    if goal.kind == SiteGoal.Kind.PAGE:
        return Q(type=SiteEvent.Type.PAGEVIEW, path=goal.value)
    return Q(type=SiteEvent.Type.EVENT, name=goal.value)


def _reached(goal_filter: Q) -> Exists:
    return Exists(SiteEvent.objects.filter(goal_filter, visit=OuterRef("pk")))


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def website_summary(*, site_id: int, days: DayRange) -> dict[str, Any]:
    visits = _visits(site_id, days)
    goals = list(SiteGoal.objects.filter(site_id=site_id).order_by("kind", "value"))
    converted = Q(purchases__gt=0)
    for goal in goals:
        converted |= _reached(_goal_filter(goal))
    totals = visits.aggregate(
        visits=Count("id"),
        all_pageviews=Sum("pageviews"),
        bounces=Count("id", filter=Q(pageviews__lte=1)),
        all_purchases=Sum("purchases"),
        all_revenue=Sum("revenue"),
        purchase_visits=Count("id", filter=Q(purchases__gt=0)),
        from_email=Count("id", filter=Q(contact__isnull=False)),
        converted=Count("id", filter=converted),
    )
    daily = list(
        visits.values("day")
        .annotate(visitors=Count("visitor", distinct=True), visits=Count("id"))
        .order_by("day")
    )
    count = totals["visits"]
    pageviews = totals["all_pageviews"] or 0
    return {
        "visitors": sum(row["visitors"] for row in daily),
        "visits": count,
        "pageviews": pageviews,
        "bounce_rate": _rate(totals["bounces"], count),
        "pages_per_visit": round(pageviews / count, 2) if count else None,
        "conversion_rate": _rate(totals["converted"], count),
        "converted": totals["converted"],
        "purchases": totals["all_purchases"] or 0,
        "purchase_visits": totals["purchase_visits"],
        "purchase_rate": _rate(totals["purchase_visits"], count),
        "revenue": totals["all_revenue"] or Decimal(0),
        "from_email": totals["from_email"],
        "daily": _every_day(daily, days),
        "goals": [
            {
                "kind": goal.kind,
                "value": goal.value,
                "visits": (n := visits.filter(_reached(_goal_filter(goal))).count()),
                "rate": _rate(n, count),
            }
            for goal in goals
        ],
    }


def _every_day(rows: list[dict[str, Any]], days: DayRange) -> list[dict[str, Any]]:
    """One slot per day of the range, quiet days included (the chart's gaps are real)."""
    by_day = {row["day"]: row for row in rows}
    return [
        {
            "day": day,
            "visitors": by_day.get(day, {}).get("visitors", 0),
            "visits": by_day.get(day, {}).get("visits", 0),
        }
        for day in (days.first + dt.timedelta(days=n) for n in range(days.days))
    ]


def website_pages(*, site_id: int, days: DayRange) -> list[dict[str, Any]]:
    """The most viewed pages: views, and visits that saw them."""
    return list(
        _events(site_id, days, SiteEvent.Type.PAGEVIEW)
        .values("path")
        .annotate(views=Count("id"), visits=Count("visit_id", distinct=True))
        .order_by("-views", "path")[:TOP_ROWS]
    )


def website_sources(*, site_id: int, days: DayRange) -> list[dict[str, Any]]:
    """Where visits came from: the UTM source when the link said one, else the referring
    site's host, else "" (typed in, a bookmark, an app that says nothing)."""
    source = Case(When(~Q(utm_source=""), then=F("utm_source")), default=F("referrer"))
    return list(
        _visits(site_id, days)
        .annotate(source=source)
        .values("source")
        .annotate(visits=Count("id"), purchases=Sum("purchases"), revenue=Sum("revenue"))
        .order_by("-visits", "source")[:TOP_ROWS]
    )


def website_campaigns(*, site_id: int, days: DayRange) -> list[dict[str, Any]]:
    """Visits by UTM campaign (with its source and medium), for links that carry one."""
    return list(
        _visits(site_id, days)
        .exclude(utm_campaign="")
        .values("utm_campaign", "utm_source", "utm_medium")
        .annotate(visits=Count("id"), purchases=Sum("purchases"), revenue=Sum("revenue"))
        .order_by("-visits", "utm_campaign")[:TOP_ROWS]
    )


def website_events(*, site_id: int, days: DayRange) -> list[dict[str, Any]]:
    """The site's custom events: how many, and in how many visits."""
    return list(
        _events(site_id, days, SiteEvent.Type.EVENT)
        .values("name")
        .annotate(count=Count("id"), visits=Count("visit_id", distinct=True))
        .order_by("-count", "name")[:TOP_ROWS]
    )


def website_funnel(*, site_id: int, days: DayRange, steps: list[str]) -> list[dict[str, Any]]:
    """Visits that went through the pages of `steps` in that order (other pages between them
    allowed): for each step, how many reached it after the steps before, and what share of the
    step before went on."""
    steps = steps[:MAX_FUNNEL_STEPS]
    visits = _visits(site_id, days)
    for index, path in enumerate(steps):
        reached = SiteEvent.objects.filter(
            visit=OuterRef("pk"), type=SiteEvent.Type.PAGEVIEW, path=path
        )
        if index:
            reached = reached.filter(at__gt=OuterRef(f"step{index - 1}"))
        visits = visits.annotate(
            **{f"step{index}": Subquery(reached.order_by("at").values("at")[:1])}
        )
    counts = visits.aggregate(**{f"n{index}": Count(f"step{index}") for index in range(len(steps))})
    funnel = []
    for index, path in enumerate(steps):
        n = counts[f"n{index}"]
        before = counts[f"n{index - 1}"] if index else None
        funnel.append(
            {
                "path": path,
                "visits": n,
                "rate": _rate(n, before) if index else None,
                "share": _rate(n, counts["n0"]),
            }
        )
    return funnel
