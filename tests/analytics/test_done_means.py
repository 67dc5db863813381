"""Issue 9's 'done means', end to end: a message really sent (the Outbox transport), its links
followed by a person and by a scanner, an order after the click, and the report."""

from __future__ import annotations

import email
import email.policy
import re

import pytest

from fidele.analytics.reports import campaign_report
from fidele.analytics.rollup import rollup_fill
from fidele.campaigns.models import Campaign
from fidele.campaigns.sending import CampaignContent, campaign_start
from fidele.contacts.models import Contact
from fidele.delivery.engine import Sender
from fidele.delivery.models import CapturedMessage
from fidele.tracking.models import EmailEvent
from tests.factories import make_campaign, make_contact, make_list, make_order

pytestmark = pytest.mark.django_db

BODY = (
    '<p>Nos <a href="https://shop.example/vins">vins</a>, nos '
    '<a href="https://shop.example/fromages">fromages</a> et nos '
    '<a href="https://shop.example/ateliers">ateliers</a>.</p>'
)


def sent_links(settings) -> tuple[Campaign, dict[str, list[str]]]:
    """{recipient: tracked URLs of their message} for a campaign sent through the Outbox."""
    settings.EMAIL_TRANSPORT = {"kind": "capture"}
    settings.BASE_URL = "https://cave.example"
    news = make_list("news")
    make_contact("alice@example.com", lists=[news])
    make_contact("bob@corp.example", lists=[news])
    campaign = make_campaign(lists=[news], body=BODY)
    campaign_start(campaign_id=campaign.pk)
    Sender(concurrency=1).run(CampaignContent(campaign.pk))
    links = {}
    for captured in CapturedMessage.objects.all():
        message = email.message_from_bytes(bytes(captured.raw), policy=email.policy.default)
        html = message.get_body(("html",)).get_content()
        links[captured.recipients[0]] = [
            url.replace("&amp;", "&")
            for url in re.findall(r'href="https://cave\.example(/t/[ch]/[^"]+)"', html)
        ]
    return campaign, links


def test_a_persons_click_counts_once_a_scanners_apart_and_the_order_after_it_is_revenue(
    client, settings
):
    campaign, links = sent_links(settings)
    alice = [url for url in links["alice@example.com"] if url.startswith("/t/c/")]
    person = {"HTTP_USER_AGENT": "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 Safari/605.1.15"}

    first = client.get(alice[0], **person)
    client.get(alice[0], **person)  # the same person, the same link, again
    assert first.status_code == 302
    assert first["Location"].startswith("https://shop.example/vins?utm_source=")
    assert "utm_campaign=" in first["Location"]

    # Bob's company gateway: a HEAD check, then every link and the invisible one at once.
    bob = links["bob@corp.example"]
    client.head(bob[0])
    for url in bob:
        client.get(url, HTTP_USER_AGENT="Mozilla/5.0 (Windows NT 10.0) Chrome/120.0")
    alice_contact = Contact.objects.get(email="alice@example.com")
    make_order(alice_contact, total="64.00", days_ago=0)

    rollup_fill()
    report = campaign_report(campaign_id=campaign.pk)

    assert (report["clicks_human"], report["clicks_human_total"]) == (1, 2)
    assert report["clicks_machine"] == 1
    reasons = set(EmailEvent.objects.filter(is_machine=True).values_list("reason", flat=True))
    assert {"head", "honeypot"} <= reasons and reasons & {"burst", "near_honeypot"}
    assert (report["conversions"], report["revenue"]) == (1, 64.0)
