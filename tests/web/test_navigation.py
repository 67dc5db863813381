"""The top bar holds a few sections; the current section's pages are in a bar below it."""

from __future__ import annotations

import pytest
from django.utils import translation

from fidele.web.navigation import navigation_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def _labels(links) -> list[str]:
    return [str(link.label) for link in links]


def test_a_viewer_sees_no_import_and_no_administration():
    sections = navigation_for("/orders/", can_edit=False, is_owner=False)
    assert "Administration" not in _labels(sections)
    contacts = next(s for s in sections if s.current)
    assert _labels(contacts.pages) == ["Contacts", "Orders", "Quality"]
    assert [link.current for link in contacts.pages] == [False, True, False]


def test_an_owner_sees_every_section_and_the_exports_belong_to_the_contacts():
    sections = navigation_for("/exports/", can_edit=True, is_owner=True)
    assert _labels(sections)[-1] == "Administration"
    current = [section for section in sections if section.current]
    assert _labels(current) == ["Contacts"]
    assert current[0].pages[0].current


def test_the_overview_is_current_on_the_home_page_only():
    home = navigation_for("/", can_edit=True, is_owner=True)
    assert [str(s.label) for s in home if s.current] == ["Overview"]
    elsewhere = navigation_for("/campaigns/3/", can_edit=True, is_owner=True)
    assert [str(s.label) for s in elsewhere if s.current] == ["Campaigns"]


def test_the_page_shows_the_sections_pages_below_the_top_bar(owner_client):
    page = owner_client.get("/quality/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'class="subnav"' in page
    assert 'href="/orders/"' in page and 'href="/imports/"' in page
    # A section of one page has no second bar.
    assert 'class="subnav"' not in owner_client.get("/campaigns/").content.decode()
