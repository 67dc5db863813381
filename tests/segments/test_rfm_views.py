"""The Customers pages (RFM grid, personas, by product and profile) in French and English,
their permissions, the contacts list's ?rfm= and ?persona= filters, the refresh triggers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django_tasks_db.models import DBTaskResult

from fidele.commerce.models import OrderLine
from fidele.core.events import import_finished
from fidele.core.tasks import recurring_jobs
from fidele.segments import tasks
from fidele.segments.insight_selectors import (
    contacts_in_rfm_segment,
    persona_rule,
)
from fidele.segments.models import ContactPersona, ContactRfm, Persona, Segment
from fidele.segments.personas import personas_refresh
from fidele.segments.profile import category_profile_table
from fidele.segments.rfm import rfm_refresh
from fidele.segments.rules import segment_contacts
from tests.factories import make_contact, make_order
from tests.segments.conftest import NOW

pytestmark = pytest.mark.django_db


def _fr(client, url):
    return client.get(url, HTTP_ACCEPT_LANGUAGE="fr")


def _en(client, url):
    client.cookies["django_language"] = "en"
    return client.get(url, HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def scored(planted):
    rfm_refresh()
    personas_refresh()
    return planted


def test_the_rfm_page_shows_the_grid_with_a_link_per_segment_in_french(viewer_client, scored):
    response = _fr(viewer_client, "/customers/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "La grille RFM" in page
    assert 'href="/contacts/?rfm=champions"' in page
    assert "150" in page  # customers scored
    # A viewer may not write a campaign.
    assert "/segments/write-to/" not in page


def test_the_rfm_page_in_english_offers_a_campaign_to_a_marketer(marketer_client, scored):
    page = _en(marketer_client, "/customers/").content.decode()
    assert "The RFM grid" in page and "Champions" in page
    assert 'action="/segments/write-to/"' in page


def test_the_rfm_page_says_what_to_do_before_any_order(viewer_client):
    page = _fr(viewer_client, "/customers/").content.decode()
    assert "Aucun client n'a encore de score RFM" in page


def test_the_personas_page_describes_each_persona(viewer_client, scored):
    page = _fr(viewer_client, "/customers/personas/").content.decode()
    assert page.count('class="card persona"') == 3
    persona = Persona.objects.order_by("number").first()
    assert f'href="/contacts/?persona={persona.pk}"' in page
    assert "Médianes" in page
    page = _en(viewer_client, "/customers/personas/").content.decode()
    assert "Medians" in page and "How the personas are found" in page


@pytest.mark.parametrize("by", ["rfm", "persona", "city", "age", "nonsense"])
def test_the_product_and_profile_page_shows_each_profile(viewer_client, scored, by):
    response = _fr(viewer_client, f"/customers/products/?by={by}&months=0")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="category-profile"' in page
    assert "Coffrets" in page and "Vins" in page


def test_the_refresh_is_for_marketers_and_queues_one_task(client, viewer, marketer):
    client.force_login(viewer)
    assert client.post("/customers/refresh/").status_code == 403
    client.force_login(marketer)
    response = client.post("/customers/refresh/", {"next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/customers/"
    client.post("/customers/refresh/")
    waiting = DBTaskResult.objects.filter(task_path=tasks.insights_refresh.module_path)
    assert waiting.count() == 1


# --- the contacts list's filters ---------------------------------------------------------------


def test_the_contacts_list_shows_exactly_an_rfm_segments_contacts(viewer_client, scored):
    code = ContactRfm.objects.values_list("segment", flat=True).first()
    expected = set(ContactRfm.objects.filter(segment=code).values_list("contact_id", flat=True))
    response = _fr(viewer_client, f"/contacts/?rfm={code}")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Segment RFM" in page
    from fidele.contacts.selectors import contacts_filtered

    found = set(contacts_filtered(params={"rfm": code}).values_list("pk", flat=True))
    assert found == expected


def test_an_unknown_rfm_code_leaves_no_contact():
    from fidele.contacts.models import Contact

    make_contact()
    assert not contacts_in_rfm_segment(Contact.objects.all(), "nobody").exists()


def test_a_personas_contacts_are_its_members(scored):

    persona = Persona.objects.first()
    members = set(
        ContactPersona.objects.filter(persona=persona).values_list("contact_id", flat=True)
    )
    rule = persona_rule(persona)
    found = set(segment_contacts(rule).values_list("pk", flat=True))
    assert rule == {"persona": persona.pk}
    assert found == members


def test_the_contacts_list_filters_by_persona(viewer_client, scored):
    persona = Persona.objects.first()
    page = _en(viewer_client, f"/contacts/?persona={persona.pk}").content.decode()
    assert f"Persona {persona.number}:" in page


# --- by product and profile --------------------------------------------------------------------


def test_revenue_and_customers_per_category_and_segment_add_up():
    a, b = make_contact(birth_date=dt.date(1990, 1, 1)), make_contact(city="Sarlat")
    for contact, lines in ((a, [("Vins", "10"), ("Coffrets", "30")]), (b, [("Vins", "5")])):
        order = make_order(contact, total="0", ordered_at=NOW)
        for category, amount in lines:
            OrderLine.objects.create(
                order=order, category=category, quantity=1,
                unit_price=Decimal(amount), line_total=Decimal(amount),
            )  # fmt: skip
    rfm_refresh()
    table = category_profile_table(profile="city", months=0)
    assert table.categories == ["Coffrets", "Vins"]
    rows = {row.label: row for row in table.rows}
    assert rows["Bergerac"].revenue == Decimal("40.00")
    assert [c.revenue for c in rows["Bergerac"].cells] == [Decimal("30.00"), Decimal("10.00")]
    assert rows["Sarlat"].customers == 1
    assert table.customers == 2 and table.revenue == Decimal("45.00")
    ages = category_profile_table(profile="age", months=0)
    assert {row.key for row in ages.rows} == {"35", "__none__"}
    segments = category_profile_table(profile="rfm", months=0)
    assert sum(row.customers for row in segments.rows) == 2


# --- when it runs ------------------------------------------------------------------------------


def test_an_import_queues_one_refresh():
    import_finished.send(sender=None, kind="orders", job_id=1)
    import_finished.send(sender=None, kind="orders", job_id=2)
    waiting = DBTaskResult.objects.filter(task_path=tasks.insights_refresh.module_path)
    assert waiting.count() == 1


def test_the_nightly_refresh_is_a_recurring_job_that_queues_its_next_night(planted):
    assert "segments-insights-nightly" in recurring_jobs()
    result = tasks.insights_nightly.call()
    assert result["customers"] == 150 and result["personas"] == 3
    assert DBTaskResult.objects.filter(task_path=tasks.insights_nightly.module_path).count() == 1


# --- "write to them" --------------------------------------------------------------------------


def test_writing_to_an_rfm_segment_saves_it_once_and_opens_a_campaign_aimed_at_it(
    marketer_client, scored
):
    first = marketer_client.post("/segments/write-to/", {"rfm": "champions"})
    again = marketer_client.post("/segments/write-to/", {"rfm": "champions"})

    segment = Segment.objects.get()
    assert segment.rules == {"rfm": "champions"}
    assert first.url == again.url == f"/campaigns/new/?segment={segment.pk}"
    form = marketer_client.get(first.url).context["form"]
    assert list(form.initial["segments"]) == [segment]


def test_writing_to_a_persona_saves_the_persona_as_a_segment_of_its_members(
    marketer_client, scored
):
    persona = Persona.objects.first()
    marketer_client.post("/segments/write-to/", {"persona": str(persona.pk)})

    segment = Segment.objects.get()
    members = set(persona.members.values_list("contact_id", flat=True))
    assert set(segment_contacts(segment.rules).values_list("pk", flat=True)) == members


def test_writing_to_an_unknown_group_saves_nothing(marketer_client, scored):
    assert marketer_client.post("/segments/write-to/", {"rfm": "nobody"}).status_code == 302
    assert marketer_client.post("/segments/write-to/", {"persona": "999999"}).status_code == 302
    assert not Segment.objects.exists()


def test_a_viewer_cannot_write_to_a_group(viewer_client, scored):
    assert viewer_client.post("/segments/write-to/", {"rfm": "champions"}).status_code == 403
    assert not Segment.objects.exists()
