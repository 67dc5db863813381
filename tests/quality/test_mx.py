from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import dns.exception
import dns.resolver
import pytest
from django.utils import timezone

from fidele.quality.models import DomainCheck
from fidele.quality.mx import domain_receives_mail, domains_mx_check, domains_to_check


class FakeResolver:
    """Answers from a table, as the DNS would: no network in tests."""

    def __init__(self, table):
        self.table = table
        self.asked: list[tuple[str, str]] = []

    def resolve(self, qname, rdtype, *, lifetime):
        self.asked.append((qname, rdtype))
        answer = self.table.get((qname, rdtype), dns.resolver.NoAnswer)
        if isinstance(answer, type) and issubclass(answer, Exception):
            raise answer()
        return answer


MX = [SimpleNamespace(exchange="mx1.orange.fr.")]
TABLE = {
    ("orange.fr", "MX"): MX,
    ("nowhere.fr", "MX"): dns.resolver.NXDOMAIN,
    ("nullmx.fr", "MX"): [SimpleNamespace(exchange=".")],
    ("small-firm.fr", "A"): ["192.0.2.1"],
    ("slow.fr", "MX"): dns.exception.Timeout,
}


@pytest.mark.parametrize(
    ("domain", "receives"),
    [
        ("orange.fr", True),
        ("nowhere.fr", False),
        ("nullmx.fr", False),
        ("small-firm.fr", True),  # no MX, an address record: RFC 5321's implicit MX
        ("empty.fr", False),  # neither
        ("slow.fr", None),  # no answer in time: unknown, never held against anyone
    ],
)
def test_a_domain_receives_mail_as_the_dns_answers(domain, receives):
    assert domain_receives_mail(domain, FakeResolver(TABLE))[0] is receives


@pytest.mark.django_db
def test_answers_are_kept_and_only_unknown_or_old_domains_are_asked_again():
    resolver = FakeResolver(TABLE)
    domains = ["orange.fr", "nowhere.fr", "slow.fr"]
    assert domains_mx_check(domains=domains, resolver=resolver) == 3
    assert dict(DomainCheck.objects.values_list("domain", "receives_mail")) == {
        "orange.fr": True,
        "nowhere.fr": False,
        "slow.fr": None,
    }
    assert domains_to_check(domains) == ["slow.fr"]
    DomainCheck.objects.filter(domain="orange.fr").update(
        checked_at=timezone.now() - dt.timedelta(days=400)
    )
    assert domains_to_check(domains) == ["orange.fr", "slow.fr"]
    resolver.asked.clear()
    assert domains_mx_check(domains=domains, resolver=resolver) == 2
    assert {name for name, _type in resolver.asked} == {"orange.fr", "slow.fr"}
    assert DomainCheck.objects.count() == 3
