from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from fidele.contacts.consent import (
    Consent,
    ConsentProof,
    Method,
    Withdrawal,
    subscriptions_add,
    subscriptions_add_with_proof,
    subscriptions_subscribe,
    subscriptions_unsubscribe,
)
from fidele.contacts.models import Subscription
from fidele.core.actors import Recipient, System
from tests.factories import make_contact, make_list, make_proof, make_subscription

pytestmark = pytest.mark.django_db

AT = dt.datetime(2026, 3, 1, 10, 30, tzinfo=dt.UTC)


# --- the proof's one shape -----------------------------------------------------------------


def test_a_proof_says_how_when_by_whom_and_from_where_and_leaves_out_what_is_empty():
    proof = ConsentProof(
        method=Method.FORM,
        at=AT,
        ip="203.0.113.7",
        form="Inscription newsletter",
        url="https://cave.example/newsletter",
        wording="J'accepte de recevoir la newsletter.",
        confirmed_at=AT + dt.timedelta(minutes=5),
    )
    assert proof.as_json() == {
        "method": "form",
        "at": "2026-03-01T10:30:00+00:00",
        "ip": "203.0.113.7",
        "form": "Inscription newsletter",
        "url": "https://cave.example/newsletter",
        "wording": "J'accepte de recevoir la newsletter.",
        "confirmed_at": "2026-03-01T10:35:00+00:00",
    }
    assert proof.source == Subscription.Source.FORM
    assert proof.consent_at == AT


def test_a_proof_names_the_user_or_the_part_of_the_app_that_recorded_it(marketer):
    by_user = ConsentProof.by(marketer, method=Method.MANUAL, at=AT, note="paper form")
    assert (by_user.user, by_user.user_id) == (marketer.username, marketer.pk)
    assert by_user.source == Subscription.Source.MANUAL
    by_command = ConsentProof.by(System(name="fidele demo"), method=Method.IMPORT, at=AT)
    assert (by_command.user, by_command.user_id) == ("fidele demo", None)
    by_recipient = ConsentProof.by(Recipient(email="a@x.fr"), method=Method.PREFERENCE_CENTRE)
    assert by_recipient.user == Recipient.label
    assert by_recipient.source == Subscription.Source.FORM


def test_a_withdrawal_names_the_message_it_came_from_when_there_is_one():
    assert Withdrawal(source="page", at=AT).as_json() == {
        "source": "page",
        "at": "2026-03-01T10:30:00+00:00",
    }
    assert Withdrawal(
        source="one_click", at=AT, ip="203.0.113.9", campaign_id=4, outbox_id=12
    ).as_json() == {
        "source": "one_click",
        "at": "2026-03-01T10:30:00+00:00",
        "outbox_id": 12,
        "campaign_id": 4,
        "ip": "203.0.113.9",
    }


# --- many at once --------------------------------------------------------------------------


def test_many_contacts_are_subscribed_in_a_constant_number_of_queries(
    owner, django_assert_max_num_queries
):
    newsletter = make_list()
    contacts = [make_contact() for _ in range(30)]
    proof = ConsentProof(method=Method.IMPORT, at=AT, user=owner.username, file="clients.csv")
    with django_assert_max_num_queries(3):  # the look-up of those already on it, one insert
        written = subscriptions_add(
            actor=owner,
            consents=[
                Consent(c.pk, newsletter.pk, proof, row=n + 2) for n, c in enumerate(contacts)
            ],
        )
    assert written == 30
    sub = Subscription.objects.get(contact=contacts[3])
    assert sub.status == Subscription.Status.SUBSCRIBED
    assert sub.consent_source == Subscription.Source.IMPORT
    assert sub.consent_at == AT and sub.created_by == owner
    assert sub.consent_proof == {
        "method": "import",
        "at": "2026-03-01T10:30:00+00:00",
        "user": owner.username,
        "file": "clients.csv",
        "row": 5,
    }


