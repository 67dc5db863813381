"""Who sent a request: the client's address, also behind reverse proxies we were told about."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The address of the client, for login throttling, consent proofs and the audit log.

    Without a proxy in front (FIDELE_TRUSTED_PROXIES=0, the default) it is REMOTE_ADDR:
    X-Forwarded-For is then whatever the client chose to write. Behind N reverse proxies, each
    of which appends the address it saw to X-Forwarded-For, it is the N-th address from the
    right: the one our outermost proxy saw. Anything further left was written by the client, and
    reading it would let one attacker spread a login flood over invented addresses (or lock an
    office out by naming its address). A header shorter than N, or not an address, means the
    proxies are not as configured: REMOTE_ADDR is used rather than a guess.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    count = settings.TRUSTED_PROXIES
    if not count:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < count:
        return remote
    candidate = forwarded[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
