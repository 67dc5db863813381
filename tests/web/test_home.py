import datetime as dt
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import translation

from fidele.analytics.dynamics import dashboard_data_refresh
from fidele.ui import formatting
from tests.factories import make_contact, make_list, make_order, make_subscription

pytestmark = pytest.mark.django_db


def test_the_overview_shows_each_figure_with_its_explanation(viewer_client):
    a = make_contact(first_name="Hélène", last_name="Rousseau")
    make_contact(email=None)
    make_subscription(a, make_list("Newsletter"))
    make_order(a, total="1234.50", days_ago=5)
    make_order(a, total="100.00", days_ago=500)
    dashboard_data_refresh()
    response = viewer_client.get(reverse("web:home"))
    assert response.status_code == 200
    figures = {f.key: f for f in response.context["figures"]}
    assert figures["mailable"].value == 1
    assert figures["orders"].value == 1
    page = response.content.decode()
    assert "1\u202f234,50\xa0€" in page or "1\xa0234,50\xa0€" in page
    assert "Hélène Rousseau" in page
    # every figure carries its one-line explanation
    assert page.count('class="stat-help"') >= 8


def test_the_overview_works_on_an_empty_database(viewer_client):
    response = viewer_client.get(reverse("web:home"))
    assert response.status_code == 200
    assert "—" in response.content.decode()  # no average basket without orders


def test_the_overview_runs_a_fixed_number_of_queries(viewer_client, django_assert_max_num_queries):
    for i in range(20):
        c = make_contact()
        make_order(c, days_ago=i + 1)
    dashboard_data_refresh()
    # Rollups only: a fixed number of small reads, not one per row.
    with django_assert_max_num_queries(40):
        viewer_client.get(reverse("web:home"))


def test_the_interface_is_french_by_default(viewer_client):
    page = viewer_client.get(reverse("web:home")).content.decode()
    assert '<html lang="fr">' in page
    assert "Vue d'ensemble" in page or "Vue d&#x27;ensemble" in page


def test_the_language_switch_turns_the_interface_english(viewer_client):
    response = viewer_client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert response.status_code == 302
    page = viewer_client.get(reverse("web:home")).content.decode()
    assert '<html lang="en">' in page
    assert "Overview" in page
    back = viewer_client.post(reverse("set_language"), {"language": "fr", "next": "/"})
    assert back.status_code == 302
    assert "Vue d" in viewer_client.get(reverse("web:home")).content.decode()


def test_the_topbar_offers_the_other_language(viewer_client):
    page = viewer_client.get(reverse("web:home")).content.decode()
    assert 'name="language" value="en"' in page


def test_anonymous_pages_still_offer_the_language_switch(client):
    from django.contrib.auth.models import AnonymousUser
    from django.template.loader import render_to_string
    from django.test import RequestFactory

    request = RequestFactory().get("/login/")
    request.user = AnonymousUser()
    html = render_to_string("web/base.html", request=request)
    assert 'name="language"' in html
    assert 'class="topbar"' not in html


def test_money_is_formatted_the_french_way():
    with translation.override("fr"):
        assert formatting.format_money(1234.5) in ("1\u202f234,50\xa0€", "1\xa0234,50\xa0€")
    with translation.override("en"):
        assert formatting.format_money(1234.5) == "€1,234.50"


def test_phones_are_shown_in_the_french_national_format():
    assert formatting.format_phone("+33612345678") == "06 12 34 56 78"
    assert formatting.format_phone("+32470123456").startswith("+32 ")


def test_dates_are_shown_day_first_in_french(viewer_client):
    c = make_contact(birth_date=dt.date(1975, 12, 31))
    page = viewer_client.get(reverse("web:contact_detail", args=[c.pk])).content.decode()
    assert "31/12/1975" in page


def test_the_stylesheet_is_served_by_the_app(viewer_client):
    from django.contrib.staticfiles import finders

    path = finders.find("web/app.css")
    assert path
    css = Path(path).read_text(encoding="utf-8")
    for selector in (".progress", ".progress-bar", ".login-card", ":focus-visible", "@media"):
        assert selector in css
    assert "http://" not in css and "https://" not in css


def test_a_refused_action_explains_itself_in_french(viewer_client):
    response = viewer_client.get(reverse("contacts:create"))
    assert response.status_code == 403
    assert "Votre rôle" in response.content.decode()


def test_a_missing_page_keeps_the_layout(viewer_client):
    response = viewer_client.get("/contacts/999999/")
    assert response.status_code == 404
    assert 'class="topbar"' in response.content.decode()
