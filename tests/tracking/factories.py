"""Small builders for the objects unsubscribe, tracking and bounce tests need."""

from __future__ import annotations

from django.utils import timezone

from fidele.campaigns.models import Campaign, Layout
from fidele.contacts.models import Contact, MailingList, Subscription
from fidele.delivery.models import OutboxMessage


def make_list(name: str = "Newsletter") -> MailingList:
    return MailingList.objects.get_or_create(name=name)[0]


def make_contact(
    email: str = "marie.dupont@example.fr",
    *,
    language: str = "fr",
    lists: tuple[str, ...] = ("Newsletter",),
) -> Contact:
    contact = Contact.objects.create(email=email, first_name="Marie", language=language)
    for name in lists:
        Subscription.objects.create(
            contact=contact,
            mailing_list=make_list(name),
            status=Subscription.Status.SUBSCRIBED,
            consent_at=timezone.now(),
            consent_source=Subscription.Source.IMPORT,
            consent_proof={"file": "clients.csv", "row": 2},
        )
    return contact


def make_campaign(*, lists: tuple[str, ...] = ("Newsletter",), shop: str = "La Cave de Léa"):
    layout = Layout.objects.create(
        name=f"Layout {Layout.objects.count() + 1}",
        html="{{ content }}",
        sender_name=shop,
        sender_postal_address="12 rue des Vignes\n21200 Beaune",
    )
    campaign = Campaign.objects.create(
        name="Soldes d'hiver",
        from_name=shop,
        from_email="bonjour@cave-de-lea.fr",
        subject="Nos soldes",
        layout=layout,
    )
    campaign.lists.set([make_list(name) for name in lists])
    return campaign


def make_outbox(contact: Contact | None = None, campaign: Campaign | None = None, **fields):
    contact = contact or make_contact()
    campaign = campaign or make_campaign()
    values = {
        "campaign": campaign,
        "contact": contact,
        "email": contact.email,
        "status": OutboxMessage.Status.SENT,
        "sent_at": timezone.now(),
        "message_id": f"<{campaign.pk}.{contact.pk}@cave-de-lea.fr>",
    }
    values.update(fields)
    return OutboxMessage.objects.create(**values)
