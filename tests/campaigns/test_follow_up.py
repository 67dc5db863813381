"""'Send to those who did not open': a follow-up of a sent campaign (issue 9, item 4)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from fidele.campaigns.audience import audience_breakdown, audience_queryset
from fidele.campaigns.models import Campaign
from fidele.campaigns.sending import campaign_start
from fidele.campaigns.services import campaign_follow_up_create
from fidele.delivery.models import OutboxMessage
from fidele.tracking.services import event_record
from fidele.tracking.tokens import token_make
from tests.factories import make_campaign, make_contact, make_outbox

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent():
    campaign = make_campaign(lists=["Newsletter"], name="Primeurs")
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENT)
    people = {
        name: make_outbox(
            contact=make_contact(f"{name}@x.fr", lists=["Newsletter"]), campaign=campaign
        )
        for name in ("anne", "bob", "carl")
    }
    event_record(type="open", outbox=people["anne"])
    event_record(type="open", outbox=people["bob"], reason="apple_privacy")
    make_contact("dora@x.fr", lists=["Newsletter"])  # subscribed after the send
    campaign.refresh_from_db()
    return campaign


def test_a_follow_up_goes_to_the_recipients_no_person_opened_it_for(marketer_client, sent):
    response = marketer_client.post(reverse("campaigns:follow_up", args=[sent.pk]))

    follow_up = Campaign.objects.get(follow_up_of=sent)
    assert response.status_code == 302
    assert response["Location"] == reverse("campaigns:edit", args=[follow_up.pk])
    assert follow_up.status == Campaign.Status.DRAFT
    assert follow_up.name == "Primeurs, pour ceux qui n’ont pas ouvert"
    recipients = set(audience_queryset(follow_up).values_list("email", flat=True))
    assert recipients == {"bob@x.fr", "carl@x.fr"}  # Apple's proxy is not a reader
    breakdown = audience_breakdown(follow_up)
    assert (breakdown["opened_before"], breakdown["recipients"]) == (2, 2)


def test_the_report_offers_it_to_those_who_may_edit(marketer_client, sent):
    url = reverse("campaigns:report", args=[sent.pk])
    assert "Envoyer à ceux qui n’ont pas ouvert" in marketer_client.get(url).content.decode()


def test_a_viewer_is_not_offered_it_and_cannot_make_one(viewer_client, sent):
    url = reverse("campaigns:report", args=[sent.pk])
    assert "Envoyer à ceux qui n’ont pas ouvert" not in viewer_client.get(url).content.decode()
    assert viewer_client.post(reverse("campaigns:follow_up", args=[sent.pk])).status_code == 403
    assert not Campaign.objects.filter(follow_up_of=sent).exists()


def test_the_follow_ups_page_names_the_campaign_it_follows(marketer_client, sent):
    marketer_client.post(reverse("campaigns:follow_up", args=[sent.pk]))
    follow_up = Campaign.objects.get(follow_up_of=sent)

    page = marketer_client.get(reverse("campaigns:detail", args=[follow_up.pk])).content.decode()

    assert "Relance de" in page and reverse("campaigns:report", args=[sent.pk]) in page


def test_an_open_still_queued_when_the_follow_up_starts_leaves_its_reader_out(client, sent):
    carl = OutboxMessage.objects.get(campaign=sent, email="carl@x.fr")
    client.get(f"/t/o/{token_make(purpose='open', subject_id=carl.pk)}.gif")  # not drained yet
    follow_up = campaign_follow_up_create(campaign=sent)

    campaign_start(campaign_id=follow_up.pk)

    sent_to = OutboxMessage.objects.filter(campaign=follow_up).values_list("email", flat=True)
    assert set(sent_to) == {"bob@x.fr"}
