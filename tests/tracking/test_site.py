"""The web analytics snippet of the shop's own site and the endpoint it sends to (/t/s.js,
/t/e): what is recorded, what is refused, and how a visit from an email is tied to its
contact."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from fidele.analytics.attribution import attributions_record
from fidele.analytics.models import Attribution
from fidele.commerce.models import Order
from fidele.core.tasks import recurring_jobs
from fidele.tracking import site as site_module
from fidele.tracking.models import Site, SiteEvent, SiteSalt, SiteVisit
from fidele.tracking.site import (
    MAX_BODY_BYTES,
    VISIT_PARAM,
    HitRefused,
    SiteHit,
    Visitor,
    hit_parse,
    landing_url_with_visit,
    salts_expire,
    site_hit_record,
    site_upkeep,
    visit_token_make,
    visit_token_read,
)
from fidele.tracking.site_config import site_by_key
from fidele.tracking.tokens import BadToken, token_make
from fidele.tracking.views import PIXEL_GIF  # noqa: F401 - the click view's module loads
from tests.factories import make_contact, make_list, make_order, make_outbox, make_site

pytestmark = pytest.mark.django_db

ORIGIN = "https://cave-de-lea.fr"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def pageview(path: str = "/", **fields) -> dict:
    return {"s": "cave-de-lea", "t": "pageview", "u": f"{ORIGIN}{path}", **fields}


def send(client, body, *, origin=ORIGIN, ua=FIREFOX, ip="203.0.113.7", **headers):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(
        "/t/e",
        data=data,
        content_type="text/plain;charset=UTF-8",
        HTTP_ORIGIN=origin,
        HTTP_USER_AGENT=ua,
        REMOTE_ADDR=ip,
        **headers,
    )


@pytest.fixture
def site(db):
    return make_site(ORIGIN)


# --- the snippet -------------------------------------------------------------------------------


def test_the_snippet_is_javascript_under_one_kilobyte_that_sets_no_cookie(client):
    response = client.get("/t/s.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    body = response.content
    assert len(body) < 1024, len(body)
    assert len(gzip.compress(body)) < 600
    text = body.decode()
    for needed in ("sendBeacon", "keepalive", "pushState", "popstate", "doNotTrack",
                   "globalPrivacyControl", VISIT_PARAM, "purchase"):  # fmt: skip
        assert needed in text, needed
    for storage in ("cookie", "localStorage", "sessionStorage", "indexedDB"):
        assert storage not in text
    assert not response.cookies


# --- what is recorded --------------------------------------------------------------------------


def test_a_page_view_from_the_site_is_recorded_without_the_address_or_the_agent(client, site):
    response = send(client, pageview("/vins/?utm_source=lettre&utm_campaign=primeurs&email=a@b.fr",
                                     r="https://www.google.com/search?q=vin"))  # fmt: skip
    assert response.status_code == 202
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    visit = SiteVisit.objects.get()
    assert (visit.entry_path, visit.pageviews, visit.referrer) == ("/vins/", 1, "google.com")
    assert (visit.utm_source, visit.utm_campaign) == ("lettre", "primeurs")
    assert (visit.browser, visit.device) == ("Firefox", "desktop")
    event = SiteEvent.objects.get()
    assert event.path == "/vins/"  # never the query string, which held an address
    stored = json.dumps(list(SiteVisit.objects.values()) + list(SiteEvent.objects.values()),
                        default=str)  # fmt: skip
    for secret in ("203.0.113", "Gecko", "a@b.fr"):
        assert secret not in stored


def test_hits_of_one_browser_within_thirty_minutes_are_one_visit(site):
    info = site_by_key("cave-de-lea")
    me = Visitor(origin=ORIGIN, address="203.0.113.7", user_agent=FIREFOX)
    start = timezone.now().replace(hour=12)
    for minutes, path in ((0, "/"), (10, "/vins/"), (35, "/fromages/")):
        site_hit_record(hit=hit_parse(json.dumps(pageview(path)).encode()), site=info,
                        visitor=me, now=start + dt.timedelta(minutes=minutes))  # fmt: skip
    # 25 minutes after the last page: still the same visit; then 31 minutes later, another.
    site_hit_record(hit=hit_parse(json.dumps(pageview("/x")).encode()), site=info, visitor=me,
                    now=start + dt.timedelta(minutes=66))  # fmt: skip
    visits = list(SiteVisit.objects.order_by("started_at").values_list("pageviews", "exit_path"))
    assert visits == [(3, "/fromages/"), (1, "/x")]
    assert len(set(SiteVisit.objects.values_list("visitor", flat=True))) == 1
    other = Visitor(origin=ORIGIN, address="203.0.113.7", user_agent=IPHONE)
    site_hit_record(hit=hit_parse(json.dumps(pageview()).encode()), site=info, visitor=other,
                    now=start + dt.timedelta(minutes=67))  # fmt: skip
    assert SiteVisit.objects.values("visitor").distinct().count() == 2


def test_the_visitor_id_changes_every_day_but_a_visit_goes_on_past_midnight(site):
    info = site_by_key("cave-de-lea")
    me = Visitor(origin=ORIGIN, address="203.0.113.7", user_agent=FIREFOX)
    evening = timezone.localtime().replace(hour=23, minute=50, second=0, microsecond=0)
    hit = hit_parse(json.dumps(pageview()).encode())
    site_hit_record(hit=hit, site=info, visitor=me, now=evening)
    site_hit_record(hit=hit, site=info, visitor=me, now=evening + dt.timedelta(minutes=20))
    assert SiteVisit.objects.get().pageviews == 2  # the visit crossed midnight
    site_hit_record(hit=hit, site=info, visitor=me, now=evening + dt.timedelta(hours=12))
    first, second = SiteVisit.objects.order_by("started_at")
    assert first.visitor != second.visitor and second.day == first.day + dt.timedelta(days=1)
    assert SiteSalt.objects.count() == 2


def test_events_and_purchases_count_in_their_visit(client, site):
    send(client, pageview("/panier"))
    event = {"s": "cave-de-lea", "t": "event", "u": f"{ORIGIN}/panier", "n": "newsletter",
             "p": {"place": "footer", "n": 2, "ok": True}}  # fmt: skip
    assert send(client, event).status_code == 202
    purchase = {"s": "cave-de-lea", "t": "purchase", "u": f"{ORIGIN}/merci",
                "p": {"amount": 54.9, "currency": "eur", "order_id": "W-1"}}  # fmt: skip
    assert send(client, purchase).status_code == 202
    visit = SiteVisit.objects.get()
    assert (visit.pageviews, visit.events, visit.purchases) == (1, 2, 1)
    assert visit.revenue == Decimal("54.90")
    bought = SiteEvent.objects.get(type="purchase")
    assert (bought.amount, bought.currency, bought.order_id) == (Decimal("54.90"), "EUR", "W-1")
    assert SiteEvent.objects.get(type="event").props == {"place": "footer", "n": 2, "ok": True}
    assert not Order.objects.exists()  # nobody known: no order of anyone's


@pytest.mark.parametrize(
    "headers",
    [{"HTTP_DNT": "1"}, {"HTTP_SEC_GPC": "1"}],
    ids=["do-not-track", "global-privacy-control"],
)
def test_a_browser_that_asks_not_to_be_followed_is_not_counted(client, site, headers):
    assert send(client, pageview(), **headers).status_code == 204
    assert not SiteVisit.objects.exists() and not SiteSalt.objects.exists()


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/126.0 Safari/537.36",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "python-requests/2.32",
        "",
    ],
)
def test_robots_are_not_counted(client, site, agent):
    assert send(client, pageview(), ua=agent).status_code == 204
    assert not SiteVisit.objects.exists()


# --- what is refused ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe{}",
        b"[]",
        b'"pageview"',
        b"null",
        b"[" * 1000 + b"]" * 1000,
        b'{"s": "cave-de-lea", "t": "pageview", "u": "https://cave-de-lea.fr/", "x": 1}',
        b'{"s": "cave-de-lea", "t": "pageview", "u": NaN}',
        b'{"s": "cave-de-lea", "t": "purchase", "u": "https://cave-de-lea.fr/",'
        b' "p": {"amount": Infinity}}',
    ],
    ids=[
        "empty",
        "text",
        "bad-utf8",
        "array",
        "string",
        "null",
        "deep",
        "unknown-key",
        "nan",
        "infinity",
    ],  # fmt: skip
)
def test_anything_but_the_snippets_json_is_refused(client, site, body):
    response = send(client, body)
    assert response.status_code == 400, response.content
    assert not SiteVisit.objects.exists()


@pytest.mark.parametrize(
    "change",
    [
        {"s": 12},
        {"s": ["cave-de-lea"]},
        {"s": "cave de lea"},
        {"t": "click"},
        {"t": None},
        {"u": 3},
        {"u": "javascript:alert(1)"},
        {"u": "https://cave-de-lea.fr/\u0000"},
        {"r": {"nested": True}},
        {"n": "pageviews have none"},
        {"p": {"a": 1}},
        {"p": "props"},
        {"v": 12345},
        {"v": "x" * 41},
        {"u": "https://cave-de-lea.fr/\ud800"},
    ],
)
def test_a_page_view_of_the_wrong_shape_is_refused_with_the_key_it_is_about(client, site, change):
    body = pageview() | change
    response = send(client, json.dumps(body))
    assert response.status_code == 400, response.content
    assert response.content.decode()[:1] in {next(iter(change))}
    assert not SiteVisit.objects.exists()


@pytest.mark.parametrize(
    "props",
    [
        {"nested": {"a": 1}},
        {"list": [1, 2]},
        {f"k{i}": i for i in range(11)},
        {"long": "x" * 201},
        {"": 1},
        {"big": 2**60},
    ],
    ids=["nested", "list", "too-many", "long-value", "empty-name", "big-number"],
)
def test_event_properties_are_flat_few_and_small(client, site, props):
    body = {"s": "cave-de-lea", "t": "event", "u": f"{ORIGIN}/", "n": "x", "p": props}
    assert send(client, body).status_code == 400
    assert not SiteEvent.objects.exists()


@pytest.mark.parametrize(
    "props",
    [
        {"amount": -1},
        {"amount": "douze"},
        {"amount": True},
        {"amount": 1e20},
        {"amount": 10, "currency": "euros"},
        {"amount": 10, "order_id": "<script>"},
        {"amount": 10, "coupon": "x"},
        {},
    ],
)
def test_a_purchase_of_the_wrong_shape_is_refused(client, site, props):
    body = {"s": "cave-de-lea", "t": "purchase", "u": f"{ORIGIN}/merci", "p": props}
    assert send(client, body).status_code == 400
    assert not SiteEvent.objects.exists()


def test_a_huge_body_is_refused_before_it_is_read(client, site):
    body = json.dumps(pageview("/" + "a" * 5000))
    response = send(client, body)
    assert response.status_code == 413
    assert str(MAX_BODY_BYTES) in response.content.decode()
    assert not SiteVisit.objects.exists()


@pytest.mark.parametrize(
    "origin, page",
    [
        ("https://evil.example", f"{ORIGIN}/"),
        ("", f"{ORIGIN}/"),
        ("null", f"{ORIGIN}/"),
        ("http://cave-de-lea.fr", f"{ORIGIN}/"),
        (ORIGIN, "https://evil.example/"),
    ],
    ids=["other-site", "no-origin", "null-origin", "plain-http", "page-elsewhere"],
)
def test_hits_from_other_origins_are_refused_without_cors(client, site, origin, page):
    response = send(client, pageview() | {"u": page}, origin=origin)
    assert response.status_code == 403
    assert ("Access-Control-Allow-Origin" in response) is (origin == ORIGIN)
    assert not SiteVisit.objects.exists()


def test_an_unknown_site_key_is_refused(client, site):
    assert send(client, pageview() | {"s": "autre"}).status_code == 403


def test_the_preflight_is_answered_for_the_sites_origins_only(client, site):
    ok = client.options("/t/e", HTTP_ORIGIN=ORIGIN)
    assert ok.status_code == 204 and ok["Access-Control-Allow-Origin"] == ORIGIN
    refused = client.options("/t/e", HTTP_ORIGIN="https://evil.example")
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused


def test_other_methods_and_content_types_are_refused(client, site):
    assert client.get("/t/e", HTTP_ORIGIN=ORIGIN).status_code == 405
    response = client.post("/t/e", data={"s": "x"}, HTTP_ORIGIN=ORIGIN)  # a form upload
    assert response.status_code == 415


def test_a_flood_from_one_visitor_is_refused(client, site, monkeypatch):
    monkeypatch.setattr(site_module, "MAX_HITS_PER_MINUTE", 3)
    codes = [send(client, pageview(f"/{n}")).status_code for n in range(5)]
    assert codes == [202, 202, 202, 429, 429]
    monkeypatch.setattr(site_module, "MAX_HITS_PER_MINUTE", 1000)
    monkeypatch.setattr(site_module, "MAX_HITS_PER_VISIT", 5)
    codes = [send(client, pageview(f"/{n}")).status_code for n in range(4)]
    assert codes == [202, 202, 429, 429]
    assert SiteVisit.objects.get().pageviews == 5


def test_hostile_input_never_answers_500(client, site):
    """Random mutations of a valid hit: every answer is 2xx or 4xx."""
    import random

    rng = random.Random(7)
    valid = json.dumps(pageview("/a", r="https://x.fr/")).encode()
    values = [None, True, 0, -1, 1e308, "", "x" * 3000, [], {}, {"a": {"b": []}}, "\u0000",
              "\ud83d", "é" * 700, 2**64]  # fmt: skip
    for _ in range(300):
        if rng.random() < 0.5:
            body = bytearray(valid)
            for _ in range(rng.randint(1, 5)):
                body[rng.randrange(len(body))] = rng.randrange(256)
            data: bytes | str = bytes(body)
        else:
            payload = pageview("/a") | {rng.choice("stunrpvx"): rng.choice(values)}
            data = json.dumps(payload)
        response = send(client, data)
        assert response.status_code < 500, (data, response.content)


# --- salts and retention -----------------------------------------------------------------------


def test_a_days_salt_is_gone_48_hours_after_the_day_began(site, client):
    now = timezone.localtime()
    for days in (0, 1, 2, 5):
        SiteSalt.objects.create(day=now.date() - dt.timedelta(days=days), salt=b"x" * 32)
    assert salts_expire(now=now) == 2
    assert sorted(SiteSalt.objects.values_list("day", flat=True)) == [
        now.date() - dt.timedelta(days=1),
        now.date(),
    ]


@override_settings(EVENT_RETENTION_DAYS=30)
def test_the_upkeep_deletes_old_visits_and_is_a_recurring_job(site, client):
    send(client, pageview())
    SiteVisit.objects.update(last_at=timezone.now() - dt.timedelta(days=31))
    send(client, pageview(), ua=IPHONE)
    assert site_upkeep()["visits"] == 1
    assert SiteVisit.objects.count() == 1 and SiteEvent.objects.count() == 1
    assert "tracking-site-upkeep" in recurring_jobs()


# --- from a click in an email to a contact's visit ---------------------------------------------


def test_a_visit_token_reads_back_until_it_expires():
    token = visit_token_make(outbox_id=42, now=1_000_000)
    assert len(token) < 40
    assert visit_token_read(token, now=1_000_000 + 59 * 60) == 42
    with pytest.raises(BadToken):
        visit_token_read(token, now=1_000_000 + 62 * 60)
    signed, _dot, expiry = token.rpartition(".")
    with pytest.raises(BadToken):  # a later expiry, not signed
        visit_token_read(f"{signed}.{'z' * len(expiry)}", now=1_000_000)
    click = token_make(purpose="click", subject_id=42, extra=expiry)
    with pytest.raises(BadToken):  # another purpose's token
        visit_token_read(f"{click}.{expiry}", now=1_000_000)


def test_a_click_to_the_shops_site_carries_a_visit_token_and_no_other_site_does(client, site):
    outbox = make_outbox()
    for target, tokened in (
        (f"{ORIGIN}/primeurs?utm_source=fidele#haut", True),
        ("https://partenaire.example/", False),
    ):
        token = token_make(purpose="click", subject_id=outbox.pk, extra=target)
        response = client.get(f"/t/c/{token}/", {"u": target})
        location = response["Location"]
        assert (VISIT_PARAM in location) is tokened
    assert location == "https://partenaire.example/"
    with override_settings(TRACKING_ENABLED=False):
        assert landing_url_with_visit(f"{ORIGIN}/", outbox.pk) == f"{ORIGIN}/"


def _landing(client, outbox, path="/primeurs"):
    target = f"{ORIGIN}{path}?utm_source=fidele"
    token = token_make(purpose="click", subject_id=outbox.pk, extra=target)
    location = client.get(f"/t/c/{token}/", {"u": target})["Location"]
    return location.split(f"{VISIT_PARAM}=")[1]


def test_a_visit_from_an_email_is_tied_to_its_contact_and_their_purchase_is_credited(client, site):
    outbox = make_outbox()
    visit_token = _landing(client, outbox)
    assert send(client, pageview("/primeurs", v=visit_token)).status_code == 202
    visit = SiteVisit.objects.get()
    assert (visit.contact_id, visit.campaign_id) == (outbox.contact_id, outbox.campaign_id)
    purchase = {"s": "cave-de-lea", "t": "purchase", "u": f"{ORIGIN}/merci",
                "p": {"amount": "89.40", "order_id": "W-77"}}  # fmt: skip
    assert send(client, purchase).status_code == 202
    order = Order.objects.get(external_id="W-77")
    assert (order.contact_id, order.total, order.channel) == (
        outbox.contact_id,
        Decimal("89.40"),
        "web",
    )
    attributions_record()
    assert Attribution.objects.get(order=order).campaign_id == outbox.campaign_id
    # Later that day, another visit of the same browser is still theirs.
    SiteVisit.objects.update(last_at=timezone.now() - dt.timedelta(hours=1))
    send(client, pageview("/"))
    assert SiteVisit.objects.filter(contact_id=outbox.contact_id).count() == 2


def test_a_purchase_never_overwrites_an_order_the_shop_imported(client, site):
    outbox = make_outbox()
    existing = make_order(outbox.contact, total="10.00", external_id="W-9")
    send(client, pageview("/", v=_landing(client, outbox)))
    purchase = {"s": "cave-de-lea", "t": "purchase", "u": f"{ORIGIN}/merci",
                "p": {"amount": 999, "order_id": "W-9"}}  # fmt: skip
    assert send(client, purchase).status_code == 202
    existing.refresh_from_db()
    assert existing.total == Decimal("10.00") and Order.objects.count() == 1


@pytest.mark.parametrize("refusal", ["contact", "list", "installation", "forged", "expired"])
def test_a_visit_is_not_tied_when_the_contact_or_a_switch_says_no(client, site, refusal):
    contact = make_contact("paul@example.fr", lists=["Newsletter"])
    outbox = make_outbox(contact=contact)
    visit_token = _landing(client, outbox)
    if refusal == "contact":
        contact.tracking_allowed = False
        contact.save()
    elif refusal == "list":
        make_list("Newsletter").__class__.objects.update(tracking=False)
    elif refusal == "forged":
        visit_token = visit_token[:-3] + "zzz"
    elif refusal == "expired":
        visit_token = visit_token_make(outbox_id=outbox.pk, now=1_000_000)
    with override_settings(TRACKING_ENABLED=refusal != "installation"):
        response = send(client, pageview("/", v=visit_token))
    assert response.status_code == 202  # the visit counts, anonymously
    assert SiteVisit.objects.get().contact_id is None


def test_the_site_hit_dataclass_is_what_the_parser_makes():
    hit = hit_parse(json.dumps(pageview("/a")).encode())
    assert hit == SiteHit(site_key="cave-de-lea", type="pageview", url=f"{ORIGIN}/a")
    with pytest.raises(HitRefused) as refused:
        hit_parse(b"x" * (MAX_BODY_BYTES + 1))
    assert refused.value.status == 413


# --- the operator's side -----------------------------------------------------------------------


def test_the_command_adds_lists_and_removes_sites(capsys):
    origins = [
        "--origin",
        "https://www.Boutique.example/",
        "--origin",
        "https://boutique.example:8443",
    ]
    call_command("tracking", "site", "add", "--name", "Boutique", *origins)
    out = capsys.readouterr().out
    assert 'data-site="www-boutique-example"' in out and "/t/s.js" in out
    site = Site.objects.get()
    assert site.origin_list == ["https://www.boutique.example", "https://boutique.example:8443"]
    call_command("tracking", "site", "list", "--json")
    listed = json.loads(capsys.readouterr().out)
    assert listed["sites"][0]["key"] == "www-boutique-example"
    with pytest.raises(CommandError, match="https://x.example/path"):
        call_command("tracking", "site", "add", "--origin", "https://x.example/path")
    call_command("tracking", "site", "remove", "www-boutique-example")
    assert not Site.objects.exists()
