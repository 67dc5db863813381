"""The dashboards' rollups in the background: hourly, nightly, after each import; and the
campaigns' people per day, read from the hourly rollup."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from fidele.analytics import dashboard_tasks
from fidele.analytics.daily import daily_fill, daily_total
from fidele.analytics.models import DailyCount, MonthlyCustomers
from fidele.analytics.rollup import rollup_fill
from fidele.core.events import import_finished
from fidele.core.tasks import recurring_jobs
from fidele.tracking.services import event_record
from tests.factories import make_campaign, make_contact, make_order, make_outbox

pytestmark = pytest.mark.django_db


def test_an_import_queues_one_refresh_and_a_second_import_does_not_queue_another():
    import_finished.send(sender=None, kind="contacts", job_id=1)
    import_finished.send(sender=None, kind="orders", job_id=2)
    waiting = DBTaskResult.objects.filter(
        task_path=dashboard_tasks.dashboard_after_import.module_path
    )
    assert waiting.count() == 1


def test_the_refresh_after_an_import_fills_the_days_and_the_months():
    make_order(make_contact(), "30.00", days_ago=3)
    dashboard_tasks.dashboard_after_import.call()
    assert DailyCount.objects.filter(metric="orders").exists()
    assert MonthlyCustomers.objects.exists()


def test_the_hourly_and_nightly_jobs_are_registered_and_queue_their_next_run():
    jobs = recurring_jobs()
    assert {"analytics-daily-rollup", "analytics-dashboard-nightly"} <= set(jobs)
    dashboard_tasks.daily_rollup.call()
    dashboard_tasks.dashboard_nightly.call()
    for task in (dashboard_tasks.daily_rollup, dashboard_tasks.dashboard_nightly):
        assert DBTaskResult.objects.filter(task_path=task.module_path).count() == 1


def test_people_who_opened_and_clicked_each_campaign_are_counted_per_day_from_the_hourly_rollup():
    now = timezone.now()
    campaign = make_campaign(lists=["Lettre"])
    anne, bob = (
        make_outbox(contact=make_contact(f"{n}@x.fr", lists=["Lettre"]), campaign=campaign)
        for n in ("anne", "bob")
    )
    two_hours_ago = now - dt.timedelta(hours=2)
    event_record(type="open", outbox=anne, at=two_hours_ago)
    event_record(type="open", outbox=anne, at=two_hours_ago)  # once per person
    event_record(type="open", outbox=bob, at=two_hours_ago)
    event_record(type="click", outbox=bob, at=two_hours_ago)
    event_record(type="open", outbox=bob, at=two_hours_ago, reason="apple_privacy")  # a machine
    rollup_fill(now=now)
    daily_fill(now=now)
    day = two_hours_ago.astimezone(timezone.get_current_timezone()).date()
    key = str(campaign.pk)
    opens = daily_total(metric="opens", dimension="campaign", key=key, start=day, end=day)
    clicks = daily_total(metric="clicks", dimension="campaign", key=key, start=day, end=day)
    assert (opens[0], clicks[0]) == (2, 1)
