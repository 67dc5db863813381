"""The deliverability card in a real browser: loaded by the campaign page after it is shown,
in the user's language, accessible."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from fidele.campaigns import deliverability
from tests.factories import make_campaign, make_list

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_campaign_page_loads_the_deliverability_card_with_the_pixel_finding(
    page, live_server, marketer, log_in, axe_violations, monkeypatch
):
    # SpamAssassin's own scoring is tested in tests/campaigns/test_deliverability.py.
    monkeypatch.setattr(deliverability, "spam_tool", lambda: None)
    campaign = make_campaign(lists=[make_list("Newsletter")])
    log_in(page, marketer)
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/")
    card = page.locator("#deliverability")
    expect(card).to_contain_text("Avant l’envoi, regardez ces")
    expect(card).to_contain_text("Le pixel de suivi des ouvertures est la seule image")
    assert axe_violations(page) == []
    card.get_by_role("link", name="Modifier les réglages de suivi").click()
    page.uncheck("#id_track_opens")
    page.locator("form[data-campaign-form] button[type=submit]").click()
    # The page comes back with the link's #id_track_opens (a redirect keeps the fragment).
    page.wait_for_url(re.compile(rf"/campaigns/{campaign.pk}/(#.*)?$"))
    expect(card).to_contain_text("Le suivi des ouvertures est désactivé.")
    expect(card).not_to_contain_text("Le pixel de suivi des ouvertures")
