"""The demo shop's website and eight weeks of its visits, so that the web analytics page of a
fresh `make run` reads like a small shop's: 40 to 90 visits a day, more on Saturdays, most
from search engines and typed in, a bump the days after the newsletter (whose human clickers'
visits are tied to them, as the snippet does for a contact who allows it), a few purchases and
a path through the basket to the order confirmation for the funnel.

Drawn from a random generator of its own (the seed plus 2), dated relative to the reference
day, written in bulk as the demo's newsletter events are.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from random import Random
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.text import slugify

from fidele.campaigns.models import Campaign
from fidele.core.actors import System
from fidele.tracking.models import EmailEvent, Site, SiteEvent, SiteGoal, SiteVisit
from fidele.tracking.site_config import goal_add, site_create

DAYS = 56
ORIGIN = "https://cave-et-terroir.fr"
# (referrer host, utm source, utm medium, utm campaign, weight)
SOURCES = (
    ("", "", "", "", 34),
    ("google.com", "", "", "", 31),
    ("qwant.com", "", "", "", 4),
    ("bing.com", "", "", "", 3),
    ("facebook.com", "", "", "", 7),
    ("instagram.com", "instagram", "social", "coffrets-noel", 6),
    ("sud-ouest.example", "", "", "", 2),
)
# Where a page leads (the next page, and its weight); "" ends the visit.
NEXT = {
    "/": (("/vins", 30), ("/fromages", 14), ("/ateliers", 8), ("/contact", 4), ("", 44)),
    "/vins": (("/vins/primeurs", 24), ("/vins/bergerac-rouge", 18), ("/panier", 12), ("", 46)),
    "/vins/primeurs": (("/panier", 22), ("/vins", 16), ("", 62)),
    "/vins/bergerac-rouge": (("/panier", 20), ("/vins", 14), ("", 66)),
    "/fromages": (("/panier", 14), ("/", 10), ("", 76)),
    "/ateliers": (("/ateliers/inscription", 12), ("/", 8), ("", 80)),
    "/ateliers/inscription": (("", 100),),
    "/contact": (("", 100),),
    "/panier": (("/commande", 48), ("/vins", 12), ("", 40)),
    "/commande": (("/commande/merci", 62), ("", 38)),
    "/commande/merci": (("", 100),),
}
ENTRIES = (("/", 46), ("/vins", 16), ("/vins/primeurs", 12), ("/fromages", 12), ("/ateliers", 8),
           ("/vins/bergerac-rouge", 6))  # fmt: skip
CLIENTS = (("Chrome Mobile", "mobile", 30), ("Mobile Safari", "mobile", 25),
           ("Chrome", "desktop", 20), ("Firefox", "desktop", 7), ("Safari", "desktop", 6),
           ("Edge", "desktop", 5), ("Mobile Safari", "tablet", 7))  # fmt: skip
HOURS = [0.2, 0.1, 0.1, 0.1, 0.1, 0.3, 0.8, 1.5, 2.5, 3.0, 3.2, 3.6, 4.5, 4.2, 3.3, 3.0, 3.1,
         3.6, 4.6, 5.4, 5.6, 4.8, 3.0, 1.2]  # fmt: skip
DEMO_ACTOR = System(name="fidele demo")


def _pick(rng: Random, table: tuple, weight_index: int = -1) -> tuple:
    return rng.choices(table, [row[weight_index] for row in table])[0]


def demo_website_traffic(*, today: dt.date, seed: int, newsletter: Campaign) -> Site:
    rng = Random(seed + 2)
    site = site_create(actor=DEMO_ACTOR, name="cave-et-terroir.fr", origins=ORIGIN,
                       key="cave-et-terroir")  # fmt: skip
    goal_add(actor=DEMO_ACTOR, site=site, kind=SiteGoal.Kind.PAGE, value="/ateliers/inscription")
    goal_add(actor=DEMO_ACTOR, site=site, kind=SiteGoal.Kind.EVENT, value="newsletter")
    tz = ZoneInfo(settings.TIME_ZONE)
    # The newsletter's human clicks become visits of the contacts who made them.
    clicks = list(
        EmailEvent.objects.filter(
            campaign=newsletter, type=EmailEvent.Type.CLICK, is_machine=False
        ).values_list("contact_id", "at", "url")
    )
    newsletter.refresh_from_db(fields=["utm_campaign"])
    utm_newsletter = newsletter.utm_campaign or slugify(newsletter.name)
    plans: list[tuple[SiteVisit, list[tuple[str, str, Decimal | None]]]] = []
    # Some people come back later the same day: the same visitor id, another visit.
    returning: list[int] = []
    for back in range(DAYS, -1, -1):
        day = today - dt.timedelta(days=back)
        weekday_weight = (1.0, 0.9, 0.95, 1.0, 1.15, 1.45, 0.7)[day.weekday()]
        count = int(rng.gauss(58, 9) * weekday_weight * (1 + (DAYS - back) / DAYS / 3))
        if back == 0:
            count = count * 11 // 24  # today is not over
        for _ in range(max(count, 0)):
            hour = rng.choices(range(24), HOURS)[0] if back else rng.randrange(11)
            start = dt.datetime.combine(day, dt.time(hour, rng.randrange(60)), tzinfo=tz)
            referrer, source, medium, utm_campaign, _weight = _pick(rng, SOURCES)
            visit, hits = _visit(
                rng, site, start, day, referrer, source, medium, utm_campaign, None, None
            )
            if returning and rng.random() < 0.18:
                visit.visitor = rng.choice(returning)
            returning.append(visit.visitor)
            plans.append((visit, hits))
        returning.clear()
    for contact_id, at, url in clicks:
        local = at.astimezone(tz)
        path = "/" + url.split("://", 1)[1].partition("/")[2]
        plans.append(
            _visit(
                rng,
                site,
                local + dt.timedelta(seconds=2),
                local.date(),
                "",
                "fidele",
                "email",
                utm_newsletter,
                contact_id,
                newsletter.pk,
                entry=path,
            )
        )
    visits = SiteVisit.objects.bulk_create([visit for visit, _hits in plans], batch_size=1000)
    events = []
    for visit, (_plan, hits) in zip(visits, plans, strict=True):
        at = visit.started_at
        for kind, value, amount in hits:
            is_page = kind == SiteEvent.Type.PAGEVIEW
            events.append(
                SiteEvent(
                    visit=visit,
                    site=site,
                    at=at,
                    type=kind,
                    path=value if is_page else visit.exit_path,
                    name=value if kind == SiteEvent.Type.EVENT else "",
                    amount=amount,
                    currency="EUR" if amount is not None else "",
                    order_id=f"WEB-{visit.pk}" if amount is not None else "",
                )  # fmt: skip
            )
            at += dt.timedelta(seconds=rng.randint(15, 150))
    SiteEvent.objects.bulk_create(events, batch_size=2000)
    return site


def _visit(
    rng: Random,
    site: Site,
    start: dt.datetime,
    day: dt.date,
    referrer: str,
    source: str,
    medium: str,
    utm_campaign: str,
    contact_id: int | None,
    campaign_id: int | None,
    entry: str | None = None,
) -> tuple[SiteVisit, list[tuple[str, str, Decimal | None]]]:
    """One visit and its hits: (type, path or event name, amount)."""
    path = entry if entry in NEXT else _pick(rng, ENTRIES)[0]
    hits: list[tuple[str, str, Decimal | None]] = []
    pages: list[str] = []
    revenue = Decimal(0)
    while path and len(pages) < 12:
        pages.append(path)
        hits.append((SiteEvent.Type.PAGEVIEW, path, None))
        if path == "/commande/merci":
            amount = Decimal(rng.randint(2400, 18000)) / 100
            hits.append((SiteEvent.Type.PURCHASE, path, amount))
            revenue += amount
        if rng.random() < 0.015:
            hits.append((SiteEvent.Type.EVENT, "newsletter", None))
        path = _pick(rng, NEXT[path])[0]
    browser, device, _weight = _pick(rng, CLIENTS)
    events = sum(1 for kind, _v, _a in hits if kind != SiteEvent.Type.PAGEVIEW)
    visit = SiteVisit(
        site=site,
        day=day,
        visitor=rng.getrandbits(63),
        started_at=start,
        last_at=start + dt.timedelta(seconds=90 * len(hits)),
        pageviews=len(pages),
        events=events,
        entry_path=pages[0],
        exit_path=pages[-1],
        referrer=referrer,
        utm_source=source,
        utm_medium=medium,
        utm_campaign=utm_campaign,
        browser=browser,
        device=device,
        purchases=sum(1 for _k, _v, amount in hits if amount is not None),
        revenue=revenue,
        contact_id=contact_id,
        campaign_id=campaign_id,
    )
    return visit, hits
