"""The Customer value page (French and English), the contact page's line, the contacts list's
`?predicted=` filter and the condition handed to segments."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation
from django_tasks_db.models import DBTaskResult

from fidele.analytics import clv_tasks
from fidele.analytics.clv_selectors import PredictedRuleError, predicted_condition
from fidele.analytics.models import ClvFit, ContactPrediction
from fidele.analytics.predictions import clv_refresh
from fidele.contacts.models import Contact
from tests.analytics.shop import shop_make
from tests.factories import make_contact, make_order


@pytest.fixture
def modelled(db):
    shop_make(customers=400)
    return clv_refresh(trigger=ClvFit.Trigger.MANUAL)


def _page(client, language):
    client.cookies["django_language"] = language
    response = client.get(reverse("analytics:customer_value"))
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_the_page_shows_the_fit_its_check_and_the_customers_at_risk_in_english(
    viewer_client, modelled
):
    html = _page(viewer_client, "en")
    assert "Can these figures be trusted?" in html
    assert 'id="holdout"' in html
    assert "The churn risk is the probability that a customer has stopped buying" in html
    assert "Valuable customers at risk" in html
    assert "Numéro" in html  # a customer's name in the tables
    assert "?predicted=at_risk" in html


@pytest.mark.django_db
def test_the_page_speaks_french(viewer_client, modelled):
    html = _page(viewer_client, "fr")
    assert "Valeur client" in html
    assert "Peut-on se fier à ces chiffres ?" in html
    assert "Le risque de départ est la probabilité" in html
    assert "Bons clients en passe de partir" in html


@pytest.mark.django_db
def test_with_thin_data_the_page_says_so_and_shows_simple_figures(viewer_client):
    contact = make_contact(last_name="Lenoir")
    make_order(contact, total="30.00", days_ago=80)
    make_order(contact, total="20.00", days_ago=70)
    clv_refresh(trigger=ClvFit.Trigger.MANUAL)
    html = _page(viewer_client, "en")
    assert "Too little data for reliable predictions yet." in html
    assert "Only 1 customer has bought more than once" in html
    assert "Late against their own rhythm" in html
    assert "Lenoir" in html  # 70 days since, usually every 10: late
    assert "Can these figures be trusted?" not in html
    html = _page(viewer_client, "fr")
    assert "Encore trop peu de données pour des prévisions fiables." in html


@pytest.mark.django_db
def test_the_page_before_any_computation_says_what_it_will_show(viewer_client):
    assert "Nothing computed yet" in _page(viewer_client, "en")


@pytest.mark.django_db
def test_a_marketer_asks_for_a_new_computation_and_a_viewer_cannot(client, marketer, viewer):
    url = reverse("analytics:customer_value_refresh")
    client.force_login(viewer)
    assert client.post(url).status_code == 403
    client.force_login(marketer)
    assert client.post(url).status_code == 302
    assert DBTaskResult.objects.filter(task_path=clv_tasks.clv_refresh_now.module_path).count() == 1


@pytest.mark.django_db
def test_the_page_is_in_the_customers_section_of_the_navigation(viewer_client):
    from fidele.web.navigation import navigation_for

    with translation.override("en"):
        sections = navigation_for("/analytics/customer-value/", can_edit=False, is_owner=False)
        current = [s for s in sections if s.current]
        assert [str(s.label) for s in current] == ["Customers"]
        pages = {str(p.label): p.current for p in current[0].pages}
        assert pages["Customer value"] is True
    viewer_client.cookies["django_language"] = "en"
    html = viewer_client.get(reverse("analytics:customer_value")).content.decode()
    assert 'href="/analytics/customer-value/"' in html


@pytest.mark.django_db
def test_the_contact_page_shows_the_customers_line(viewer_client, modelled):
    prediction = ContactPrediction.objects.filter(transactions__gt=3).first()
    viewer_client.cookies["django_language"] = "en"
    url = reverse("web:contact_detail", args=[prediction.contact_id])
    html = viewer_client.get(url).content.decode()
    assert 'id="customer-value"' in html
    assert "purchases expected in the next 12 months" in html
    assert "(churn risk" in html
    viewer_client.cookies["django_language"] = "fr"
    html = viewer_client.get(url).content.decode()
    assert "achats attendus dans les 12 prochains mois" in html


@pytest.mark.django_db
def test_a_one_time_buyers_line_does_not_call_them_safe(viewer_client, modelled):
    # BG/NBD gives a customer without repeat purchase a churn risk of 0 by construction.
    prediction = ContactPrediction.objects.filter(transactions=1).first()
    assert prediction.churn_risk == 0
    viewer_client.cookies["django_language"] = "en"
    url = reverse("web:contact_detail", args=[prediction.contact_id])
    html = viewer_client.get(url).content.decode()
    assert "Bought once" in html and "whether they will come back cannot be told yet" in html


@pytest.mark.django_db
def test_a_contact_without_order_has_no_customer_value_card(viewer_client, modelled):
    contact = make_contact()
    html = viewer_client.get(reverse("web:contact_detail", args=[contact.pk])).content.decode()
    assert 'id="customer-value"' not in html


@pytest.mark.django_db
def test_the_contact_page_line_with_thin_data_tells_the_customers_own_rhythm(viewer_client):
    contact = make_contact()
    make_order(contact, total="30.00", days_ago=80)
    make_order(contact, total="20.00", days_ago=70)
    clv_refresh(trigger=ClvFit.Trigger.MANUAL)
    viewer_client.cookies["django_language"] = "en"
    html = viewer_client.get(reverse("web:contact_detail", args=[contact.pk])).content.decode()
    assert "usually one every 10 days, the last 70 days ago." in html
    assert "Late against their own rhythm" in html


@pytest.mark.django_db
def test_the_contacts_list_filters_on_the_predictions(viewer_client, modelled):
    at_risk = ContactPrediction.objects.filter(churn_risk__gte=0.5).count()
    assert 0 < at_risk < 400
    viewer_client.cookies["django_language"] = "en"
    response = viewer_client.get(reverse("contacts:list") + "?predicted=at_risk")
    assert response.status_code == 200
    assert "Customers more likely gone than not" in response.content.decode()
    response = viewer_client.get(reverse("contacts:list") + "?predicted=clv:gte:100")
    assert "Lifetime value ≥" in response.content.decode()


@pytest.mark.django_db
def test_the_predicted_condition_selects_contacts_by_a_metric(modelled):
    make_contact()  # no order: never matches
    high = Contact.objects.filter(predicted_condition(metric="churn_risk", op="gte", value=0.5))
    low = Contact.objects.filter(predicted_condition(metric="churn_risk", op="lt", value=0.5))
    assert high.count() == ContactPrediction.objects.filter(churn_risk__gte=0.5).count()
    assert high.count() + low.count() == 400
    assert not high.filter(pk__in=low.values("pk")).exists()
    ne = Contact.objects.filter(predicted_condition(metric="clv", op="ne", value=-1))
    assert ne.count() == 400
    with pytest.raises(PredictedRuleError, match="unknown metric 'loyalty'"):
        predicted_condition(metric="loyalty", op="gte", value=1)
    with pytest.raises(PredictedRuleError, match="unknown operator"):
        predicted_condition(metric="clv", op="between", value=1)
    with pytest.raises(PredictedRuleError, match="not a number"):
        predicted_condition(metric="clv", op="gte", value="12")


@pytest.mark.django_db
def test_a_likely_lost_customers_line_says_how_long_they_have_been_silent(viewer_client, modelled):
    prediction = ContactPrediction.objects.filter(churn_risk__gte=0.5, transactions__gt=2).first()
    viewer_client.cookies["django_language"] = "en"
    url = reverse("web:contact_detail", args=[prediction.contact_id])
    html = viewer_client.get(url).content.decode()
    assert "Probably no longer buying (churn risk" in html
    assert "days where they used to buy every" in html


@pytest.mark.parametrize("language", ["fr", "en"])
def test_no_text_of_the_other_language_on_the_page_and_the_contact_card(
    owner_client, modelled, language
):
    from tests.web.test_translations import wrong_language

    owner_client.cookies["django_language"] = language
    contact_id = ContactPrediction.objects.filter(transactions__gt=3).first().contact_id
    for url in (reverse("analytics:customer_value"), f"/contacts/{contact_id}/"):
        html = owner_client.get(url).content.decode()
        assert wrong_language(html, language) == [], url


@pytest.mark.django_db
def test_the_overviews_customers_at_risk_come_from_the_churn_model_once_fitted(modelled):
    import datetime as dt

    from django.utils import timezone

    from fidele.analytics.dashboard import Period, at_risk

    today = timezone.localdate()
    period = Period(first=today - dt.timedelta(days=29), last=today)
    risk = at_risk(period)
    assert risk.count == modelled.summary["at_risk"] > 0
    assert risk.previous is None  # no fit a month ago
    assert risk.url == "/contacts/?predicted=at_risk"


@pytest.mark.django_db
def test_with_thin_data_the_overview_keeps_counting_rfm(db):
    import datetime as dt

    from django.utils import timezone

    from fidele.analytics.clv_selectors import overview_at_risk
    from fidele.analytics.dashboard import Period

    make_order(make_contact(), days_ago=3)
    clv_refresh(trigger=ClvFit.Trigger.MANUAL)
    today = timezone.localdate()
    assert overview_at_risk(Period(first=today - dt.timedelta(days=6), last=today)) is None


@pytest.mark.django_db
def test_a_segment_rule_reads_the_predictions_and_names_the_path_of_a_bad_one(modelled):
    from django.utils import translation

    from fidele.segments.errors import RuleError
    from fidele.segments.rules import segment_contacts

    rule = {
        "all": [
            {"predicted": {"metric": "churn_risk", "op": "gte", "value": 0.5}},
            {"predicted": {"metric": "clv", "op": "gt", "value": 0}},
        ]
    }
    expected = ContactPrediction.objects.filter(churn_risk__gte=0.5, clv__gt=0)
    assert set(segment_contacts(rule).values_list("pk", flat=True)) == set(
        expected.values_list("contact_id", flat=True)
    )
    with translation.override("en"):
        with pytest.raises(RuleError, match=r"\$\.any\[1\]\.predicted\.metric: unknown"):
            segment_contacts({"any": [{"rfm": "champions"}, {"predicted": {"metric": "loyalty"}}]})
        with pytest.raises(RuleError, match=r"\$\.predicted\.value: expected a number"):
            segment_contacts({"predicted": {"metric": "clv", "op": "gt", "value": "12"}})
        with pytest.raises(RuleError, match=r"\$\.predicted: .op. is missing"):
            segment_contacts({"predicted": {"metric": "clv", "value": 1}})
