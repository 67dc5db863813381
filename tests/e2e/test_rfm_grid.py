"""The RFM grid in a real browser: a block of the grid opens the contacts list on exactly that
segment's contacts, and the page passes axe's WCAG checks."""

from __future__ import annotations

import pytest

from fidele.segments.models import ContactRfm
from fidele.segments.rfm import rfm_refresh
from tests.factories import make_contact, make_order

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_block_of_the_rfm_grid_opens_its_contacts(
    page, live_server, owner, log_in, axe_violations
):
    for index in range(10):
        contact = make_contact(f"client{index}@example.fr", last_name=f"Client{index}")
        for _ in range(1 + index):
            make_order(contact, total=str(20 + 10 * index), days_ago=5 + 60 * (9 - index))
    rfm_refresh()
    segment = ContactRfm.objects.order_by("-monetary").first().segment
    members = set(
        ContactRfm.objects.filter(segment=segment).values_list("contact__email", flat=True)
    )

    log_in(page, owner)
    page.goto(f"{live_server.url}/customers/")
    assert page.locator("h1").first.inner_text() == "Clientèle"
    assert axe_violations(page) == []
    page.locator(f'#rfm-grid a[data-segment="{segment}"]').click()
    page.wait_for_url(f"**/contacts/?rfm={segment}")
    assert "Segment RFM" in page.locator("main").inner_text()
    shown = set(page.locator("main table tbody tr td:nth-child(2)").all_inner_texts())
    assert {email.strip() for email in shown} == members
