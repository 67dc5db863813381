from __future__ import annotations

import pytest

from fidele.campaigns.audience import audience_snapshot
from fidele.campaigns.models import Variant
from fidele.compliance.models import Suppression
from fidele.delivery.models import OutboxMessage
from tests.factories import make_campaign, make_contact, make_list, make_subscription

pytestmark = pytest.mark.django_db


def snapshot_emails(campaign):
    audience_snapshot(campaign=campaign)
    return sorted(OutboxMessage.objects.filter(campaign=campaign).values_list("email", flat=True))


def test_a_contact_on_several_chosen_lists_is_mailed_once():
    news, clients = make_list("news"), make_list("clients")
    make_contact("both@example.com", lists=[news, clients])
    make_contact("one@example.com", lists=[clients])
    campaign = make_campaign(lists=[news, clients])
    assert snapshot_emails(campaign) == ["both@example.com", "one@example.com"]


def test_the_snapshot_leaves_out_everyone_who_must_not_be_mailed():
    news, staff, other = make_list("news"), make_list("staff"), make_list("other")
    make_contact("ok@example.com", lists=[news])
    make_contact("excluded@example.com", lists=[news, staff])
    make_contact("suppressed@example.com", lists=[news])
    Suppression.objects.create(email="suppressed@example.com", reason="hard_bounce")
    make_contact("unsubscribed@example.com", lists=[news], subscription_status="unsubscribed")
    make_contact("unconfirmed@example.com", lists=[news], subscription_status="unconfirmed")
    make_contact(None, lists=[news])
    make_contact("bounced@example.com", lists=[news], status="bounced")
    make_contact("erased@example.com", lists=[news], status="erased")
    make_contact("elsewhere@example.com", lists=[other])
    campaign = make_campaign(lists=[news], exclude=[staff])
    assert snapshot_emails(campaign) == ["ok@example.com"]


def test_an_unsubscribe_from_an_excluded_list_does_not_exclude():
    news, staff = make_list("news"), make_list("staff")
    contact = make_contact("left-staff@example.com", lists=[news])
    make_subscription(contact, staff, status="unsubscribed")
    assert snapshot_emails(make_campaign(lists=[news], exclude=[staff])) == [
        "left-staff@example.com"
    ]


def test_taking_the_snapshot_twice_adds_nobody_twice():
    news = make_list("news")
    make_contact("a@example.com", lists=[news])
    campaign = make_campaign(lists=[news])
    assert audience_snapshot(campaign=campaign) == 1
    make_contact("b@example.com", lists=[news])
    assert audience_snapshot(campaign=campaign) == 2
    rows = OutboxMessage.objects.filter(campaign=campaign)
    assert rows.count() == 2
    assert set(rows.values_list("status", flat=True)) == {"queued"}
    assert rows.get(email="a@example.com").contact.email == "a@example.com"


def test_an_ab_test_sends_each_variant_to_a_sample_and_holds_the_rest():
    news = make_list("news")
    for i in range(100):
        make_contact(f"c{i}@example.com", lists=[news])
    campaign = make_campaign(lists=[news], ab_enabled=True, ab_sample_percent=10)
    a = Variant.objects.create(campaign=campaign, label="A", subject="Sujet A")
    b = Variant.objects.create(campaign=campaign, label="B", subject="Sujet B")
    audience_snapshot(campaign=campaign)
    rows = OutboxMessage.objects.filter(campaign=campaign)
    assert rows.filter(variant=a, status="queued").count() == 10
    assert rows.filter(variant=b, status="queued").count() == 10
    assert rows.filter(variant__isnull=True, status="held").count() == 80
    first_split = sorted(rows.filter(variant=a).values_list("email", flat=True))
    # The split is deterministic: the same campaign gives the same samples.
    rows.update(variant=None, status="queued")
    audience_snapshot(campaign=campaign)
    assert sorted(rows.filter(variant=a).values_list("email", flat=True)) == first_split


def test_a_campaign_whose_rule_names_a_deleted_tag_is_not_sent_to_the_lists_alone():
    news = make_list("news")
    make_contact("a@example.com", lists=[news])
    campaign = make_campaign(lists=[news], audience_rules={"tag": "vip"})
    with pytest.raises(ValueError, match="unknown tag"):
        audience_snapshot(campaign=campaign)
