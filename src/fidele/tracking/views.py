"""Public endpoints reached from inside an email: open pixel and click redirect. No login; every
URL carries a signed token (tracking/tokens.py). The unsubscribe and preference pages, reached
the same way under the same /t/ prefix, are compliance's (compliance/link_views.py).

The open pixel always answers with an image: never an error page inside a mail client.
"""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from fidele.tracking.models import EmailEvent
from fidele.tracking.public import bad_link, no_store
from fidele.tracking.services import event_record, outbox_ref
from fidele.tracking.tokens import BadToken, token_read

# The smallest transparent GIF (1x1, 43 bytes).
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


# --- open pixel and click redirect ---------------------------------------------------------


def _event(request: HttpRequest, outbox_id: int, type: str, url: str = "") -> None:
    """Record an open or a click of a message that still exists; the user agent is what the
    machine-open filter reads."""
    ref = outbox_ref(outbox_id)
    if ref is not None:
        event_record(
            type=type,
            outbox=ref,
            url=url,
            details={"user_agent": request.META.get("HTTP_USER_AGENT", "")[:300]},
        )


def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    try:
        outbox_id = token_read(purpose="open", token=token)
    except BadToken:
        outbox_id = 0
    if outbox_id and request.method == "GET":
        _event(request, outbox_id, EmailEvent.Type.OPEN)
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
    # HEAD comes from link checkers, never from a person following the link.
    if outbox_id and request.method == "GET":
        _event(request, outbox_id, EmailEvent.Type.CLICK, url=url)
    return no_store(HttpResponseRedirect(url))
