"""The predictions' data in and out: days in the shop's time zone, thin data, the refresh's
tasks, and `fidele analytics fit` on the CDNOW sample imported as orders."""

from __future__ import annotations

import datetime as dt
import io
import json
import zoneinfo
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.test import override_settings
from django_tasks_db.models import DBTaskResult

from fidele.analytics import clv_tasks
from fidele.analytics.models import ClvFit, ContactPrediction
from fidele.analytics.predictions import clv_refresh, contact_days_read, histories_summarise
from fidele.core.events import import_finished
from fidele.core.tasks import recurring_jobs
from tests.analytics.cdnow import BGNBD, CALIBRATION_END, GAMMA_GAMMA, sample_import
from tests.analytics.shop import shop_make
from tests.factories import make_contact, make_order

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def _at(day: str, hour: int, minute: int = 0, zone=PARIS) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour, minute), tzinfo=zone)


@pytest.mark.django_db
@override_settings(TIME_ZONE="Europe/Paris")
def test_purchases_on_one_calendar_day_of_the_shop_are_one_transaction():
    contact = make_contact()
    # 08:00 and 23:30 in Paris are one day; 23:30 in UTC is already the next day in Paris.
    make_order(contact, total="10.00", ordered_at=_at("2025-03-10", 8))
    make_order(contact, total="5.50", ordered_at=_at("2025-03-10", 23, 30))
    make_order(contact, total="7.00", ordered_at=_at("2025-03-10", 23, 30, zone=dt.UTC))
    make_order(contact, total="1.00", ordered_at=_at("2025-03-13", 12))  # after `until`
    history = histories_summarise(contact_days_read(until=dt.date(2025, 3, 12)))
    assert list(history.days) == [2]
    assert list(history.first_value) == [15.5]
    assert list(history.total) == [22.5]
    assert dt.date.fromordinal(int(history.last[0])) == dt.date(2025, 3, 11)


@pytest.mark.django_db
def test_thin_data_stores_simple_figures_and_says_why():
    contact = make_contact()
    make_order(contact, total="30.00", days_ago=60)
    make_order(contact, total="20.00", days_ago=50)
    make_order(make_contact(), total="12.00", days_ago=5)
    fit = clv_refresh(trigger=ClvFit.Trigger.MANUAL)
    assert fit.kind == ClvFit.Kind.THIN
    assert set(fit.reasons) == {"few_repeat", "short_history"}
    assert fit.customers == 2 and fit.repeat_customers == 1
    assert fit.bgnbd == {} and fit.gamma_gamma == {}
    prediction = ContactPrediction.objects.get(contact=contact)
    assert prediction.churn_risk is None and prediction.clv is None
    assert prediction.historic_value == 50.0
    assert prediction.usual_gap_days == 10.0
    # Late from twice the usual gap after the last purchase.
    assert prediction.overdue_on == prediction.last_purchase_on + dt.timedelta(days=20)


@pytest.mark.django_db
def test_a_shop_with_enough_history_gets_models_predictions_and_a_holdout_check():
    shop_make(customers=400)
    fit = clv_refresh(trigger=ClvFit.Trigger.MANUAL)
    assert fit.kind == ClvFit.Kind.MODEL, fit.reasons
    assert fit.repeat_customers >= 100
    assert set(fit.bgnbd) >= {"r", "alpha", "a", "b", "log_likelihood"}
    assert fit.holdout["refit"] is True
    assert [g["label"] for g in fit.holdout["groups"]][-1] == "7+"
    assert ContactPrediction.objects.count() == 400
    prediction = ContactPrediction.objects.filter(transactions__gt=2).first()
    assert 0 <= prediction.churn_risk <= 1
    assert prediction.purchases_3m <= prediction.purchases_6m <= prediction.purchases_12m
    assert prediction.clv > 0 and prediction.expected_spend > 0
    assert sum(b["count"] for b in fit.summary["churn"]) == 400


