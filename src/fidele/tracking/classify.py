"""People or machines: the judgment on each open and click, with its reason.

Much of what reaches an open pixel or a click link is not a person: Apple Mail Privacy
Protection fetches every image of every message it delivers; Gmail's and Yahoo's image proxies
fetch on delivery; corporate security gateways (Microsoft Defender, Proofpoint, Mimecast,
Barracuda...) follow every link, often 20 to 60 seconds after the send, sometimes with HEAD or
prefetch requests. Counting them as people inflates opens and clicks and fires automations on
customers who never looked.

Two kinds of signals:
- one request tells by itself (`judge_open`, `judge_click`): HEAD or prefetch requests, a
  scanner's user agent or network, Apple's proxy (user agent exactly "Mozilla/5.0" from Apple's
  published egress ranges), an image proxy within seconds of delivery;
- the clicks of one message together (`clicks_rejudge`): several different links within a few
  seconds (a burst), and the invisible link every message carries (a honeypot: no person sees it)
  with the clicks around it. A click with no open before it is normal (images blocked) and is
  not a signal.
The thresholds are settings (TRACKING_*). A machine event is kept with its reason, shown apart
and never counted as a person; a later click of the same person, outside these windows, counts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest
from ua_parser import parse as ua_parse

from fidele.core.http import client_ip
from fidele.tracking.models import EmailEvent, NetworkRange
from fidele.tracking.networks import network_contains

Reason = EmailEvent.Reason

# Image proxies of webmails: they fetch the pixel for the reader, or on delivery (uap-core's
# family names).
IMAGE_PROXIES = frozenset({"GmailImageProxy", "YahooMailProxy"})
# What Apple's proxy sends, exactly: no version, no platform.
APPLE_PROXY_AGENT = "Mozilla/5.0"
# Headers browsers and gateways send on a prefetch (a request no person asked for).
_PREFETCH_HEADERS = ("HTTP_PURPOSE", "HTTP_SEC_PURPOSE", "HTTP_X_PURPOSE", "HTTP_X_MOZ")


@dataclass(frozen=True, slots=True)
class Hit:
    """What one request to a tracking URL tells, before anything is stored."""

    method: str
    user_agent: str
    address: str | None
    prefetch: bool

    @classmethod
    def from_request(cls, request: HttpRequest) -> Hit:
        meta = request.META
        return cls(
            method=request.method or "GET",
            user_agent=meta.get("HTTP_USER_AGENT", "")[:500],
            address=client_ip(request),
            prefetch=any(
                "prefetch" in meta.get(name, "").lower() or "preview" in meta.get(name, "").lower()
                for name in _PREFETCH_HEADERS
            ),
        )


@lru_cache(maxsize=4096)
def client_of(user_agent: str) -> tuple[str, str]:
    """(client family, device class) of a user agent: what is stored instead of the string.

    The device is "mobile", "tablet", "desktop", "proxy" (an image proxy reading for someone)
    or "robot"; "" when the user agent says nothing (Apple's proxy sends "Mozilla/5.0")."""
    if not user_agent or user_agent == APPLE_PROXY_AGENT:
        return "", ""
    if _scanner_agent(user_agent):
        return "", "robot"
    result = ua_parse(user_agent)
    family = result.user_agent.family if result.user_agent else ""
    if family in IMAGE_PROXIES:
        return family, "proxy"
    device = result.device.family if result.device else ""
    if device == "Spider":
        return family or "", "robot"
    os_family = result.os.family if result.os else ""
    if device == "iPad" or "Tablet" in device:
        kind = "tablet"
    elif device in ("iPhone", "Generic Smartphone") or os_family in ("iOS", "Android"):
        kind = "mobile"
    else:
        kind = "desktop"
    if family in ("Other", "Mobile Safari UI/WKWebView") and os_family in ("iOS", "Mac OS X"):
        # Apple Mail on iOS and macOS identifies only as WebKit.
        family = "Apple Mail"
    return ("" if family == "Other" else family)[:40], kind


def _scanner_agent(user_agent: str) -> bool:
    lowered = user_agent.lower()
    return any(marker in lowered for marker in settings.TRACKING_SCANNER_AGENTS)


def _request_reason(hit: Hit) -> str:
    """The reasons a request gives by itself, for opens and clicks alike."""
    if hit.method == "HEAD":
        return Reason.HEAD
    if hit.prefetch:
        return Reason.PREFETCH
    if hit.user_agent and _scanner_agent(hit.user_agent):
        return Reason.SCANNER_AGENT
    if hit.address and network_contains(kind=NetworkRange.Kind.SCANNER, address=hit.address):
        return Reason.SCANNER_NETWORK
    return ""


def judge_open(hit: Hit, *, sent_at: dt.datetime | None, now: dt.datetime) -> str:
    """The machine reason of an open, or "" for a person."""
    reason = _request_reason(hit)
    if reason:
        return reason
    if (
        hit.user_agent == APPLE_PROXY_AGENT
        and hit.address
        and network_contains(kind=NetworkRange.Kind.APPLE_PRIVACY, address=hit.address)
    ):
        return Reason.APPLE_PRIVACY
    if sent_at is not None and client_of(hit.user_agent)[1] == "proxy":
        seconds = (now - sent_at).total_seconds()
        if seconds <= settings.TRACKING_IMAGE_PROXY_SECONDS:
            return Reason.IMAGE_PROXY
    return ""


def judge_click(hit: Hit) -> str:
    """The machine reason a click gives by itself, or "" (its neighbours may still tell)."""
    return _request_reason(hit)


@dataclass(slots=True)
class Click:
    id: int
    at: dt.datetime
    url: str
    reason: str


def judgment_reach() -> dt.timedelta:
    """How far apart two clicks of a message may be and still change each other's judgment."""
    seconds = max(settings.TRACKING_BURST_SECONDS, settings.TRACKING_HONEYPOT_SECONDS)
    return dt.timedelta(seconds=seconds)


def clicks_rejudge(clicks: list[Click]) -> dict[int, str]:
    """{click id: new reason} for the clicks of one message that their neighbours show to be a
    machine's: a burst of several different links within TRACKING_BURST_SECONDS, and every click
    within TRACKING_HONEYPOT_SECONDS of the invisible link's. Clicks already judged keep their
    reason."""
    changes: dict[int, str] = {}
    ordered = sorted(clicks, key=lambda c: c.at)
    traps = [c.at for c in ordered if c.reason == Reason.HONEYPOT]
    near = dt.timedelta(seconds=settings.TRACKING_HONEYPOT_SECONDS)
    for click in ordered:
        if not click.reason and any(abs(click.at - at) <= near for at in traps):
            changes[click.id] = Reason.NEAR_HONEYPOT
    window = dt.timedelta(seconds=settings.TRACKING_BURST_SECONDS)
    wanted = settings.TRACKING_BURST_LINKS
    start = 0
    for end, click in enumerate(ordered):
        while click.at - ordered[start].at > window:
            start += 1
        group = ordered[start : end + 1]
        if len({c.url for c in group}) >= wanted:
            for member in group:
                if not member.reason and member.id not in changes:
                    changes[member.id] = Reason.BURST
    return changes
