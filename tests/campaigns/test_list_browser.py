"""The campaign list and the Outbox in a real browser: paging in place, filters, axe."""

from __future__ import annotations

import pytest

from fidele.campaigns.models import Campaign
from fidele.delivery.models import CapturedMessage, OutboxMessage

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_campaign_list_pages_in_place_and_shows_the_next_page_from_its_top(
    page, live_server, viewer, log_in, axe_violations
):
    made = Campaign.objects.bulk_create(
        Campaign(name=f"Campagne {n:02d}", subject="s", from_email="c@example.com", status="sent")
        for n in range(55)
    )
    OutboxMessage.objects.create(campaign=made[0], email="a@example.com", status="sent")
    log_in(page, viewer)
    page.goto(f"{live_server.url}/campaigns/")
    assert page.locator("#campaign-results tbody tr").count() == 50
    assert axe_violations(page) == []
    page.locator("a[rel=next]").click()
    page.wait_for_url(lambda url: "after=" in url)
    page.wait_for_function("document.querySelectorAll('#campaign-results tbody tr').length == 5")
    # The rows come in place of the old ones: the reader starts at the top, not at the pager.
    assert page.evaluate("window.scrollY") == 0
    page.select_option("#id_status", "draft")
    page.wait_for_url(lambda url: "status=draft" in url)
    page.locator("#campaign-results .empty").wait_for()


def test_the_outbox_pages_within_one_campaign_and_has_no_axe_violation(
    page, live_server, viewer, log_in, axe_violations
):
    campaign = Campaign.objects.create(name="Automne", subject="s", from_email="c@example.com")
    CapturedMessage.objects.bulk_create(
        CapturedMessage(
            campaign=campaign, sender="c@example.com", recipients=[f"r{n}@example.com"],
            subject="Foire aux vins", raw=b"Subject: Foire aux vins\r\n\r\nBonjour",
        )
        for n in range(60)
    )  # fmt: skip
    log_in(page, viewer)
    page.goto(f"{live_server.url}/delivery/outbox/?campaign={campaign.pk}")
    assert page.locator("tbody tr").count() == 50
    assert axe_violations(page) == []
    page.locator("a[rel=next]").click()
    page.wait_for_url(lambda url: "after=" in url and f"campaign={campaign.pk}" in url)
    assert page.locator("tbody tr").count() == 10


def test_cancelling_a_campaign_asks_in_the_page_then_cancels(
    page, live_server, marketer, log_in, axe_violations
):
    campaign = Campaign.objects.create(
        name="Automne", subject="s", from_email="c@example.com", status="paused"
    )
    log_in(page, marketer)
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/")
    confirm = page.get_by_role("button", name="Oui, l’annuler")
    assert not confirm.is_visible()
    page.get_by_text("Annuler la campagne").click()
    assert (
        page.get_by_text("Annuler définitivement cette campagne").is_visible()
        or confirm.is_visible()
    )
    assert axe_violations(page) == []
    confirm.click()
    page.wait_for_load_state("networkidle")
    campaign.refresh_from_db()
    assert campaign.status == "cancelled"
