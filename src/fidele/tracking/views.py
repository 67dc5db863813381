"""Public endpoints reached from inside an email: open pixel and click redirect. No login; every
URL carries a signed token (tracking/tokens.py). The unsubscribe and preference pages, reached
the same way under the same /t/ prefix, are compliance's (compliance/link_views.py).

The open pixel always answers with an image: never an error page inside a mail client.

Each request checks its token and queues the hit (fidele.tracking.hits: one INSERT); who opened
or clicked, and whether a person did, is worked out when the queue is drained.
"""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from fidele.tracking.hits import Kind, hit_append
from fidele.tracking.public import bad_link, no_store
from fidele.tracking.site import landing_url_with_visit
from fidele.tracking.tokens import BadToken, token_read

# The smallest transparent GIF (1x1, 43 bytes).
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


# --- open pixel and click redirect ---------------------------------------------------------


def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    try:
        outbox_id = token_read(purpose="open", token=token)
    except BadToken:
        outbox_id = 0
    if request.method in ("GET", "HEAD"):
        hit_append(kind=Kind.OPEN, outbox_id=outbox_id, request=request)
    response = HttpResponse(PIXEL_GIF, content_type="image/gif")
    response["Cache-Control"] = "no-store, no-cache, must-revalidate, private, max-age=0"
    response["Pragma"] = "no-cache"
    response["Expires"] = "0"
    return response


def safe_redirect_url(url: str) -> bool:
    """Only absolute http(s) URLs with a host, without characters browsers reinterpret."""
    if not url or len(url) > 4000:
        return False
    if any(ch in url for ch in "\\\r\n\t\x00") or url != url.strip():
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def click(request: HttpRequest, token: str) -> HttpResponse:
    url = request.GET.get("u", "")
    try:
        outbox_id = token_read(purpose="click", token=token, extra=url)
    except BadToken:
        return bad_link(request)
    if not safe_redirect_url(url):
        return bad_link(request)
    # HEAD comes from link checkers: recorded as a machine's (classify), redirected all the same.
    if request.method in ("GET", "HEAD"):
        hit_append(kind=Kind.CLICK, outbox_id=outbox_id, request=request, url=url)
    url = landing_url_with_visit(url, outbox_id)  # the shop's own site learns the visit's contact
    return no_store(HttpResponseRedirect(url))


def honeypot(request: HttpRequest, token: str) -> HttpResponse:
    """The invisible link every tracked message carries: no person sees it, so whatever follows
    it is a machine, and so are the clicks of that message around it (classify)."""
    try:
        outbox_id = token_read(purpose="trap", token=token)
    except BadToken:
        return bad_link(request)
    if request.method in ("GET", "HEAD"):
        hit_append(kind=Kind.TRAP, outbox_id=outbox_id, request=request)
    response = no_store(HttpResponse(status=204))
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
