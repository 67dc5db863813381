"""Contact.last_engaged_at: the last time the person, not a machine, opened or clicked; moved
forward over settled hours by the rollup, never on the open and click path."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from fidele.analytics.models import FillState
from fidele.analytics.rollup import ENGAGEMENT, raw_events_retention, rollup_fill
from fidele.tracking.models import EmailEvent
from fidele.tracking.services import contacts_engagement_refresh, event_record
from tests.factories import make_contact


@pytest.mark.django_db
def test_only_a_persons_own_opens_and_clicks_move_it_forward_never_back():
    contact, other = make_contact(), make_contact()
    ten_days_ago = timezone.now() - dt.timedelta(days=10)
    event_record(type="open", contact_id=contact.pk, at=ten_days_ago)
    event_record(type="click", contact_id=contact.pk, reason=EmailEvent.Reason.BURST)
    event_record(type="delivered", contact_id=other.pk)
    event_record(type="open", contact_id=other.pk, reason=EmailEvent.Reason.APPLE_PRIVACY)
    assert contacts_engagement_refresh() == 1
    contact.refresh_from_db()
    other.refresh_from_db()
    assert contact.last_engaged_at == ten_days_ago and other.last_engaged_at is None
    # An older window never moves it back.
    event_record(type="click", contact_id=contact.pk, at=ten_days_ago - dt.timedelta(days=30))
    assert contacts_engagement_refresh(until=ten_days_ago) == 0
    contact.refresh_from_db()
    assert contact.last_engaged_at == ten_days_ago


@pytest.mark.django_db
def test_the_open_path_writes_no_engagement_the_rollup_does(django_assert_num_queries):
    contact = make_contact()
    two_hours_ago = timezone.now() - dt.timedelta(hours=2)
    event_record(type="open", contact_id=contact.pk, at=two_hours_ago)
    contact.refresh_from_db()
    assert contact.last_engaged_at is None
    rollup_fill()
    contact.refresh_from_db()
    assert contact.last_engaged_at == two_hours_ago
    assert FillState.objects.get(stat=ENGAGEMENT).filled_until <= timezone.now()


@pytest.mark.django_db
def test_old_events_are_deleted_only_once_the_engagement_took_them_in(settings):
    settings.EVENT_RETENTION_DAYS = 30
    contact = make_contact()
    long_ago = timezone.now() - dt.timedelta(days=400)
    event_record(type="open", contact_id=contact.pk, at=long_ago)
    rollup_fill()
    FillState.objects.filter(stat=ENGAGEMENT).delete()
    assert raw_events_retention() == 0
    rollup_fill()
    assert raw_events_retention() == 1
    contact.refresh_from_db()
    assert contact.last_engaged_at == long_ago
