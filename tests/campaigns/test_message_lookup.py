from __future__ import annotations

import pytest

from fidele.campaigns.message_lookup import CampaignMessageLookup
from fidele.tracking.messages import OutboxRef, Sender, SentMessage, message_lookup
from tests.factories import make_campaign, make_layout, make_list, make_outbox

pytestmark = pytest.mark.django_db


def test_the_campaigns_app_registers_the_lookup_the_links_use():
    assert isinstance(message_lookup(), CampaignMessageLookup)


def test_a_sent_message_carries_its_ids_its_campaigns_lists_and_its_sender():
    outbox = make_outbox(campaign=make_campaign(lists=["Newsletter", "Ateliers"]))
    lookup = CampaignMessageLookup()
    assert lookup.outbox_refs([outbox.pk, 999999]) == {
        outbox.pk: OutboxRef(
            outbox.pk,
            outbox.campaign_id,
            outbox.contact_id,
            "marie.dupont@example.fr",
            outbox.sent_at,
        )
    }
    message = lookup.sent_message(outbox.pk)
    assert message == SentMessage(
        id=outbox.pk,
        campaign_id=outbox.campaign_id,
        contact_id=outbox.contact_id,
        email="marie.dupont@example.fr",
        list_ids=message.list_ids,
        sender=Sender(name="La Cave de Léa", postal_address="12 rue des Vignes\n21200 Beaune"),
    )
    assert sorted(message.list_ids) == sorted(
        [make_list("Newsletter").pk, make_list("Ateliers").pk]
    )


def test_a_message_that_no_longer_exists_is_none():
    lookup = CampaignMessageLookup()
    assert lookup.outbox_refs([999999]) == {}
    assert lookup.sent_message(999999) is None


def test_without_a_layout_the_sender_is_the_from_name_or_else_the_sending_domain():
    campaign = make_campaign(lists=["Newsletter"])
    campaign.layout = None
    campaign.from_name = ""
    campaign.save()
    message = CampaignMessageLookup().sent_message(make_outbox(campaign=campaign).pk)
    assert message.sender == Sender(name="cave-de-lea.fr", postal_address="")


def test_the_default_sender_is_the_default_layouts():
    assert CampaignMessageLookup().default_sender() == Sender()
    campaign = make_campaign(lists=["Newsletter"], layout=make_layout("Chez Paul"))
    assert CampaignMessageLookup().default_sender() == Sender(
        name="Chez Paul", postal_address="12 rue des Vignes\n21200 Beaune"
    )
    campaign.layout.is_default = True
    campaign.layout.sender_name = "La Maison"
    campaign.layout.save()
    assert CampaignMessageLookup().default_sender().name == "La Maison"
