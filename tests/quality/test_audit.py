from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from fidele.commerce.models import Order
from fidele.contacts.models import Contact
from fidele.contacts.selectors import contacts_filtered
from fidele.quality.audit import audit_run
from fidele.quality.findings import CODES, FINDINGS
from fidele.quality.models import AuditSnapshot, DomainCheck
from fidele.quality.selectors import orders_outlying, report_of
from tests.factories import make_contact

CONTRACT_CODES = {
    "email_invalid",
    "email_domain_typo",
    "email_disposable",
    "email_role",
    "email_no_mx",
    "phone_invalid",
    "consent_missing",
    "stale",
    "birth_date_outlier",
    "date_in_future",
    "order_outlier",
    "duplicate",
}


def test_the_findings_are_exactly_the_contract_codes():
    assert set(CODES) == CONTRACT_CODES
    assert sum(f.weight for f in FINDINGS) + 10 == 100


@pytest.mark.django_db
def test_each_finding_counts_exactly_the_contacts_concerned(messy_base):
    snapshot = audit_run(trigger=AuditSnapshot.Trigger.MANUAL)
    counts = {row["code"]: row["count"] for row in snapshot.findings}
    for code, ids in messy_base.items():
        assert counts[code] == len(ids), code
    assert counts["email_no_mx"] == 0
    assert snapshot.finding("email_no_mx")["measured"] is False
    assert snapshot.contacts == Contact.objects.exclude(status="erased").count()
    assert snapshot.domains["typos"] == {"gmial.com": "gmail.com", "orange.ff": "orange.fr"}
    assert 0 <= snapshot.score < 100


@pytest.mark.django_db
def test_the_contacts_list_filter_opens_exactly_the_contacts_each_finding_counts(messy_base):
    audit_run(trigger=AuditSnapshot.Trigger.MANUAL)
    for code, ids in messy_base.items():
        if code == "order_outlier":
            continue
        shown = set(contacts_filtered(params={"quality": code}).values_list("pk", flat=True))
        assert shown == ids, code


@pytest.mark.django_db
def test_the_unusual_orders_page_lists_exactly_the_orders_counted(messy_base, viewer_client):
    snapshot = audit_run(trigger=AuditSnapshot.Trigger.MANUAL)
    assert (
        set(orders_outlying(snapshot).values_list("pk", flat=True)) == messy_base["order_outlier"]
    )
    response = viewer_client.get("/quality/orders/")
    assert response.status_code == 200
    page = response.content.decode()
    for order in Order.objects.all():
        assert (order.external_id in page) == (order.pk in messy_base["order_outlier"])


@pytest.mark.django_db
def test_an_unknown_quality_filter_is_ignored_like_the_lists_other_filters(messy_base):
    audit_run(trigger=AuditSnapshot.Trigger.MANUAL)
    everyone = contacts_filtered(params={}).count()
    assert contacts_filtered(params={"quality": "nonsense"}).count() == everyone
    assert contacts_filtered(params={"quality": "duplicate"}).count() == everyone


@pytest.mark.django_db
def test_the_report_command_prints_the_contract(messy_base):
    out = StringIO()
    call_command("quality", "report", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert 0 <= report["score"] <= 100
    assert report["contacts"] == Contact.objects.exclude(status="erased").count()
    assert {"email", "phone", "postal_code", "birth_date", "name", "consent"} <= set(
        report["fields"]
    )
    for values in report["fields"].values():
        assert isinstance(values["filled"], int) and 0 <= values["share"] <= 1
    assert [f["code"] for f in report["findings"]] == list(CODES)
    for finding in report["findings"]:
        assert isinstance(finding["count"], int) and finding["label"]
    assert report["plan"], "a messy base has a plan"
    for step in report["plan"]:
        assert step["code"] in CONTRACT_CODES and step["count"] > 0 and step["action"]
        assert str(step["count"]) in step["action"]
    points = [step["points"] for step in report["plan"]]
    assert points == sorted(points, reverse=True)
    # --latest reads the same audit again, without running another.
    out = StringIO()
    call_command("quality", "report", "--json", "--latest", stdout=out)
    assert json.loads(out.getvalue())["audited_at"] == report["audited_at"]
    assert AuditSnapshot.objects.count() == 1


@pytest.mark.django_db
def test_the_report_command_speaks_to_people_without_json(messy_base):
    out = StringIO()
    call_command("quality", "report", stdout=out)
    text = out.getvalue()
    assert "/100" in text and "Plan" in text and "email_domain_typo" in text


@pytest.mark.django_db
def test_the_latest_report_needs_an_audit_first(db):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="No audit yet"):
        call_command("quality", "report", "--latest", stdout=StringIO())


@pytest.mark.django_db
def test_an_empty_base_scores_without_dividing_by_zero(db):
    snapshot = audit_run(trigger=AuditSnapshot.Trigger.MANUAL)
    report = report_of(snapshot)
    assert report["contacts"] == 0 and report["score"] == 100.0 and report["plan"] == []
    assert "pas encore de contact" in report["sentence"]


@pytest.mark.django_db
def test_domains_without_mail_servers_count_once_looked_up(messy_base):
    from django.utils import timezone

    DomainCheck.objects.create(
        domain="restaurant-cyrano.fr", receives_mail=False, checked_at=timezone.now()
    )
    DomainCheck.objects.create(domain="example.fr", receives_mail=None, checked_at=timezone.now())
    snapshot = audit_run(trigger=AuditSnapshot.Trigger.MANUAL)
    assert snapshot.finding("email_no_mx") == {
        "code": "email_no_mx",
        "count": 1,
        "share": snapshot.finding("email_no_mx")["share"],
        "measured": True,
    }
    assert set(
        contacts_filtered(params={"quality": "email_no_mx"}).values_list("email", flat=True)
    ) == {"contact@restaurant-cyrano.fr"}


@pytest.mark.django_db
def test_the_score_rises_when_a_problem_is_fixed(messy_base):
    before = audit_run(trigger=AuditSnapshot.Trigger.MANUAL)
    Contact.objects.filter(email="nolist@example.fr").delete()
    after = audit_run(trigger=AuditSnapshot.Trigger.MANUAL)
    assert after.score > before.score


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("email", "malformed"),
    [
        ("marie.dupont@example.fr", False),
        ("é.à@example.fr", False),
        (".marie@example.fr", True),
        ("marie.@example.fr", True),
        ("ma..rie@example.fr", True),
        ("ma rie@example.fr", True),
        ("marie@ex@ample.fr", True),
        ('ma"rie@example.fr', True),
        ("ma<rie@example.fr", True),
        ("ma\\\\rie@example.fr", True),
        ("ma[rie@example.fr", True),
        ("x" * 64 + "@example.fr", False),
        ("x" * 65 + "@example.fr", True),
        ("marie@example.fr\n", True),
        ("marie", True),
    ],
)
def test_malformed_addresses_are_judged_alike_by_both_databases(email, malformed):
    make_contact(email, lists=["Newsletter"])
    snapshot = audit_run(trigger=AuditSnapshot.Trigger.MANUAL)
    assert snapshot.finding("email_invalid")["count"] == int(malformed)
    listed = contacts_filtered(params={"quality": "email_invalid"}).count()
    assert listed == int(malformed)