@pytest.mark.django_db
def test_a_refresh_replaces_every_prediction():
    gone = make_contact()
    make_order(gone, days_ago=10)
    clv_refresh(trigger=ClvFit.Trigger.MANUAL)
    gone.orders.all().delete()
    other = make_contact()
    make_order(other, days_ago=3)
    clv_refresh(trigger=ClvFit.Trigger.MANUAL)
    assert list(ContactPrediction.objects.values_list("contact_id", flat=True)) == [other.pk]


@pytest.mark.django_db
def test_repeat_customers_whose_purchases_are_worth_nothing_are_counted_as_left_out():
    shop_make(customers=300)
    free = make_contact()
    make_order(free, total="25.00", days_ago=200)
    make_order(free, total="0.00", days_ago=100)
    fit = clv_refresh(trigger=ClvFit.Trigger.MANUAL)
    assert fit.kind == ClvFit.Kind.MODEL
    assert fit.gamma_gamma["left_out"] == 1
    assert fit.gamma_gamma["customers"] == fit.repeat_customers - 1


@pytest.mark.django_db
def test_an_import_queues_one_refresh_and_the_task_stores_a_fit():
    import_finished.send(sender=None, kind="contacts", job_id=1)
    import_finished.send(sender=None, kind="orders", job_id=2)
    waiting = DBTaskResult.objects.filter(task_path=clv_tasks.clv_after_import.module_path)
    assert waiting.count() == 1
    assert waiting.get().run_after is not None
    make_order(make_contact(), total=Decimal("9.90"), days_ago=4)
    pk = clv_tasks.clv_after_import.call()
    fit = ClvFit.objects.get(pk=pk)
    assert fit.trigger == ClvFit.Trigger.IMPORT and fit.customers == 1


@pytest.mark.django_db
def test_the_nightly_refresh_is_a_recurring_job_that_queues_its_next_night():
    assert "analytics-clv-nightly" in recurring_jobs()
    clv_tasks.clv_nightly.call()
    assert ClvFit.objects.get().trigger == ClvFit.Trigger.NIGHTLY
    assert DBTaskResult.objects.filter(task_path=clv_tasks.clv_nightly.module_path).count() == 1


@pytest.mark.django_db
def test_the_command_fits_the_cdnow_sample_imported_as_orders_to_the_published_values(tmp_path):
    sample_import(tmp_path)
    out = io.StringIO()
    call_command(
        "analytics", "fit", "--until", CALIBRATION_END, "--unit", "week", "--json", stdout=out
    )
    payload = json.loads(out.getvalue())
    assert payload["customers"] == 2357
    assert payload["repeat_customers"] == 946
    for name in ("r", "alpha", "a", "b"):
        assert payload["bgnbd"][name] == pytest.approx(BGNBD[name], rel=0.01), name
    assert payload["bgnbd"]["log_likelihood"] == pytest.approx(BGNBD["log_likelihood"], abs=0.1)
    for name in ("p", "q", "v"):
        assert payload["gamma_gamma"][name] == pytest.approx(GAMMA_GAMMA[name], rel=0.01), name
    assert payload["gamma_gamma"]["log_likelihood"] == pytest.approx(
        GAMMA_GAMMA["log_likelihood"], abs=0.1
    )
    assert isinstance(payload["seconds"], float)
    # The orders after the calibration end are the holdout: 39 weeks, as in the paper.
    assert payload["holdout"]["start"] == "1997-10-01"
    assert payload["holdout"]["end"] == "1998-06-30"
    assert abs(payload["holdout"]["error_total"]) < 0.2
    assert ContactPrediction.objects.count() == 2357


@pytest.mark.django_db
def test_the_command_says_in_words_when_the_data_is_too_thin():
    make_order(make_contact(), days_ago=2)
    out = io.StringIO()
    call_command("analytics", "fit", stdout=out)
    assert "No model fitted: fewer than 100 customers bought more than once" in out.getvalue()
    out = io.StringIO()
    call_command("analytics", "fit", "--json", stdout=out)
    payload = json.loads(out.getvalue())
    assert payload["kind"] == "thin" and payload["bgnbd"] == {} and payload["customers"] == 1
