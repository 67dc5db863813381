"""Contact.last_engaged_at: the last time the person, not a machine, opened or clicked."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from fidele.tracking.models import EmailEvent
from fidele.tracking.services import (
    _message_clicks_rejudge,
    contacts_engagement_refresh,
    event_record,
)
from tests.factories import make_contact, make_outbox


@pytest.mark.django_db
def test_a_persons_open_or_click_moves_their_last_engagement_forward_to_the_day():
    contact = make_contact()
    then = timezone.now() - dt.timedelta(days=10)
    event_record(type="open", contact_id=contact.pk, at=then)
    contact.refresh_from_db()
    assert contact.last_engaged_at == then
    # An hour later the same day: kept to the day, nothing written.
    event_record(type="click", contact_id=contact.pk, at=then + dt.timedelta(hours=1))
    contact.refresh_from_db()
    assert contact.last_engaged_at == then
    later = timezone.now()
    event_record(type="click", contact_id=contact.pk, at=later)
    contact.refresh_from_db()
    assert contact.last_engaged_at == later


@pytest.mark.django_db
def test_machines_and_other_events_are_no_engagement():
    contact = make_contact()
    event_record(type="open", contact_id=contact.pk, reason=EmailEvent.Reason.APPLE_PRIVACY)
    event_record(type="delivered", contact_id=contact.pk)
    event_record(type="bounce", contact_id=contact.pk)
    contact.refresh_from_db()
    assert contact.last_engaged_at is None


@pytest.mark.django_db
def test_clicks_judged_a_machines_afterwards_give_back_the_persons_own_engagement():
    contact = make_contact(lists=["Newsletter"])
    outbox = make_outbox(contact)
    opened = timezone.now() - dt.timedelta(days=30)
    event_record(type="open", outbox=outbox, at=opened)
    now = timezone.now()
    # Three links within a second, each alone looking like a person's click...
    for i in range(2):
        event_record(type="click", outbox=outbox, url=f"https://example.fr/{i}", at=now)
    contact.refresh_from_db()
    assert contact.last_engaged_at == now
    # ... until the third shows a scanner's burst: the engagement goes back to the open.
    event_record(type="click", outbox=outbox, url="https://example.fr/2", at=now)
    _message_clicks_rejudge(outbox.pk)
    assert EmailEvent.objects.filter(type="click", is_machine=True).count() == 3
    contact.refresh_from_db()
    assert contact.last_engaged_at == opened


@pytest.mark.django_db
def test_the_refresh_recomputes_from_the_events_written_in_bulk():
    contact = make_contact()
    at = timezone.now() - dt.timedelta(days=3)
    EmailEvent.objects.bulk_create(
        [
            EmailEvent(type="open", at=at, contact=contact),
            EmailEvent(
                type="click", at=at + dt.timedelta(days=1), contact=contact, is_machine=True
            ),
        ]
    )
    assert contacts_engagement_refresh(contact_ids=[contact.pk]) == 1
    contact.refresh_from_db()
    assert contact.last_engaged_at == at