def test_adding_many_never_touches_an_existing_subscription_and_counts_a_contact_once(owner):
    newsletter = make_list()
    left, new = make_contact(), make_contact()
    make_subscription(left, newsletter, status=Subscription.Status.UNSUBSCRIBED)
    proof = ConsentProof(method=Method.IMPORT, at=AT)
    consent_date = dt.datetime(2021, 3, 12, tzinfo=dt.UTC)
    written = subscriptions_add(
        actor=None,
        consents=[
            Consent(left.pk, newsletter.pk, proof),
            Consent(new.pk, newsletter.pk, proof, given_at=consent_date),
            Consent(new.pk, newsletter.pk, proof),
        ],
    )
    assert written == 1
    assert Subscription.objects.get(contact=left).status == Subscription.Status.UNSUBSCRIBED
    added = Subscription.objects.get(contact=new)
    assert added.consent_at == consent_date and added.created_by is None


def test_a_sign_up_waiting_for_its_confirmation_has_no_consent_time_yet():
    newsletter = make_list()
    contact = make_contact()
    proof = ConsentProof(method=Method.FORM, at=AT, ip="198.51.100.4")
    subscriptions_add(
        actor=None,
        consents=[Consent(contact.pk, newsletter.pk, proof)],
        status=Subscription.Status.UNCONFIRMED,
    )
    sub = Subscription.objects.get()
    assert (sub.status, sub.consent_at) == (Subscription.Status.UNCONFIRMED, None)
    assert sub.consent_proof["ip"] == "198.51.100.4"


def test_many_contacts_on_one_shared_proof_are_written_by_one_statement(
    owner, django_assert_num_queries
):
    newsletter = make_list()
    contacts = [make_contact() for _ in range(30)]
    proof = ConsentProof(method=Method.IMPORT, at=AT, user=owner.username, file="clients.csv")
    with django_assert_num_queries(1):
        written = subscriptions_add_with_proof(
            actor=owner,
            mailing_list_id=newsletter.pk,
            proof=proof,
            entries=[(c.pk, n + 2, None) for n, c in enumerate(contacts)],
        )
    assert written == 30
    assert Subscription.objects.filter(mailing_list=newsletter).count() == 30


def test_a_proof_written_in_bulk_is_the_proof_with_its_row_whatever_it_holds(owner):
    # The database completes the shared proof with each row: what it stores must be exactly the
    # proof's JSON plus the row, quotes, accents and all.
    newsletter = make_list()
    with_row, without_row, dated = make_contact(), make_contact(), make_contact()
    proof = ConsentProof.by(
        owner,
        method=Method.IMPORT,
        at=AT,
        file='Clients "fidèles" été\\2026.csv',
        import_id=7,
        note="l’été — 😀",
        confirmed_by_user=True,
    )
    consent_date = dt.datetime(2021, 3, 12, 9, 15, tzinfo=dt.UTC)
    subscriptions_add_with_proof(
        actor=owner,
        mailing_list_id=newsletter.pk,
        proof=proof,
        entries=[
            (with_row.pk, 41, None),
            (without_row.pk, None, None),
            (dated.pk, 43, consent_date),
        ],
    )

    stored = {s.contact_id: s for s in Subscription.objects.filter(mailing_list=newsletter)}
    assert stored[with_row.pk].consent_proof == {**proof.as_json(), "row": 41}
    assert stored[without_row.pk].consent_proof == proof.as_json()
    assert stored[dated.pk].consent_proof == {**proof.as_json(), "row": 43}
    assert [stored[c.pk].consent_at for c in (with_row, without_row, dated)] == [
        AT,
        AT,
        consent_date,
    ]
    for subscription in stored.values():
        assert subscription.status == Subscription.Status.SUBSCRIBED
        assert subscription.consent_source == Subscription.Source.IMPORT
        assert subscription.created_by == owner and subscription.unsubscribed_at is None
        assert subscription.created_at == subscription.updated_at
    # The row is a number the JSON look-ups compare as one.
    assert Subscription.objects.filter(consent_proof__row=41).get().contact == with_row


def test_both_ways_of_adding_many_store_the_same_subscription_for_the_same_consent(owner):
    contact = make_contact()
    one_by_one, shared = make_list("One by one"), make_list("Shared")
    proof = ConsentProof.by(owner, method=Method.IMPORT, at=AT, file="clients.csv", import_id=3)
    given_at = dt.datetime(2021, 3, 12, tzinfo=dt.UTC)
    subscriptions_add(
        actor=owner, consents=[Consent(contact.pk, one_by_one.pk, proof, 9, given_at)]
    )
    subscriptions_add_with_proof(
        actor=owner, mailing_list_id=shared.pk, proof=proof, entries=[(contact.pk, 9, given_at)]
    )

    fields = ("status", "consent_at", "consent_source", "consent_proof", "created_by_id")
    a, b = (Subscription.objects.values(*fields).get(mailing_list=m) for m in (one_by_one, shared))
    assert a == b


