"""The shop's websites that carry the analytics snippet, and their goals: the operator's
settings (the web analytics settings page, `fidele tracking site`), and what the public
endpoint and the click redirect read of them on every hit, from a short-lived cache.

A site is named by its key (the snippet's `data-site`) and allowed from its exact origins
(scheme, host and port): the endpoint refuses hits from anywhere else and gives browsers of
other origins no CORS answer.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _

from fidele.core.actors import Actor
from fidele.core.audit import audit_record
from fidele.core.models import AuditLog
from fidele.tracking.models import Site, SiteGoal

MAX_ORIGINS = 20
# How long a process trusts what it read of the sites: a site added or changed in another
# process is served within this many seconds.
CACHE_SECONDS = 30.0


def origin_of(url: str) -> str:
    """ "https://www.example.fr" for "https://www.Example.fr/a?b": what a browser sends as
    Origin for a page at that address; "" when it is not an http(s) URL with a host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = 80 if parts.scheme == "http" else 443
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def origins_clean(text: str) -> list[str]:
    """The origins typed by the operator (one per line, or separated by spaces or commas), each
    reduced to scheme://host[:port]; ValidationError naming the line that is not one."""
    origins: list[str] = []
    for raw in text.replace(",", " ").split():
        origin = origin_of(raw)
        if not origin or urlsplit(raw).path not in ("", "/") or "@" in raw:
            raise ValidationError(
                _(
                    "“%(value)s” is not a site address: write it as https://www.example.fr "
                    "(the scheme, the host and a port if there is one, nothing after)."
                )
                % {"value": raw[:100]}
            )
        if origin not in origins:
            origins.append(origin)
    if not origins:
        raise ValidationError(_("Give at least one address of the site."))
    if len(origins) > MAX_ORIGINS:
        raise ValidationError(_("At most %(n)s addresses per site.") % {"n": MAX_ORIGINS})
    return origins


def site_key_from(name: str, origins: list[str]) -> str:
    """A key for a new site: its first address's host ("www.example.fr"), or its name."""
    host = (urlsplit(origins[0]).hostname or "") if origins else ""
    key = slugify(host.replace(".", "-")) or slugify(name) or "site"
    return key[:100]


def snippet_tag(site: Site) -> str:
    """What to paste into the site's pages (in their <head>)."""
    return f'<script defer src="{settings.BASE_URL}/t/s.js" data-site="{site.key}"></script>'


def site_create(*, actor: Actor, name: str, origins: str, key: str = "") -> Site:
    cleaned = origins_clean(origins)
    name = name.strip()[:120] or (urlsplit(cleaned[0]).hostname or "")
    key = slugify(key)[:100] if key else site_key_from(name, cleaned)
    if Site.objects.filter(key=key).exists():
        raise ValidationError(_("A site with the key “%(key)s” exists already.") % {"key": key})
    with transaction.atomic():
        site = Site.objects.create(key=key, name=name, origins="\n".join(cleaned))
        audit_record(
            actor=actor,
            action=AuditLog.Action.CREATE,
            obj=site,
            changes={"key": key, "origins": cleaned},
        )
    sites_changed()
    return site


def site_update(*, actor: Actor, site: Site, name: str, origins: str) -> Site:
    cleaned = "\n".join(origins_clean(origins))
    name = name.strip()[:120] or site.name
    changes = {
        field: [getattr(site, field), value]
        for field, value in (("name", name), ("origins", cleaned))
        if getattr(site, field) != value
    }
    if changes:
        with transaction.atomic():
            site.name, site.origins = name, cleaned
            site.save(update_fields=["name", "origins"])
            audit_record(actor=actor, action=AuditLog.Action.UPDATE, obj=site, changes=changes)
        sites_changed()
    return site


def site_delete(*, actor: Actor, site: Site) -> None:
    """The site and everything counted on it (visits, events, goals)."""
    with transaction.atomic():
        audit_record(actor=actor, action=AuditLog.Action.DELETE, obj=site)
        site.delete()
    sites_changed()


def goal_add(*, actor: Actor, site: Site, kind: str, value: str) -> SiteGoal:
    value = value.strip()
    if kind not in SiteGoal.Kind.values:
        raise ValidationError(_("Choose what the goal is: a page or an event."))
    if kind == SiteGoal.Kind.PAGE:
        value = urlsplit(value).path if "://" in value else value
        if not value.startswith("/"):
            value = "/" + value
    if not value or len(value) > 300 or any(ord(ch) < 32 for ch in value):
        raise ValidationError(_("Write the page's path (/merci) or the event's name."))
    goal, created = SiteGoal.objects.get_or_create(site=site, kind=kind, value=value)
    if created:
        audit_record(
            actor=actor,
            action=AuditLog.Action.CREATE,
            obj=goal,
            object_repr=f"{site.name}: {value}",
            changes={"kind": kind, "value": value},
        )
    return goal


def goal_delete(*, actor: Actor, goal: SiteGoal) -> None:
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditLog.Action.DELETE,
            obj=goal,
            object_repr=f"{goal.site.name}: {goal.value}",
        )
        goal.delete()


# --- what every hit reads --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SiteInfo:
    id: int
    key: str
    origins: frozenset[str]


class _SitesCache:
    """Every site by key and by origin, read once per CACHE_SECONDS per process: a hit of the
    endpoint, and a click on a link of an email, ask it without a query."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded_at = -CACHE_SECONDS
        self._by_key: dict[str, SiteInfo] = {}
        self._by_origin: dict[str, SiteInfo] = {}

    def _fresh(self) -> None:
        if time.monotonic() - self._loaded_at < CACHE_SECONDS:
            return
        with self._lock:
            by_key, by_origin = {}, {}
            for pk, key, origins in Site.objects.values_list("pk", "key", "origins"):
                info = SiteInfo(id=pk, key=key, origins=frozenset(origins.split()))
                by_key[key] = info
                for origin in info.origins:
                    by_origin.setdefault(origin, info)
            self._by_key, self._by_origin = by_key, by_origin
            self._loaded_at = time.monotonic()

    def by_key(self, key: str) -> SiteInfo | None:
        self._fresh()
        return self._by_key.get(key)

    def by_origin(self, origin: str) -> SiteInfo | None:
        self._fresh()
        return self._by_origin.get(origin)

    def clear(self) -> None:
        self._loaded_at = -CACHE_SECONDS


_sites = _SitesCache()


def site_by_key(key: str) -> SiteInfo | None:
    return _sites.by_key(key)


def site_by_origin(origin: str) -> SiteInfo | None:
    return _sites.by_origin(origin)


def sites_changed() -> None:
    """Read the sites again on the next hit (this process; others within CACHE_SECONDS)."""
    _sites.clear()
