"""The contact page's history, as the team reads it."""

from __future__ import annotations

import pytest

from fidele.compliance import services as compliance
from fidele.contacts import services as contacts
from fidele.contacts.models import MailingList
from tests.factories import make_campaign, make_contact, make_outbox

pytestmark = pytest.mark.django_db


def history(client, contact) -> list[tuple[str, str, str]]:
    response = client.get(f"/contacts/{contact.pk}/")
    assert response.status_code == 200
    return [(e.title, e.actor, e.detail) for e in response.context["timeline"]]


def test_one_unsubscribe_through_an_email_is_one_event_told_in_french(owner_client):
    contact = make_contact(lists=["Newsletter"])  # subscribed by an import
    outbox = make_outbox(contact, make_campaign(lists=["Newsletter"]))
    compliance.recipient_unsubscribe(outbox=outbox, source=compliance.UnsubscribeSource.ONE_CLICK)

    events = history(owner_client, contact)

    unsubscribes = [e for e in events if e[0].startswith("Désabonnement")]
    assert unsubscribes == [
        (
            "Désabonnement de Newsletter",
            "le destinataire, par un lien de l’e-mail",
            "un clic dans la messagerie",
        )
    ]
    assert [e[0] for e in events if e[0].startswith("Abonnement")] == ["Abonnement à Newsletter"]
    body = owner_client.get(f"/contacts/{contact.pk}/").content.decode()
    assert "recipient via unsubscribe link" not in body


def test_an_unsubscribe_by_hand_is_one_event_with_its_author(owner_client, owner):
    contact = make_contact(lists=["Newsletter"])
    contacts.contact_unsubscribe(
        actor=owner, contact=contact, mailing_list=MailingList.objects.get(name="Newsletter")
    )

    unsubscribes = [e for e in history(owner_client, contact) if "Désabonnement" in e[0]]

    assert unsubscribes == [("Désabonnement de Newsletter", owner.username, "")]


def test_a_subscription_again_from_the_preference_centre_is_one_event(owner_client):
    contact = make_contact(lists=["Newsletter", "Ateliers"])
    outbox = make_outbox(contact, make_campaign(lists=["Newsletter"]))
    compliance.recipient_unsubscribe(outbox=outbox, source=compliance.UnsubscribeSource.ONE_CLICK)
    newsletter = MailingList.objects.get(name="Newsletter")
    compliance.recipient_preferences_save(
        contact=contact, subscribed_list_ids=[newsletter.pk], outbox=outbox
    )

    titles = [e[0] for e in history(owner_client, contact)]

    # The row's consent is now the new one (the first is kept in its proof, not in the history).
    assert titles.count("Abonnement à Newsletter") == 1
    assert titles.count("Désabonnement de Newsletter") == 1
