"""Done means, for the web analytics: a real page of another origin, loaded in headless
chromium through the link of an email, carries the snippet; the visitor moves on inside the
page (history API), sends an event and buys; the web analytics page then shows all of it, and
the purchase is an order of the contact credited to the campaign they clicked."""

from __future__ import annotations

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest

from fidele.analytics.attribution import attributions_record
from fidele.analytics.models import Attribution
from fidele.commerce.models import Order
from fidele.tracking.models import SiteEvent, SiteVisit
from fidele.tracking.site import VISIT_PARAM
from fidele.tracking.tokens import token_make
from tests.factories import make_outbox, make_site

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# A browser of a person: headless chromium says "HeadlessChrome", which the endpoint drops as a
# robot (tests/tracking/test_site.py).
DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)

SHOP_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Cave de Léa</title>
<script defer src="{app}/t/s.js" data-site="cave-de-lea"></script></head>
<body><h1 id="title">Primeurs</h1>
<button id="cart" onclick="history.pushState({{}}, '', '/panier')">Panier</button>
<button id="subscribe" onclick="fidele('event', 'newsletter', {{place: 'footer'}})">Lettre</button>
<button id="checkout" onclick="history.pushState({{}}, '', '/merci')">Payer</button>
<button id="buy"
  onclick="fidele('purchase', {{amount: 89.4, currency: 'EUR', order_id: 'W-2042'}})">OK</button>
</body></html>
"""


@pytest.fixture
def shop_site(tmp_path, live_server):
    """The shop's site: a static page on a port of its own (another origin than the app's)."""
    (tmp_path / "primeurs.html").write_text(SHOP_PAGE.format(app=live_server.url), "utf-8")
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_website_page_shows_what_the_snippet_sent_from_a_real_page(
    browser, page, live_server, shop_site, owner, log_in
):
    make_site(shop_site)
    outbox = make_outbox()
    landing = f"{shop_site}/primeurs.html?utm_source=fidele&utm_campaign=primeurs"
    click = token_make(purpose="click", subject_id=outbox.pk, extra=landing)

    visitor = browser.new_context(user_agent=DESKTOP_CHROME, locale="fr-FR")
    shop = visitor.new_page()
    # One hit at a time: on SQLite the live server's threads share the test's one connection.
    with shop.expect_response(lambda r: r.url.endswith("/t/e")) as hit:
        shop.goto(f"{live_server.url}/t/c/{click}/?u={quote(landing, safe='')}")
    assert hit.value.status == 202
    # The visit token came with the redirect and left the address bar.
    assert shop.url.startswith(f"{shop_site}/primeurs.html") and VISIT_PARAM not in shop.url
    for button in ("#cart", "#subscribe", "#checkout", "#buy"):
        with shop.expect_response(lambda r: r.url.endswith("/t/e")) as hit:
            shop.click(button)
        assert hit.value.status == 202
    visitor.close()

    visit = SiteVisit.objects.get()
    assert (visit.contact_id, visit.campaign_id) == (outbox.contact_id, outbox.campaign_id)
    assert (visit.pageviews, visit.utm_campaign, visit.browser) == (3, "primeurs", "Chrome")
    assert sorted(SiteEvent.objects.values_list("type", "path")) == [
        ("event", "/panier"),
        ("pageview", "/merci"),
        ("pageview", "/panier"),
        ("pageview", "/primeurs.html"),
        ("purchase", "/merci"),
    ]
    order = Order.objects.get(external_id="W-2042")
    assert order.contact_id == outbox.contact_id and order.channel == "web"
    attributions_record()
    assert Attribution.objects.get(order=order).campaign_id == outbox.campaign_id

    log_in(page, owner)
    page.goto(f"{live_server.url}/analytics/website/")
    assert page.locator("[data-figure=visits] .stat-value").inner_text() == "1"
    assert page.locator("[data-figure=purchases] .stat-value").inner_text() == "1"
    assert "89,40" in page.locator("[data-figure=purchases] .stat-help").inner_text()
    assert page.locator("[data-figure=from_email] .stat-value").inner_text() == "1"
    pages = page.locator("#top-pages").inner_text()
    assert "/panier" in pages and "/primeurs.html" in pages and "/merci" in pages
    assert "newsletter" in page.locator("#events").inner_text()
    assert "primeurs" in page.locator("#utm-campaigns").inner_text()
    page.fill("#step-1", "/primeurs.html")
    page.fill("#step-2", "/panier")
    page.fill("#step-3", "/merci")
    page.click("#funnel-form button[type=submit]")
    rows = page.locator("#funnel tbody tr")
    assert rows.count() == 3 and "100" in rows.nth(2).inner_text()
