from __future__ import annotations

import pytest

from fidele.campaigns.audience import audience_snapshot
from fidele.campaigns.models import Variant
from fidele.compliance.models import Suppression
from fidele.delivery.models import OutboxMessage
from tests.delivery.conftest import campaign_make, contact_make, list_make

pytestmark = pytest.mark.django_db


def snapshot_emails(campaign):
    audience_snapshot(campaign=campaign)
    return sorted(OutboxMessage.objects.filter(campaign=campaign).values_list("email", flat=True))


def test_a_contact_on_several_chosen_lists_is_mailed_once():
    news, clients = list_make("news"), list_make("clients")
    contact_make("both@example.com", lists=[news, clients])
    contact_make("one@example.com", lists=[clients])
    campaign = campaign_make(lists=[news, clients])
    assert snapshot_emails(campaign) == ["both@example.com", "one@example.com"]


def test_the_snapshot_leaves_out_everyone_who_must_not_be_mailed():
    news, staff, other = list_make("news"), list_make("staff"), list_make("other")
    contact_make("ok@example.com", lists=[news])
    contact_make("excluded@example.com", lists=[news, staff])
    contact_make("suppressed@example.com", lists=[news])
    Suppression.objects.create(email="suppressed@example.com", reason="hard_bounce")
    contact_make("unsubscribed@example.com", lists=[news], sub_status="unsubscribed")
    contact_make("unconfirmed@example.com", lists=[news], sub_status="unconfirmed")
    contact_make(None, lists=[news])
    contact_make("bounced@example.com", lists=[news], status="bounced")
    contact_make("erased@example.com", lists=[news], status="erased")
    contact_make("elsewhere@example.com", lists=[other])
    campaign = campaign_make(lists=[news], exclude=[staff])
    assert snapshot_emails(campaign) == ["ok@example.com"]


def test_an_unsubscribe_from_an_excluded_list_does_not_exclude():
    news, staff = list_make("news"), list_make("staff")
    contact = contact_make("left-staff@example.com", lists=[news])
    from fidele.contacts.models import Subscription

    Subscription.objects.create(
        contact=contact, mailing_list=staff, status="unsubscribed", consent_source="manual"
    )
    assert snapshot_emails(campaign_make(lists=[news], exclude=[staff])) == [
        "left-staff@example.com"
    ]


def test_taking_the_snapshot_twice_adds_nobody_twice():
    news = list_make("news")
    contact_make("a@example.com", lists=[news])
    campaign = campaign_make(lists=[news])
    assert audience_snapshot(campaign=campaign) == 1
    contact_make("b@example.com", lists=[news])
    assert audience_snapshot(campaign=campaign) == 2
    rows = OutboxMessage.objects.filter(campaign=campaign)
    assert rows.count() == 2
    assert set(rows.values_list("status", flat=True)) == {"queued"}
    assert rows.get(email="a@example.com").contact.email == "a@example.com"


def test_an_ab_test_sends_each_variant_to_a_sample_and_holds_the_rest():
    news = list_make("news")
    for i in range(100):
        contact_make(f"c{i}@example.com", lists=[news])
    campaign = campaign_make(lists=[news], ab_enabled=True, ab_sample_percent=10)
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


def test_segment_rules_are_refused_until_segments_exist():
    news = list_make("news")
    contact_make("a@example.com", lists=[news])
    campaign = campaign_make(lists=[news], audience_rules={"tag": "vip"})
    with pytest.raises(ValueError, match="segment"):
        audience_snapshot(campaign=campaign)
