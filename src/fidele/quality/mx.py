"""Whether the base's domains receive email, asked of the DNS on demand only (a button on the
quality page, `fidele quality report --check-mx`): one MX look-up per distinct domain, with a
timeout, a few at a time, and the answers kept QUALITY_MX_CACHE_DAYS (DomainCheck).

A domain receives mail when it has an MX record, or, without one, an address record (RFC 5321's
implicit MX); it does not when it does not exist, or publishes the "null MX" (RFC 7505) or
nothing at all. No answer in time (a slow server, no network) is unknown: never counted against
the addresses, asked again next time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import dns.exception
import dns.resolver
from django.conf import settings
from django.utils import timezone

from fidele.quality.models import DomainCheck

# Look-ups in flight at once: DNS answers take tens of milliseconds, mostly waiting.
CONCURRENCY = 16


class Resolver(Protocol):
    def resolve(self, qname: str, rdtype: str, *, lifetime: float) -> Any: ...


class _DnsResolver:
    """dnspython's resolver (the system's DNS servers), with the lifetime of each question."""

    def __init__(self) -> None:
        self._resolver = dns.resolver.Resolver()

    def resolve(self, qname: str, rdtype: str, *, lifetime: float) -> Any:
        return self._resolver.resolve(qname, rdtype, lifetime=lifetime, search=False)


_UNKNOWN_ERRORS = (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.LifetimeTimeout)


def domain_receives_mail(domain: str, resolver: Resolver) -> tuple[bool | None, str]:
    """(True / False / None for unknown, what the DNS said)."""
    timeout = float(settings.QUALITY_MX_TIMEOUT_SECONDS)
    try:
        answer = resolver.resolve(domain, "MX", lifetime=timeout)
    except dns.resolver.NXDOMAIN:
        return False, "no such domain"
    except dns.resolver.NoAnswer:
        pass
    except _UNKNOWN_ERRORS:
        return None, "no answer in time"
    except dns.exception.DNSException as exc:
        return None, type(exc).__name__
    else:
        exchanges = [str(record.exchange) for record in answer]
        if exchanges and all(exchange in (".", "") for exchange in exchanges):
            return False, "null MX (the domain says it receives no email)"
        return True, "MX"
    for rdtype in ("A", "AAAA"):
        try:
            resolver.resolve(domain, rdtype, lifetime=timeout)
        except dns.resolver.NoAnswer:
            continue
        except dns.resolver.NXDOMAIN:
            return False, "no such domain"
        except dns.exception.DNSException:
            return None, "no answer in time"
        return True, f"no MX, an {rdtype} record"
    return False, "no mail server"


def domains_to_check(domains: Iterable[str], *, now: dt.datetime | None = None) -> list[str]:
    """Those of `domains` with no valid answer on record (never asked, unknown, or older than
    the cache)."""
    now = now or timezone.now()
    since = now - dt.timedelta(days=settings.QUALITY_MX_CACHE_DAYS)
    fresh = set(
        DomainCheck.objects.filter(checked_at__gte=since, receives_mail__isnull=False).values_list(
            "domain", flat=True
        )
    )
    return sorted({d for d in domains if d and d not in fresh})


def base_domains() -> list[str]:
    """The distinct valid domains of the audited contacts' addresses, per the latest audit's
    judgment (invalid domains are a finding of their own; nobody is asked about them)."""
    from fidele.quality.audit import audited_contacts
    from fidele.quality.expressions import EmailDomain
    from fidele.quality.selectors import snapshot_latest

    snapshot = snapshot_latest()
    invalid = set((snapshot.domains or {}).get("invalid", [])) if snapshot else set()
    domains = (
        audited_contacts()
        .filter(email__isnull=False)
        .annotate(domain=EmailDomain("email"))
        .order_by()
        .values_list("domain", flat=True)
        .distinct()
    )
    return [d for d in domains if d and d not in invalid]


def domains_mx_check(
    *, domains: Iterable[str] | None = None, resolver: Resolver | None = None
) -> int:
    """Look up the domains not known yet (the base's by default) and record the answers.
    Returns how many were looked up."""
    wanted = domains_to_check(base_domains() if domains is None else domains)
    if not wanted:
        return 0
    if resolver is None:
        try:
            resolver = _DnsResolver()
        except dns.resolver.NoResolverConfiguration:
            return 0
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        answers = list(pool.map(lambda d: domain_receives_mail(d, resolver), wanted))
    now = timezone.now()
    DomainCheck.objects.bulk_create(
        [
            DomainCheck(domain=domain, receives_mail=receives, detail=detail[:200], checked_at=now)
            for domain, (receives, detail) in zip(wanted, answers, strict=True)
        ],
        update_conflicts=True,
        unique_fields=["domain"],
        update_fields=["receives_mail", "detail", "checked_at"],
        batch_size=1000,
    )
    return len(wanted)
