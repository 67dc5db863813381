"""The campaign editor in a real browser: the rich-text surface, preview as a contact, axe."""

from __future__ import annotations

import pytest

from fidele.campaigns.models import Campaign
from fidele.contacts.models import Contact
from tests.factories import FakeLinks, make_campaign_via_service, make_list

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_marketer_writes_rich_text_with_a_merge_tag_and_saves_it(
    page,
    live_server,
    marketer,
    log_in,
    axe_violations,
):
    make_list()
    log_in(page, marketer)
    page.goto(f"{live_server.url}/campaigns/new/")
    assert axe_violations(page) == []
    page.fill("#id_name", "Foire aux vins")
    page.fill("#id_from_email", "cave@example.com")
    page.fill("#id_subject", "Bonjour {{ contact.first_name | default('cher client') }}")
    page.select_option("#id_body_format", "richtext")
    assert page.locator("#id_body").is_hidden()
    page.click("#rt-surface")
    page.keyboard.type("Bonjour {{ contact.first_name }}, ")
    page.click("[data-cmd=bold]")
    page.keyboard.type("offre")
    page.check("#id_lists_0")
    page.click("form[data-campaign-form] button[type=submit]")
    page.wait_for_url(lambda url: "/new/" not in url)
    made = Campaign.objects.get()
    assert made.body_format == "richtext"
    assert "Bonjour {{ contact.first_name }}," in made.body
    assert "<b>offre</b>" in made.body


def test_hostile_html_loaded_into_the_rich_text_editor_does_not_run(
    page,
    live_server,
    marketer,
    log_in,
):
    made = make_campaign_via_service(
        html='<p>Hi</p><img src="x" onerror="window.pwned = 1"><script>window.pwned = 2</script>'
    )
    log_in(page, marketer)
    page.goto(f"{live_server.url}/campaigns/{made.pk}/edit/")
    page.select_option("#id_body_format", "richtext")
    page.wait_for_timeout(200)
    assert page.evaluate("window.pwned") is None
    surface = page.inner_html("#rt-surface")
    assert "onerror" not in surface and "<script" not in surface and "Hi" in surface


def test_a_viewer_previews_a_campaign_as_a_contact(
    page,
    live_server,
    viewer,
    log_in,
    axe_violations,
):
    made = make_campaign_via_service(html="<p>Salut {{ contact.first_name }}</p>")
    Contact.objects.create(email="lea.martin@example.com", first_name="Léa", last_name="Martin")
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    log_in(page, viewer)
    page.goto(f"{live_server.url}/campaigns/{made.pk}/")
    page.fill("#preview-q", "Mart")
    page.locator("#preview-contacts button", has_text="Léa").click()
    page.wait_for_selector("text=Bonjour Léa")
    frame = page.frame_locator("iframe.preview-frame")
    assert frame.locator("text=Salut Léa").is_visible()
    assert axe_violations(page) == []
    # No swap or include aimed at an element the page lacks (a viewer has no test form; a
    # campaign without variants has no variant menu).
    assert errors == []


def test_the_default_layout_fits_a_phone_without_zooming(page):
    from fidele.campaigns.rendering.compile import content_compile
    from tests.factories import make_campaign_via_service

    campaign = make_campaign_via_service(
        html="<p>Bonjour {{ contact.first_name }}, voici nos vins de la semaine, choisis pour "
        "vous par notre caviste, avec un texte assez long pour remplir la ligne.</p>"
    )
    html = content_compile(campaign=campaign).render(contact=None, links=FakeLinks()).html
    page.set_viewport_size({"width": 390, "height": 800})
    page.set_content(html)
    # Nothing wider than the phone: no sideways scrolling, no zooming out to read.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    width = page.evaluate("document.querySelector('.main').getBoundingClientRect().width")
    assert 300 <= width <= 390
    page.set_viewport_size({"width": 1280, "height": 800})
    assert page.evaluate("document.querySelector('.main').getBoundingClientRect().width") == 600


@pytest.mark.parametrize(
    "width, address",
    [(1280, "isabelle.delacroix@lesjardinsdepicure.fr"), (390, "marie.dupont@orange.fr")],
)
def test_the_preview_search_box_shows_a_whole_email_address(
    page, live_server, viewer, log_in, width, address
):
    made = make_campaign_via_service()
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, viewer)
    page.goto(f"{live_server.url}/campaigns/{made.pk}/")
    page.fill("#preview-q", address)
    box = page.locator("#preview-q")
    assert box.evaluate("el => el.scrollWidth <= el.clientWidth")
