"""Issue 3's "done means", in a real browser: a marketer writes a campaign with merge tags,
previews it as a contact, sends a test, sends it to a list, and reads the messages in the Outbox."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from fidele.campaigns.models import Campaign
from fidele.contacts.models import MailingList
from fidele.delivery.models import CapturedMessage
from tests.factories import make_contact

pytestmark = pytest.mark.django_db(transaction=True)

SUBJECT = "Bonjour {{ contact.first_name | default('cher client') }}"
BODY = (
    '<p>Bonjour {{ contact.first_name | default("cher client") }}, la '
    '<a href="https://cave.example/foire">Foire aux vins</a> commence.</p>'
)


def run_the_worker_until_sent(campaign: Campaign) -> None:
    # The send task re-enqueues itself between batches: run the queue until the campaign is done.
    for _ in range(10):
        call_command("db_worker", batch=True, startup_delay=False, queue_name="*", verbosity=0)
        campaign.refresh_from_db()
        if campaign.status == Campaign.Status.SENT:
            return
    pytest.fail(f"the campaign is still {campaign.status}")


def test_a_marketer_writes_previews_tests_sends_and_reads_the_outbox(
    page, live_server, marketer, log_in, axe_violations
):
    newsletter = MailingList.objects.create(name="Newsletter")
    make_contact("helene@exemple.fr", first_name="Hélène", lists=[newsletter])
    make_contact("jerome@exemple.fr", first_name="Jérôme", lists=[newsletter])
    make_contact("sans.prenom@exemple.fr", first_name="", lists=[newsletter])
    log_in(page, marketer)

    page.goto(f"{live_server.url}/campaigns/new/")
    page.fill("#id_name", "Foire aux vins")
    page.fill("#id_from_email", "cave@exemple.fr")
    page.fill("#id_subject", SUBJECT)
    page.select_option("#id_body_format", "html")
    page.fill("#id_body", BODY)
    page.check("#id_lists_0")
    page.click("form[data-campaign-form] button[type=submit]")
    page.wait_for_url(re.compile(r"/campaigns/\d+/$"))
    campaign = Campaign.objects.get()

    # Preview as Hélène: her first name fills the merge tag.
    page.fill("#preview-q", "helene")
    page.get_by_role("button", name=re.compile("Hélène")).click()
    expect(page.frame_locator("#preview iframe").locator("body")).to_contain_text(
        "Bonjour Hélène, la Foire aux vins commence."
    )
    assert axe_violations(page) == []

    # A test, personalised as Hélène, to the owner's address.
    page.fill("[name=addresses]", "patron@exemple.fr")
    page.get_by_role("button", name="Envoyer le test").click()
    test = CapturedMessage.objects.get(recipients=["patron@exemple.fr"])
    assert test.subject == "[TEST] Bonjour Hélène"

    # The confirmation is a page of the app, with the exact count (not the browser's confirm()).
    page.get_by_role("link", name="Envoyer maintenant").click()
    expect(page.get_by_role("heading", name="3 personnes la recevront")).to_be_visible()
    assert axe_violations(page) == []
    page.get_by_role("button", name="Envoyer à 3 personnes").click()
    # The campaign page follows the sending by itself, before any worker has started it.
    expect(page.locator("#progress")).to_contain_text("Démarrage")
    run_the_worker_until_sent(campaign)
    expect(page.get_by_text("Envoyée", exact=True).first).to_be_visible(timeout=15_000)

    sent = CapturedMessage.objects.filter(campaign=campaign, outbox__isnull=False)
    assert sorted(m.subject for m in sent) == [
        "Bonjour Hélène",
        "Bonjour Jérôme",
        "Bonjour cher client",
    ]
    page.goto(f"{live_server.url}/delivery/outbox/")
    page.get_by_role("link", name="Bonjour Jérôme").click()
    content = page.content()
    assert "List-Unsubscribe-Post" in content and "One-Click" in content
    # The message's tracked link is shown as its destination: reading it in the Outbox records
    # no click and no open (it used to be the live /t/c/ link, asserted here).
    expect(page.frame_locator("iframe").locator("a").first).to_have_attribute(
        "href", re.compile(r"^https://cave\.example/foire\?utm_source=fidele")
    )
    assert "/t/o/" not in content and "/t/u/" not in content
    assert axe_violations(page) == []
