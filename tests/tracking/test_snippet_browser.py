"""What the snippet (static/tracking/s.js) sends from a page in chromium, read off the wire:
no server of ours is involved, the browser's requests are answered by the test."""

from __future__ import annotations

import json

import pytest

from fidele.tracking.site_views import snippet_source

pytestmark = pytest.mark.e2e

APP = "http://app.test"
SHOP = "http://shop.test"
PAGE = f"""<!doctype html><html><head><title>shop</title>
<script>
window.fidele = window.fidele || function () {{ (fidele.q = fidele.q || []).push(arguments) }};
fidele('event', 'early', {{from: 'queue'}});</script>
<script defer src="{APP}/t/s.js" data-site="shop"></script></head><body>
<button id="next" onclick="history.pushState({{}}, '', '/b?x=1')">next</button>
<button id="same" onclick="history.pushState({{}}, '', '/b?x=1')">same</button>
<button id="back" onclick="history.go(-2)">back</button>
<button id="buy"
  onclick="fidele('purchase', {{amount: 12.5, currency: 'EUR', order_id: 'A1'}})">buy</button>
</body></html>"""


def open_shop(browser, *, init_script: str = "", path: str = "/a?_fv=TOKEN&y=2#top"):
    context = browser.new_context()
    if init_script:
        context.add_init_script(init_script)
    sent: list[dict] = []

    def endpoint(route):
        sent.append(json.loads(route.request.post_data or "null"))
        route.fulfill(status=202, headers={"Access-Control-Allow-Origin": SHOP})

    context.route(f"{APP}/t/e", endpoint)
    context.route(
        f"{APP}/t/s.js",
        lambda route: route.fulfill(body=snippet_source(), content_type="text/javascript"),
    )
    context.route(f"{SHOP}/**", lambda route: route.fulfill(body=PAGE, content_type="text/html"))
    page = context.new_page()
    page.goto(f"{SHOP}{path}")
    page.wait_for_load_state("load")
    return context, page, sent


def test_the_snippet_sends_page_views_events_and_purchases(browser):
    context, page, sent = open_shop(browser)
    page.wait_for_function("typeof window.fidele === 'function' && !window.fidele.q")
    # The visit token left the address bar, the rest of the address stayed.
    assert page.url == f"{SHOP}/a?y=2#top"
    for button in ("#next", "#same", "#back"):
        page.click(button)
    page.wait_for_function("location.pathname == '/a'")
    page.click("#buy")
    page.wait_for_timeout(300)  # let the beacons leave
    context.close()
    assert sent[0] == {"s": "shop", "t": "pageview", "u": f"{SHOP}/a?y=2#top", "v": "TOKEN"}
    assert sent[1] == {"s": "shop", "t": "event", "u": f"{SHOP}/a?y=2#top", "n": "early",
                       "p": {"from": "queue"}}  # fmt: skip
    # The same address pushed twice is one page view; going back two steps is another.
    assert [(h["t"], h["u"]) for h in sent[2:]] == [
        ("pageview", f"{SHOP}/b?x=1"),
        ("pageview", f"{SHOP}/a?y=2#top"),
        ("purchase", f"{SHOP}/a?y=2#top"),
    ]
    assert sent[-1]["p"] == {"amount": 12.5, "currency": "EUR", "order_id": "A1"}
    assert all("v" not in hit for hit in sent[1:])  # the token goes once


@pytest.mark.parametrize(
    "signal",
    [
        "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'})",
        "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})",
    ],
    ids=["do-not-track", "global-privacy-control"],
)
def test_the_snippet_sends_nothing_when_the_browser_asks_not_to_be_followed(browser, signal):
    context, page, sent = open_shop(browser, init_script=signal)
    page.wait_for_function("typeof window.fidele === 'function' && !window.fidele.q")
    page.click("#next")
    page.click("#buy")
    page.wait_for_timeout(300)
    context.close()
    assert sent == []
