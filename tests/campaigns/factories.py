"""Small builders shared by the campaign tests."""

from __future__ import annotations

from typing import Any

from fidele.campaigns import services
from fidele.contacts.models import Contact, MailingList, Subscription


class FakeLinks:
    """A LinkContext like the engine's, with recognisable URLs."""

    def unsubscribe_url(self) -> str:
        return "https://app.example/t/u/TOKEN"

    def click_url(self, url: str) -> str:
        return "https://app.example/t/c/TOKEN?u=" + url

    def open_pixel_url(self) -> str:
        return "https://app.example/t/o/TOKEN.gif"


def mailing_list(name: str = "Newsletter") -> MailingList:
    return MailingList.objects.get_or_create(name=name)[0]


def subscribed_contact(
    *, email: str, first_name: str = "", list_name: str = "Newsletter", **fields: Any
) -> Contact:
    contact = Contact.objects.create(email=email, first_name=first_name, **fields)
    Subscription.objects.create(
        contact=contact,
        mailing_list=mailing_list(list_name),
        status="subscribed",
        consent_source="import",
    )
    return contact


def campaign(**values: Any):
    defaults: dict[str, Any] = {
        "name": "Soldes d'hiver",
        "subject": "Bonjour {{ contact.first_name | default('cher client') }}",
        "from_email": "boutique@example.com",
        "from_name": "La Boutique",
        "html": "<p>Bonjour {{ contact.first_name }}</p>",
        "lists": [mailing_list()],
    }
    defaults.update(values)
    return services.campaign_create(**defaults)
