"""The public side of the web analytics: the snippet and the endpoint it sends to.

    <script defer src="https://fidele.example/t/s.js" data-site="KEY"></script>

`s.js` (static/tracking/s.js, written small by hand: under 1 kB, tested) sends a page view at
load and at each change of address through the history API (single-page sites), and defines
`fidele('event', name, {props})` and `fidele('purchase', {amount, currency, order_id})`; calls
made before it loaded (`window.fidele.q`) are sent too. It sends nothing when the browser asks
not to be followed (Do-Not-Track, Global Privacy Control), stores nothing and sets no cookie. A
visit token (`_fv`) in the address, put there by the click redirect of an email, is sent with
the first page view and removed from the address bar. It posts with navigator.sendBeacon (or
fetch with keepalive) as text/plain: a simple request, with no preflight.

The endpoint (`/t/e`) accepts only that small JSON (fidele.tracking.site.hit_parse), bounded in
size, from the configured origins of the site it names, and answers 202 (recorded), 204 (not
counted: a robot, Do-Not-Track) or a 4xx with the reason; never a page and never a 500.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from fidele.core.http import client_ip
from fidele.tracking.site import (
    MAX_BODY_BYTES,
    HitRefused,
    Visitor,
    hit_parse,
    site_for_hit,
    site_hit_record,
)
from fidele.tracking.site_config import site_by_origin

SNIPPET = Path(__file__).parent / "static" / "tracking" / "s.js"


@lru_cache(maxsize=1)
def snippet_source() -> bytes:
    return SNIPPET.read_bytes()


def snippet(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(snippet_source(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=3600"
    # Loaded by the shop's pages, from another origin.
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def _cors(response: HttpResponse, origin: str) -> HttpResponse:
    """CORS headers for the shop's own sites only; other origins get none."""
    response["Vary"] = "Origin"
    if origin and site_by_origin(origin) is not None:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = "POST"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        response["Access-Control-Max-Age"] = "86400"
    response["Cache-Control"] = "no-store"
    return response


def _refusal(status: int, reason: str, origin: str) -> HttpResponse:
    return _cors(
        HttpResponse(reason, status=status, content_type="text/plain; charset=utf-8"), origin
    )


@csrf_exempt
def hit(request: HttpRequest) -> HttpResponse:
    origin = request.META.get("HTTP_ORIGIN", "")[:300]
    if request.method == "OPTIONS":
        if site_by_origin(origin) is None:
            return _refusal(403, "Origin: not a configured site", origin)
        return _cors(HttpResponse(status=204), origin)
    if request.method != "POST":
        response = _refusal(405, "POST only", origin)
        response["Allow"] = "POST, OPTIONS"
        return response
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _refusal(400, "Content-Length: not a number", origin)
    if declared > MAX_BODY_BYTES:
        return _refusal(413, f"body larger than {MAX_BODY_BYTES} bytes", origin)
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type not in ("text/plain", "application/json", ""):
        return _refusal(415, "Content-Type: text/plain or application/json", origin)
    try:
        parsed = hit_parse(request.read(MAX_BODY_BYTES + 1))
        site = site_for_hit(hit=parsed, origin=origin)
        recorded = site_hit_record(
            hit=parsed,
            site=site,
            visitor=Visitor(
                origin=origin,
                address=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", "")[:500],
                do_not_track=request.META.get("HTTP_DNT") == "1"
                or request.META.get("HTTP_SEC_GPC") == "1",
            ),
        )
    except HitRefused as refused:
        return _refusal(refused.status, refused.reason, origin)
    return _cors(HttpResponse(status=202 if recorded is not None else 204), origin)
