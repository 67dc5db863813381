"""Web analytics of the shop's own site: what the snippet (static/tracking/s.js) sends, checked
and recorded as visits and events, the way Plausible does it.

- No cookie and nothing stored in the browser. A visitor is a hash of a daily salt, the site,
  the address and the browser's user agent: the same person is one visitor for a day, and
  another the next day. Neither the address nor the user agent is stored (the browser's family
  and device class are, as for email events: classify.client_of). The salt of a day is deleted
  48 hours after that day began at the latest (`site_upkeep`), and with it any way of telling
  who a hash was.
- A visit is the hits of one visitor with no gap of VISIT_GAP: a visit that goes on past
  midnight keeps its visitor id (yesterday's salt is still there to recognise it).
- Browsers that ask not to be followed (Do-Not-Track, Global Privacy Control) are not counted:
  the snippet sends nothing and the endpoint drops what comes with those headers anyway.
  Robots (security scanners, headless browsers, spiders) are dropped too.
- A visit that arrives through a tracked link of an email carries a short signed token that
  expires (VISIT_PARAM, added by the click redirect): when the contact's consent and the
  tracking switches allow it, the visit, and that visitor's other visits of the day, are tied
  to the contact, and a `purchase` of theirs becomes an order of theirs (credited to the
  campaign they last clicked by fidele.analytics.attribution).

Everything the endpoint reads from outside is bounded and typed (`hit_parse`); what is not as
expected is refused with a 4xx and a reason, never a 500.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from fidele.commerce.services import order_record
from fidele.contacts.models import Contact, MailingList
from fidele.core.actors import System
from fidele.tracking.classify import client_of
from fidele.tracking.messages import message_lookup
from fidele.tracking.models import SiteEvent, SiteSalt, SiteVisit
from fidele.tracking.site_config import SiteInfo, origin_of, site_by_key, site_by_origin
from fidele.tracking.tokens import BadToken, base36, token_make, token_read

# The landing page's query parameter that carries the visit token (the snippet reads it and
# removes it from the address bar, so that a copied address does not carry it).
VISIT_PARAM = "_fv"
VISIT_TOKEN_MINUTES = 60
VISIT_GAP = dt.timedelta(minutes=30)
MAX_BODY_BYTES = 2048
# A visit of more hits than this is a script, not a person: further hits are refused (429).
MAX_HITS_PER_VISIT = 500
# And so is a visitor sending more than this many hits a minute (counted per process).
MAX_HITS_PER_MINUTE = 60
SALT_DAYS_KEPT = 2
WEBSITE_ACTOR = System(name="website snippet")

EVENT_TYPES = frozenset(SiteEvent.Type.values)
_KEY_SHAPE = re.compile(r"[-a-zA-Z0-9_]{1,100}")
_ORDER_ID_SHAPE = re.compile(r"[-A-Za-z0-9_.:/#]{1,64}")
_CURRENCY_SHAPE = re.compile(r"[A-Z]{3}")
# Control characters (PostgreSQL refuses NUL in text) and lone surrogates (not UTF-8 at all).
_UNSTORABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_TOKEN_WITH_EXPIRY = re.compile(r"([0-9a-z]{1,13}\.[A-Za-z0-9_-]{16})\.([0-9a-z]{1,8})")
MAX_PROPS = 10
MAX_AMOUNT = Decimal("9999999999.99")
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign")


class HitRefused(Exception):
    """A hit the endpoint does not record: `status` is the answer (4xx), `reason` says why."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SiteHit:
    """What one request of the snippet says, checked."""

    site_key: str
    type: str
    url: str
    referrer: str = ""
    name: str = ""
    props: dict[str, Any] = field(default_factory=dict)
    visit_token: str = ""
    amount: Decimal | None = None
    currency: str = ""
    order_id: str = ""


# --- reading the request -----------------------------------------------------------------------


