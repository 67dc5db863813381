"""On a phone (390 px), every section is reachable from the menu and card tables keep their labels
beside their values."""

from __future__ import annotations

import pytest

from tests.factories import make_contact, make_list

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_on_a_phone_the_menu_shows_every_section_and_labels_do_not_cover_values(
    page, live_server, owner, log_in
):
    news = make_list("Newsletter")
    make_contact("a@example.fr", lists=[news])
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, owner)
    page.goto(f"{live_server.url}/contacts/lists/")
    links = page.locator(".mainnav a")
    assert links.count() >= 6
    for index in range(links.count()):
        box = links.nth(index).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, index
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # Each stacked cell draws its label in its left padding: a label that may not wrap runs
    # over the value beside it ("En attente de confirmation" over "56").
    unwrappable = page.evaluate(
        """() => [...document.querySelectorAll('.table.responsive td[data-label]')]
            .filter(td => td.dataset.label)
            .filter(td => getComputedStyle(td, '::before').whiteSpace === 'nowrap').length"""
    )
    assert unwrappable == 0


@pytest.mark.parametrize("width", [1280, 1366])
def test_on_a_laptop_the_french_menu_shows_every_section_whole(
    page, live_server, owner, log_in, width
):
    page.set_viewport_size({"width": width, "height": 800})
    log_in(page, owner)
    # The audit log's entry is the last and, on its own page, the widest (bold).
    page.goto(f"{live_server.url}/audit/")
    menu = page.locator(".mainnav")
    assert menu.evaluate("el => el.scrollWidth <= el.clientWidth")
    right = menu.evaluate("el => el.getBoundingClientRect().right")
    for index in range(page.locator(".mainnav a").count()):
        box = page.locator(".mainnav a").nth(index).bounding_box()
        assert box is not None and box["x"] + box["width"] <= right + 0.5, index
