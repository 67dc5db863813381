"""Orders credited to the campaign a person last clicked (issue 9, item 3)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from fidele.analytics.models import Attribution
from fidele.analytics.reports import campaign_report
from fidele.analytics.rollup import rollup_fill
from fidele.tracking.services import event_record
from tests.factories import make_campaign, make_contact, make_order, make_outbox

pytestmark = pytest.mark.django_db


@pytest.fixture
def anne():
    return make_contact("anne@x.fr", lists=["Newsletter"])


def clicked(contact, campaign, days_ago, *, url="https://cave-de-lea.fr/vins", **fields):
    outbox = make_outbox(contact=contact, campaign=campaign)
    at = timezone.now() - dt.timedelta(days=days_ago)
    return event_record(type="click", outbox=outbox, url=url, at=at, **fields)


def test_an_order_after_a_persons_click_is_the_campaigns_revenue(anne):
    campaign = make_campaign(lists=["Newsletter"])
    clicked(anne, campaign, days_ago=3)
    make_order(anne, total="80.00", days_ago=1)

    rollup_fill()
    report = campaign_report(campaign_id=campaign.pk)

    assert (report["conversions"], report["revenue"]) == (1, 80.0)
    assert report["revenue_per_recipient"] == 80.0
    assert report["links"][0]["revenue"] == 80.0
    assert Attribution.objects.get().rule == "last click, 7 days"


def test_the_last_campaign_clicked_wins(anne):
    spring, summer = make_campaign(lists=["Newsletter"]), make_campaign(lists=["Newsletter"])
    clicked(anne, spring, days_ago=5)
    clicked(anne, summer, days_ago=2)
    make_order(anne, days_ago=1)

    rollup_fill()

    assert Attribution.objects.get().campaign_id == summer.pk


@pytest.mark.parametrize(
    ("click_days_ago", "order_days_ago", "machine"),
    [(10, 1, False), (1, 3, False), (3, 1, True)],
    ids=["click outside the window", "order before the click", "a scanner's click"],
)
def test_no_credit_without_a_persons_click_in_the_window(
    anne, click_days_ago, order_days_ago, machine
):
    campaign = make_campaign(lists=["Newsletter"])
    clicked(anne, campaign, days_ago=click_days_ago, reason="burst" if machine else "")
    make_order(anne, days_ago=order_days_ago)

    rollup_fill()

    assert not Attribution.objects.exists()
    assert campaign_report(campaign_id=campaign.pk)["conversions"] == 0


def test_each_order_is_judged_once_and_a_new_window_leaves_old_credits_alone(anne, settings):
    campaign = make_campaign(lists=["Newsletter"])
    clicked(anne, campaign, days_ago=5)
    make_order(anne, days_ago=1)
    rollup_fill()

    settings.ATTRIBUTION_DAYS = 2
    make_order(anne, days_ago=0, external_id="W-2")
    rollup_fill()
    rollup_fill()

    assert list(Attribution.objects.values_list("rule", flat=True)) == ["last click, 7 days"]


def test_opens_count_when_the_shop_asks_for_it(anne, settings):
    settings.ATTRIBUTION_OPENS = True
    campaign = make_campaign(lists=["Newsletter"])
    outbox = make_outbox(contact=anne, campaign=campaign)
    event_record(type="open", outbox=outbox, at=timezone.now() - dt.timedelta(days=2))
    make_order(anne, days_ago=1)

    rollup_fill()

    assert Attribution.objects.get().rule == "last click-or-open, 7 days"