def _text(body: dict[str, Any], key: str, *, limit: int, required: bool = False) -> str:
    value = body.get(key)
    if value is None:
        if required:
            raise HitRefused(400, f"{key}: missing")
        return ""
    if not isinstance(value, str):
        raise HitRefused(400, f"{key}: not a string")
    if len(value) > limit:
        raise HitRefused(400, f"{key}: longer than {limit} characters")
    if _UNSTORABLE.search(value):
        raise HitRefused(400, f"{key}: control characters")
    if required and not value:
        raise HitRefused(400, f"{key}: empty")
    return value


def _props(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise HitRefused(400, "p: not an object")
    if len(value) > MAX_PROPS:
        raise HitRefused(400, f"p: more than {MAX_PROPS} properties")
    props: dict[str, Any] = {}
    for key, item in value.items():
        if not key or len(key) > 40 or _UNSTORABLE.search(key):
            raise HitRefused(400, "p: a property name is empty, too long or has control characters")
        if isinstance(item, str):
            if len(item) > 200 or _UNSTORABLE.search(item):
                raise HitRefused(400, f"p.{key}: too long or control characters")
        elif isinstance(item, float) and not math.isfinite(item):
            raise HitRefused(400, f"p.{key}: not a finite number")
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) > 2**53:
            raise HitRefused(400, f"p.{key}: number too large")
        elif item is not None and not isinstance(item, str | int | float | bool):
            raise HitRefused(400, f"p.{key}: not a string, number or boolean")
        props[key] = item
    return props