def test_adding_on_a_shared_proof_leaves_existing_subscriptions_and_counts_a_contact_once():
    newsletter = make_list()
    left, new = make_contact(), make_contact()
    make_subscription(left, newsletter, status=Subscription.Status.UNSUBSCRIBED)
    written = subscriptions_add_with_proof(
        actor=None,
        mailing_list_id=newsletter.pk,
        proof=ConsentProof(method=Method.IMPORT, at=AT),
        entries=[(left.pk, 2, None), (new.pk, 3, None), (new.pk, 4, None)],
    )
    assert written == 1
    assert Subscription.objects.get(contact=left).status == Subscription.Status.UNSUBSCRIBED
    assert Subscription.objects.get(contact=new).consent_proof["row"] == 3


# --- one contact ---------------------------------------------------------------------------


def test_subscribing_again_can_keep_the_proof_it_replaces():
    contact, newsletter = make_contact(), make_list()
    make_subscription(
        contact, newsletter, status=Subscription.Status.UNSUBSCRIBED, proof=make_proof(at=AT)
    )
    proof = ConsentProof(method=Method.PREFERENCE_CENTRE, at=timezone.now())
    changed = subscriptions_subscribe(
        actor=Recipient(email=contact.email),
        contact=contact,
        mailing_list_ids=[newsletter.pk, make_list("Jamais inscrit").pk],
        proof=proof,
        existing_only=True,
        keep_previous=True,
    )
    assert [(c.subscription.mailing_list_id, c.old_status) for c in changed] == [
        (newsletter.pk, "unsubscribed")
    ]
    sub = Subscription.objects.get()
    assert sub.status == Subscription.Status.SUBSCRIBED and sub.unsubscribed_at is None
    assert sub.consent_proof["method"] == "preference_centre"
    assert sub.consent_proof["previous"] == {
        "method": "import",
        "at": "2026-03-01T10:30:00+00:00",
        "file": "clients.csv",
        "row": 2,
    }


def test_unsubscribing_keeps_the_proof_and_puts_the_withdrawal_beside_it():
    contact, newsletter, other = make_contact(), make_list(), make_list("Ateliers")
    make_subscription(contact, newsletter, proof=make_proof(at=AT))
    make_subscription(contact, other, status=Subscription.Status.UNSUBSCRIBED)
    changed = subscriptions_unsubscribe(
        actor=Recipient(email=contact.email),
        contact_ids=[contact.pk],
        withdrawal=Withdrawal(source="page", at=AT),
    )
    assert [c.subscription.mailing_list.name for c in changed] == ["Newsletter"]
    sub = Subscription.objects.get(mailing_list=newsletter)
    assert sub.status == Subscription.Status.UNSUBSCRIBED and sub.unsubscribed_at == AT
    assert sub.consent_proof == {
        "method": "import",
        "at": "2026-03-01T10:30:00+00:00",
        "file": "clients.csv",
        "row": 2,
        "unsubscribe": {"source": "page", "at": "2026-03-01T10:30:00+00:00"},
    }


def test_history_brought_in_at_once_can_hold_a_consent_since_withdrawn():
    newsletter = make_list()
    contact = make_contact()
    given = dt.datetime(2025, 5, 2, 9, 0, tzinfo=dt.UTC)
    proof = ConsentProof(method=Method.MANUAL, at=given, user="Claire", note="Bulletin signé")
    subscriptions_add(
        actor=System(name="fidele demo"),
        consents=[
            Consent(contact.pk, newsletter.pk, proof, withdrawal=Withdrawal(source="page", at=AT))
        ],
    )
    sub = Subscription.objects.get()
    assert (sub.status, sub.consent_at, sub.unsubscribed_at) == ("unsubscribed", given, AT)
    assert sub.consent_source == Subscription.Source.MANUAL
    assert sub.consent_proof["note"] == "Bulletin signé"
    assert sub.consent_proof["unsubscribe"]["source"] == "page"
