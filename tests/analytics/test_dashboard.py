"""The overview and the base dynamics pages (issue 12, items 4 and 5): figures against the
period before, filters, the charts' data beside their tables, French and English."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from fidele.analytics import dashboard
from fidele.analytics.dashboard import AtRisk, Period, at_risk_provider_register, overview_figures
from fidele.analytics.dynamics import dashboard_data_refresh
from fidele.analytics.models import AcquisitionCost
from fidele.commerce.models import Order
from fidele.segments.models import ContactRfm
from tests.factories import make_contact, make_order, make_order_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    anne, bob = make_contact("anne@x.fr"), make_contact("bob@x.fr")
    make_order(anne, "100.00", days_ago=3)
    make_order(bob, "50.00", days_ago=2)
    make_order(anne, "40.00", days_ago=40)  # the period before the last 30 days
    make_order(bob, "-20.00", days_ago=1)  # a refund
    make_order(bob, "30.00", days_ago=-20)  # dated in the future
    line_order = make_order(anne, "36.00", days_ago=1)
    make_order_line(line_order, qty=2, price="18.00")
    line_order.lines.update(category="Vins")
    ContactRfm.objects.create(
        contact=bob,
        recency_days=2,
        frequency=2,
        monetary=50,
        r_score=1,
        f_score=5,
        m_score=5,
        segment="at_risk",
        computed_at=timezone.now(),
    )
    dashboard_data_refresh()
    return anne, bob


def figures_of(response):
    return {f.key: f for f in response.context["figures"]}


def test_the_overview_compares_each_figure_with_the_period_before(shop, viewer_client):
    response = viewer_client.get(reverse("web:home"))
    figures = figures_of(response)
    assert figures["revenue"].value == Decimal("186.00")
    assert figures["revenue"].previous == Decimal("40.00")
    assert figures["revenue"].change == pytest.approx(3.65)
    assert figures["revenue"].tone == "good"
    assert figures["orders"].value == 3
    assert figures["new_customers"].value == 1  # bob; anne's first order was 40 days ago
    assert figures["mailable"].value == 2
    assert figures["at_risk"].value == 1 and figures["at_risk"].tone in ("neutral", "bad")


def test_the_overview_says_what_it_left_out(shop, viewer_client):
    page = viewer_client.get(reverse("web:home")).content.decode()
    notes = viewer_client.get(reverse("web:home")).context["notes"]
    assert notes["refunds"] == 1 and notes["refunded"] == Decimal("20.00")
    assert notes["future_orders"] == 1
    assert "dans le futur" in page


def test_the_charts_data_and_their_tables_are_on_the_page(shop, viewer_client):
    response = viewer_client.get(reverse("web:home"))
    page = response.content.decode()
    assert 'src="/static/ui/vendor/echarts/echarts.min.js"' in page
    assert 'id="chart-revenue-data" type="application/json"' in page
    start = page.index('id="chart-revenue-data" type="application/json">') + len(
        'id="chart-revenue-data" type="application/json">'
    )
    data = json.loads(page[start : page.index("</script>", start)])
    assert len(data["labels"]) == 30
    assert sum(data["series"][0]["data"]) == pytest.approx(186.0)
    assert page.count('<details class="chart-table">') == 2
    assert "<script>" not in page  # no inline script: the CSP allows none


def test_the_overview_in_english(shop, viewer_client):
    viewer_client.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = viewer_client.get(reverse("web:home")).content.decode()
    assert "Customers at risk" in page and "Revenue" in page
    assert "The figures of this chart as a table" in page


def test_the_overview_in_french(shop, viewer_client):
    page = viewer_client.get(reverse("web:home")).content.decode()
    assert "Clients à risque" in page
    assert (
        "Chiffre d’affaires" in page
        or "Chiffre d'affaires" in page
        or "Chiffre d&#x27;affaires" in page
    )
    assert "Les chiffres de ce graphique en tableau" in page


def test_a_period_can_be_chosen_and_the_previous_one_is_as_long(shop, viewer_client):
    today = timezone.localdate()
    start = today - dt.timedelta(days=59)
    response = viewer_client.get(
        reverse("web:home"), {"start": start.isoformat(), "end": today.isoformat()}
    )
    assert response.context["period"] == Period(first=start, last=today)
    assert response.context["previous"].days == 60
    assert figures_of(response)["revenue"].value == Decimal("226.00")


def test_a_wrong_period_shows_the_last_30_days_and_says_why(shop, viewer_client):
    response = viewer_client.get(reverse("web:home"), {"start": "2026-05-01", "end": "2026-01-01"})
    assert response.status_code == 200
    assert response.context["period"].days == 30
    assert 'role="alert"' in response.content.decode()


def test_the_rfm_filter_keeps_the_segments_customers(shop, viewer_client):
    response = viewer_client.get(reverse("web:home"), {"rfm": "at_risk"})
    figures = figures_of(response)
    assert figures["revenue"].value == Decimal("50.00")  # bob's order of this month
    assert "at_risk" not in figures and "segment_customers" in figures


def test_an_unknown_rfm_code_is_refused_and_the_page_still_shows(shop, viewer_client):
    response = viewer_client.get(reverse("web:home"), {"rfm": "x'; drop"})
    assert response.status_code == 200
    assert response.context["rfm"] is None


def test_customers_at_risk_say_not_computed_yet_without_rfm_or_predictions(viewer_client):
    make_order(make_contact(), "10.00", days_ago=2)
    dashboard_data_refresh()
    response = viewer_client.get(reverse("web:home"))
    assert figures_of(response)["at_risk"].value is None
    assert "pas encore calculé" in response.content.decode()


def test_a_churn_provider_registered_from_above_wins_over_rfm(shop, monkeypatch):
    monkeypatch.setattr(dashboard, "_at_risk_providers", [])
    at_risk_provider_register(lambda period: AtRisk(count=7, previous=5, explanation="model"))
    today = timezone.localdate()
    figures = {f.key: f for f in overview_figures(period=Period(first=today, last=today))}
    assert (figures["at_risk"].value, figures["at_risk"].explanation) == (7, "model")


def test_the_page_view_reads_no_raw_table(shop, viewer_client, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        viewer_client.get(reverse("web:home"))
    order_table = Order._meta.db_table
    raw = [q["sql"] for q in queries if f'FROM "{order_table}"' in q["sql"]]
    # The only reads of orders: the future-dated count (an index range) and the latest orders.
    assert all("LIMIT" in sql or "COUNT" in sql for sql in raw)
    assert not any("SUM(" in sql for sql in raw)


def test_the_dynamics_page_writes_its_definitions_and_draws_its_charts(shop, viewer_client):
    page = viewer_client.get(reverse("analytics:dynamics")).content.decode()
    assert "Ce que les mots veulent dire ici" in page
    for chart in (
        "chart-states",
        "chart-new",
        "chart-habits",
        "chart-segments",
        "chart-categories",
        "chart-cohorts",
    ):
        assert f'id="{chart}-data"' in page
    assert (
        "Aucun coût d’acquisition" in page
        or "Aucun coût d'acquisition" in page
        or "Aucun coût d&#x27;acquisition" in page
    )


def test_the_dynamics_page_in_english(shop, viewer_client):
    viewer_client.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = viewer_client.get(reverse("analytics:dynamics"), {"months": "12"}).content.decode()
    assert "What the words mean here" in page and "Retention by cohort" in page


def test_the_dynamics_page_on_an_empty_base(viewer_client):
    response = viewer_client.get(reverse("analytics:dynamics"))
    assert response.status_code == 200


def test_a_marketer_enters_an_acquisition_cost_and_the_ratio_appears(shop, marketer_client):
    month = timezone.localdate().replace(day=1)
    response = marketer_client.post(
        reverse("analytics:acquisition_costs"),
        {"month": month.strftime("%Y-%m"), "channel": "Salon", "amount": "120.00"},
    )
    assert response.status_code == 302
    assert AcquisitionCost.objects.get().amount == Decimal("120.00")
    dashboard_data_refresh()
    page = marketer_client.get(reverse("analytics:dynamics")).content.decode()
    assert (
        "Coût d’acquisition par nouveau client" in page
        or "Coût d&#x27;acquisition par nouveau client" in page
    )


def test_a_viewer_cannot_enter_acquisition_costs(viewer_client):
    response = viewer_client.post(
        reverse("analytics:acquisition_costs"), {"month": "2026-01", "amount": "1"}
    )
    assert response.status_code == 403
    assert not AcquisitionCost.objects.exists()
