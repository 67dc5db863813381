"""The web analytics page: its figures, each from the visits the snippet recorded, the funnel,
the range of days, and the settings page of sites and goals."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from fidele.analytics.website import DayRange, website_funnel, website_sources, website_summary
from fidele.tracking.models import Site, SiteGoal, SiteVisit
from fidele.tracking.site import Visitor, hit_parse, site_hit_record
from fidele.tracking.site_config import site_by_key
from tests.factories import make_site

pytestmark = pytest.mark.django_db

ORIGIN = "https://cave-de-lea.fr"
AGENTS = [
    f"Mozilla/5.0 (X11; Linux x86_64; rv:{n}.0) Gecko/20100101 Firefox/{n}.0" for n in range(90, 99)
]


def hit(visitor: int, kind: str, path: str, at: dt.datetime, **fields) -> None:
    body = {"s": "cave-de-lea", "t": kind, "u": f"{ORIGIN}{path}", **fields}
    site_hit_record(
        hit=hit_parse(json.dumps(body).encode()),
        site=site_by_key("cave-de-lea"),
        visitor=Visitor(origin=ORIGIN, address="198.51.100.1", user_agent=AGENTS[visitor]),
        now=at,
    )


@pytest.fixture
def traffic(db):
    """Yesterday, four visits of three visitors:
    0: / -> /vins -> /panier -> /merci with a purchase of 60 €, from google (utm none)
    1: / only (a bounce), from a newsletter link (utm_source=lettre, utm_campaign=primeurs)
    2: /vins -> / -> /panier (the funnel / -> /panier still counts: / comes before /panier)
       and an event "newsletter"
    0 again, two hours later: /vins only (a bounce)."""
    make_site(ORIGIN)
    day = timezone.localdate() - dt.timedelta(days=1)
    noon = timezone.make_aware(dt.datetime.combine(day, dt.time(12)))
    minute = dt.timedelta(minutes=1)
    for n, path in enumerate(["/", "/vins", "/panier", "/merci"]):
        hit(0, "pageview", path, noon + n * minute, r="https://www.google.com/")
    hit(0, "purchase", "/merci", noon + 5 * minute, p={"amount": 60, "order_id": "W-1"})
    hit(1, "pageview", "/?utm_source=lettre&utm_campaign=primeurs", noon)
    for n, path in enumerate(["/vins", "/", "/panier"]):
        hit(2, "pageview", path, noon + n * minute)
    hit(2, "event", "/panier", noon + 4 * minute, n="newsletter")
    hit(0, "pageview", "/vins", noon + dt.timedelta(hours=2))
    return DayRange(first=day, last=day)


def test_the_figures_of_a_day(traffic):
    site_id = Site.objects.get().pk
    summary = website_summary(site_id=site_id, days=traffic)
    assert summary["visitors"] == 3
    assert summary["visits"] == 4
    assert summary["pageviews"] == 9
    assert summary["bounce_rate"] == 0.5
    assert summary["pages_per_visit"] == 2.25
    assert summary["conversion_rate"] == 0.25  # the purchase; no goal yet
    assert (summary["purchases"], summary["revenue"]) == (1, Decimal("60.00"))
    SiteGoal.objects.create(site_id=site_id, kind="event", value="newsletter")
    SiteGoal.objects.create(site_id=site_id, kind="page", value="/panier")
    summary = website_summary(site_id=site_id, days=traffic)
    assert summary["conversion_rate"] == 0.5  # visit 0 (purchase, /panier) and visit 2
    assert {(g["value"], g["visits"]) for g in summary["goals"]} == {
        ("newsletter", 1),
        ("/panier", 2),
    }
    assert [slot["visits"] for slot in summary["daily"]] == [4]


def test_visitors_over_several_days_are_the_sum_of_each_days(traffic):
    site_id = Site.objects.get().pk
    SiteVisit.objects.filter(visitor=SiteVisit.objects.first().visitor).update(
        day=traffic.first - dt.timedelta(days=1)
    )
    two_days = DayRange(first=traffic.first - dt.timedelta(days=1), last=traffic.last)
    summary = website_summary(site_id=site_id, days=two_days)
    assert summary["visits"] == 4 and len(summary["daily"]) == 2
    assert summary["visitors"] == sum(slot["visitors"] for slot in summary["daily"])


def test_sources_read_the_utm_source_first_then_the_referrer(traffic):
    rows = website_sources(site_id=Site.objects.get().pk, days=traffic)
    assert {row["source"]: row["visits"] for row in rows} == {"google.com": 1, "lettre": 1, "": 2}


def test_the_funnel_counts_visits_that_saw_the_pages_in_that_order(traffic):
    funnel = website_funnel(
        site_id=Site.objects.get().pk, days=traffic, steps=["/", "/panier", "/merci"]
    )
    assert [(s["path"], s["visits"]) for s in funnel] == [("/", 3), ("/panier", 2), ("/merci", 1)]
    assert [s["rate"] for s in funnel] == [None, 0.6667, 0.5]
    backwards = website_funnel(site_id=Site.objects.get().pk, days=traffic, steps=["/panier", "/"])
    assert [s["visits"] for s in backwards] == [2, 0]


def test_the_page_shows_the_figures_tables_and_funnel(viewer_client, traffic):
    day = traffic.first.isoformat()
    response = viewer_client.get(
        "/analytics/website/",
        {"start": day, "end": day, "step": ["/", "https://cave-de-lea.fr/panier?x=1", ""]},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert response.context["summary"]["visits"] == 4
    assert [s["path"] for s in response.context["funnel"]] == ["/", "/panier"]
    for text in ('id="top-pages"', "/vins", "google.com", "primeurs", "newsletter", 'id="funnel"',
                 "data-site=&quot;cave-de-lea&quot;"):  # fmt: skip
        assert text in html, text
    assert 'href="/analytics/website/settings/"' not in html  # a viewer does not configure


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2026-13-40"},
        {"start": "2026-05-10", "end": "2026-05-01"},
        {"start": "2020-01-01", "end": "2026-01-01"},
        {"start": "x" * 5000},
        {"step": ["\x00/a"] * 20},
    ],
)
def test_a_bad_range_or_funnel_is_said_and_the_last_30_days_shown(viewer_client, traffic, params):
    response = viewer_client.get("/analytics/website/", params)
    assert response.status_code == 200
    assert response.context["days"].days == 30
    assert len(response.context["steps"]) <= 5


def test_without_a_site_the_page_says_how_to_start(marketer_client):
    response = marketer_client.get("/analytics/website/")
    assert response.status_code == 200
    assert b'href="/analytics/website/settings/"' in response.content


def test_a_marketer_adds_a_site_and_goals_and_a_viewer_cannot(marketer_client, viewer):
    viewer_client = Client()
    viewer_client.force_login(viewer)
    response = marketer_client.post(
        "/analytics/website/settings/add/",
        {"name": "Cave", "origins": "https://cave.example\nhttps://www.cave.example/"},
    )
    assert response.status_code == 302
    site = Site.objects.get()
    assert site.origin_list == ["https://cave.example", "https://www.cave.example"]
    page = marketer_client.get("/analytics/website/settings/").content.decode()
    assert f"data-site=&quot;{site.key}&quot;" in page
    marketer_client.post(
        f"/analytics/website/settings/{site.pk}/goals/", {"kind": "page", "value": "merci"}
    )
    assert SiteGoal.objects.get().value == "/merci"
    bad = marketer_client.post(
        "/analytics/website/settings/add/", {"name": "x", "origins": "ftp://cave.example"}
    )
    assert bad.status_code == 400 and "ftp://cave.example" in bad.content.decode()
    assert viewer_client.get("/analytics/website/settings/").status_code == 403
    assert (
        viewer_client.post(f"/analytics/website/settings/{site.pk}/", {"delete": "1"}).status_code
        == 403
    )
    marketer_client.post(f"/analytics/website/settings/{site.pk}/", {"delete": "1"})
    assert not Site.objects.exists() and not SiteGoal.objects.exists()