def _purchase(props: dict[str, Any]) -> tuple[Decimal, str, str]:
    unknown = set(props) - {"amount", "currency", "order_id"}
    if unknown:
        raise HitRefused(400, f"p: unknown purchase field {sorted(unknown)[0]!r}")
    raw = props.get("amount")
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise HitRefused(400, "p.amount: not a number")
    try:
        amount = Decimal(str(raw)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise HitRefused(400, "p.amount: not a number") from None
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
        raise HitRefused(400, "p.amount: out of range")
    currency = props.get("currency") or settings.DEFAULT_CURRENCY
    if not isinstance(currency, str) or not _CURRENCY_SHAPE.fullmatch(currency.upper()):
        raise HitRefused(400, "p.currency: not a currency code (EUR)")
    order_id = props.get("order_id") or ""
    if isinstance(order_id, int) and not isinstance(order_id, bool):
        order_id = str(order_id)
    if not isinstance(order_id, str) or (order_id and not _ORDER_ID_SHAPE.fullmatch(order_id)):
        raise HitRefused(400, "p.order_id: up to 64 letters, digits and - _ . : / #")
    return amount, currency.upper(), order_id


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def hit_parse(body: bytes) -> SiteHit:
    """The snippet's JSON object, or HitRefused: keys s (site key), t (pageview, event,
    purchase), u (page address), and optionally r (referrer), n (event name), p (event
    properties; for a purchase: amount, currency, order_id), v (visit token). Nothing else."""
    if len(body) > MAX_BODY_BYTES:
        raise HitRefused(413, f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise HitRefused(400, "body: not JSON") from None
    if not isinstance(data, dict):
        raise HitRefused(400, "body: not a JSON object")
    unknown = set(data) - {"s", "t", "u", "r", "n", "p", "v"}
    if unknown:
        raise HitRefused(400, f"unknown key {sorted(unknown)[0][:20]!r}")
    site_key = _text(data, "s", limit=100, required=True)
    if not _KEY_SHAPE.fullmatch(site_key):
        raise HitRefused(400, "s: not a site key")
    type_ = _text(data, "t", limit=10, required=True)
    if type_ not in EVENT_TYPES:
        raise HitRefused(400, "t: not pageview, event or purchase")
    url = _text(data, "u", limit=MAX_BODY_BYTES, required=True)
    if not origin_of(url):
        raise HitRefused(400, "u: not an http(s) address")
    name = _text(data, "n", limit=60)
    if type_ == SiteEvent.Type.EVENT and not name:
        raise HitRefused(400, "n: an event needs a name")
    if type_ != SiteEvent.Type.EVENT and name:
        raise HitRefused(400, "n: only events have a name")
    props = _props(data.get("p"))
    hit = SiteHit(
        site_key=site_key,
        type=type_,
        url=url,
        referrer=_text(data, "r", limit=MAX_BODY_BYTES),
        name=name,
        props=props,
        visit_token=_text(data, "v", limit=40),
    )
    if type_ == SiteEvent.Type.PURCHASE:
        amount, currency, order_id = _purchase(props)
        return SiteHit(
            site_key=site_key,
            type=type_,
            url=url,
            referrer=hit.referrer,
            visit_token=hit.visit_token,
            amount=amount,
            currency=currency,
            order_id=order_id,
        )
    if type_ == SiteEvent.Type.PAGEVIEW and props:
        raise HitRefused(400, "p: page views have no properties")
    return hit


@dataclass(frozen=True, slots=True)
class Visitor:
    """Who sent a hit, as far as the request tells (never stored as it is)."""

    origin: str
    address: str | None
    user_agent: str
    do_not_track: bool = False


def site_for_hit(*, hit: SiteHit, origin: str) -> SiteInfo:
    """The site a hit is for, if the request came from one of its addresses (403 otherwise)."""
    site = site_by_key(hit.site_key)
    if site is None:
        raise HitRefused(403, "s: no such site")
    if origin not in site.origins:
        raise HitRefused(403, "Origin: not an address of this site")
    if origin_of(hit.url) != origin:
        raise HitRefused(403, "u: not on the page's origin")
    return site


# --- visitors ----------------------------------------------------------------------------------


class _Salts:
    """The salts of today and yesterday, read once per process (they never change)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_day: dict[dt.date, bytes] = {}

    def get(self, day: dt.date, *, create: bool) -> bytes:
        salt = self._by_day.get(day)
        if salt is not None and (salt or not create):
            return salt
        row = SiteSalt.objects.filter(day=day).values_list("salt", flat=True).first()
        if row is None and create:
            try:
                with transaction.atomic():
                    SiteSalt.objects.create(day=day, salt=secrets.token_bytes(32))
            except IntegrityError:  # another process made it first
                pass
            row = SiteSalt.objects.filter(day=day).values_list("salt", flat=True).first()
        salt = bytes(row) if row is not None else b""
        with self._lock:
            for old in [d for d in self._by_day if d < day - dt.timedelta(days=1)]:
                del self._by_day[old]
            self._by_day[day] = salt
        return salt

    def clear(self) -> None:
        with self._lock:
            self._by_day.clear()


_salts = _Salts()


def visitor_id(*, salt: bytes, site_key: str, address: str | None, user_agent: str) -> int:
    digest = hashlib.blake2b(
        f"{site_key}\x00{address or ''}\x00{user_agent}".encode(errors="replace"),
        key=salt,
        digest_size=8,
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


def salts_expire(*, now: dt.datetime | None = None) -> int:
    """Delete the salts of the days before yesterday: a day's salt lives 48 hours at most."""
    today = timezone.localdate(now or timezone.now())
    deleted, _by_model = SiteSalt.objects.filter(
        day__lte=today - dt.timedelta(days=SALT_DAYS_KEPT)
    ).delete()
    _salts.clear()
    return deleted


# --- the visit token, from a click in an email to the landing page -----------------------------


def visit_token_make(*, outbox_id: int, now: float | None = None) -> str:
    expires = int((now or time.time()) // 60) + VISIT_TOKEN_MINUTES
    expiry = base36(expires)
    return f"{token_make(purpose='visit', subject_id=outbox_id, extra=expiry)}.{expiry}"


def visit_token_read(token: str, *, now: float | None = None) -> int:
    """The message whose link brought the visit, or BadToken (forged, or expired)."""
    match = _TOKEN_WITH_EXPIRY.fullmatch(token or "")
    if not match:
        raise BadToken("malformed visit token")
    signed, expiry = match.groups()
    outbox_id = token_read(purpose="visit", token=signed, extra=expiry)
    if int(expiry, 36) < (now or time.time()) // 60:
        raise BadToken("expired visit token")
    return outbox_id


def landing_url_with_visit(url: str, outbox_id: int) -> str:
    """The landing page of a click with a visit token, when that page is on one of the shop's
    sites (never on someone else's) and tracking is on; the address unchanged otherwise. The
    token names the message; whether its contact may be followed is decided when the visit
    arrives (`_contact_may_be_followed`)."""
    if not outbox_id or not settings.TRACKING_ENABLED or site_by_origin(origin_of(url)) is None:
        return url
    parts = urlsplit(url)
    token = urlencode({VISIT_PARAM: visit_token_make(outbox_id=outbox_id)})
    return urlunsplit(parts._replace(query=f"{parts.query}&{token}" if parts.query else token))


def _contact_may_be_followed(outbox_id: int) -> tuple[int, int | None] | None:
    """(contact id, campaign id) of the message a visit token names, when its contact may be
    followed: tracking on for the installation, for the contact and for every list the
    campaign went to, and the contact neither erased nor blocked."""
    if not settings.TRACKING_ENABLED:
        return None
    message = message_lookup().sent_message(outbox_id)
    if message is None or message.contact_id is None:
        return None
    allowed = Contact.objects.filter(
        pk=message.contact_id,
        tracking_allowed=True,
        status__in=(Contact.Status.ACTIVE, Contact.Status.BOUNCED),
    ).exists()
    if not allowed:
        return None
    if MailingList.objects.filter(pk__in=message.list_ids, tracking=False).exists():
        return None
    return message.contact_id, message.campaign_id


# --- recording ---------------------------------------------------------------------------------


class _MinuteCounter:
    """Hits per visitor in the current minute, in this process (a cheap flood guard; the cap
    per visit holds across processes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._minute = 0
        self._counts: dict[int, int] = {}

    def add(self, visitor: int) -> int:
        minute = int(time.monotonic() // 60)
        with self._lock:
            if minute != self._minute:
                self._minute, self._counts = minute, {}
            self._counts[visitor] = self._counts.get(visitor, 0) + 1
            return self._counts[visitor]

    def clear(self) -> None:
        with self._lock:
            self._counts = {}


_per_minute = _MinuteCounter()


def _page(url: str) -> tuple[str, dict[str, str]]:
    """The path of a page (never its query, which may hold an address or a name) and its UTM
    parameters."""
    parts = urlsplit(url)
    utm = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=False):
        if key in UTM_FIELDS and key not in utm:
            utm[key] = _UNSTORABLE.sub("", value).strip()[:100]
    return (parts.path or "/")[:300], utm


def _referrer_host(referrer: str, page_origin: str) -> str:
    """The referring site's host without "www.", or "" for none or the site itself."""
    origin = origin_of(referrer)
    if not origin or origin == page_origin:
        return ""
    host = urlsplit(referrer).hostname or ""
    return host.removeprefix("www.")[:100]


def site_hit_record(
    *, hit: SiteHit, site: SiteInfo, visitor: Visitor, now: dt.datetime | None = None
) -> SiteEvent | None:
    """Record one hit in its visit (made if none is open); None when it is not counted (a
    browser that asks not to be followed, a robot). HitRefused(429) for a flood."""
    if visitor.do_not_track or not visitor.user_agent:
        return None
    browser, device = client_of(visitor.user_agent)
    if device in ("robot", "proxy"):
        return None
    now = now or timezone.now()
    today = timezone.localdate(now)
    ids = [
        visitor_id(
            salt=_salts.get(today, create=True),
            site_key=site.key,
            address=visitor.address,
            user_agent=visitor.user_agent,
        )
    ]
    yesterday_salt = _salts.get(today - dt.timedelta(days=1), create=False)
    if yesterday_salt:
        ids.append(
            visitor_id(
                salt=yesterday_salt,
                site_key=site.key,
                address=visitor.address,
                user_agent=visitor.user_agent,
            )
        )
    if _per_minute.add(ids[0]) > MAX_HITS_PER_MINUTE:
        raise HitRefused(429, "too many hits from this visitor")
    path, utm = _page(hit.url)
    with transaction.atomic():
        visit = (
            SiteVisit.objects.select_for_update()
            .filter(site_id=site.id, visitor__in=ids, last_at__gte=now - VISIT_GAP)
            .order_by("-last_at")
            .first()
        )
        if visit is None:
            visit = _visit_start(
                site=site,
                visitor=ids[0],
                day=today,
                now=now,
                path=path,
                utm=utm,
                referrer=_referrer_host(hit.referrer, origin_of(hit.url)),
                browser=browser,
                device=device,
            )
        elif visit.pageviews + visit.events >= MAX_HITS_PER_VISIT:
            raise HitRefused(429, "too many hits in this visit")
        if hit.visit_token and visit.contact_id is None:
            _visit_tie(visit=visit, token=hit.visit_token)
        event = SiteEvent.objects.create(
            visit=visit,
            site_id=site.id,
            at=now,
            type=hit.type,
            path=path,
            name=hit.name,
            props=hit.props,
            amount=hit.amount,
            currency=hit.currency,
            order_id=hit.order_id,
        )
        changes: dict[str, Any] = {"last_at": now}
        if hit.type == SiteEvent.Type.PAGEVIEW:
            changes |= {"pageviews": F("pageviews") + 1, "exit_path": path}
        else:
            changes["events"] = F("events") + 1
        if hit.type == SiteEvent.Type.PURCHASE and hit.amount is not None:
            changes |= {"purchases": F("purchases") + 1, "revenue": F("revenue") + hit.amount}
        SiteVisit.objects.filter(pk=visit.pk).update(**changes)
    if hit.type == SiteEvent.Type.PURCHASE and visit.contact_id and hit.order_id:
        order_record(
            actor=WEBSITE_ACTOR,
            external_id=hit.order_id,
            contact_id=visit.contact_id,
            ordered_at=now,
            total=hit.amount or Decimal(0),
            currency=hit.currency,
            channel="web",
        )
    return event


def _visit_start(
    *,
    site: SiteInfo,
    visitor: int,
    day: dt.date,
    now: dt.datetime,
    path: str,
    utm: dict[str, str],
    referrer: str,
    browser: str,
    device: str,
) -> SiteVisit:
    # A visitor tied to a contact earlier today stays tied for the day's other visits.
    tied = (
        SiteVisit.objects.filter(site_id=site.id, day=day, visitor=visitor, contact__isnull=False)
        .values_list("contact_id", "campaign_id")
        .first()
    )
    return SiteVisit.objects.create(
        site_id=site.id,
        day=day,
        visitor=visitor,
        started_at=now,
        last_at=now,
        entry_path=path,
        exit_path=path,
        referrer=referrer,
        utm_source=utm.get("utm_source", ""),
        utm_medium=utm.get("utm_medium", ""),
        utm_campaign=utm.get("utm_campaign", ""),
        browser=browser,
        device=device,
        contact_id=tied[0] if tied else None,
        campaign_id=tied[1] if tied else None,
    )


def _visit_tie(*, visit: SiteVisit, token: str) -> None:
    """Tie the visit, and its visitor's other visits of the day, to the contact the token
    names, if they may be followed. A forged or expired token ties nothing."""
    try:
        outbox_id = visit_token_read(token)
    except BadToken:
        return
    allowed = _contact_may_be_followed(outbox_id)
    if allowed is None:
        return
    contact_id, campaign_id = allowed
    SiteVisit.objects.filter(
        site_id=visit.site_id, day=visit.day, visitor=visit.visitor, contact__isnull=True
    ).update(contact_id=contact_id, campaign_id=campaign_id)
    visit.contact_id, visit.campaign_id = contact_id, campaign_id


def site_upkeep(*, now: dt.datetime | None = None) -> dict[str, int]:
    """The hourly job: salts older than 48 hours go, and so do visits (with their events) older
    than the events' retention period (EVENT_RETENTION_DAYS)."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.EVENT_RETENTION_DAYS)
    _deleted, by_model = SiteVisit.objects.filter(last_at__lt=cutoff).delete()
    return {
        "salts": salts_expire(now=now),
        "visits": by_model.get(SiteVisit._meta.label, 0),
    }


def site_counters_reset() -> None:
    """Forget the per-process caches (salts, hits per minute): for tests and after a restore."""
    _salts.clear()
    _per_minute.clear()
