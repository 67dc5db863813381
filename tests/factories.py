"""The builders every test uses to make its data: one plain function `make_<thing>(...)` per
model, imported explicitly (`from tests.factories import make_contact, make_list`).

They write through the ORM, not through the services, so that a test sets up exactly the rows it
needs (`make_campaign_via_service` is the one exception, for the tests that want the service's
checks and defaults). Every keyword has a sensible default; anything else is a model field.
Subscriptions carry their consent proof in the one shape the app writes (`ConsentProof`).

Pytest fixtures stay for what needs pytest: clients, users with a role, SMTP sinks, settings.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from fidele.campaigns import services as campaign_services
from fidele.campaigns.models import Campaign, Layout
from fidele.commerce.models import Order, OrderLine
from fidele.contacts.consent import ConsentProof, Method
from fidele.contacts.models import Contact, MailingList, Subscription, Tag
from fidele.core import permissions
from fidele.delivery.models import OutboxMessage

_seq = itertools.count(1)


class _Auto:
    def __repr__(self) -> str:
        return "AUTO"


AUTO: Any = _Auto()  # "not given": the builder makes one (None means none)

PASSWORD = "correct horse battery"


# --- users ---------------------------------------------------------------------------------


def make_user(role: str = permissions.OWNER, username: str | None = None, **fields):
    """A user with `role`, named "<role>-user" unless `username` is given; password PASSWORD."""
    return get_user_model().objects.create_user(
        username=username or f"{role}-user", password=PASSWORD, role=role, **fields
    )


# --- contacts ------------------------------------------------------------------------------


def make_list(name: str = "Newsletter", **fields: Any) -> MailingList:
    """The mailing list called `name`, made if it does not exist yet."""
    return MailingList.objects.get_or_create(name=name, defaults=fields)[0]


def make_tag(name: str = "VIP", **fields: Any) -> Tag:
    return Tag.objects.create(name=name, **fields)


def make_proof(**fields: Any) -> ConsentProof:
    """A consent proof as an import writes it: clients.csv, row 2, recorded now."""
    values: dict[str, Any] = {
        "method": Method.IMPORT,
        "at": timezone.now(),
        "file": "clients.csv",
        "row": 2,
    }
    values.update(fields)
    return ConsentProof(**values)


def make_subscription(
    contact: Contact,
    mailing_list: MailingList | str = "Newsletter",
    *,
    status: str = Subscription.Status.SUBSCRIBED,
    proof: ConsentProof | None = None,
    **fields: Any,
) -> Subscription:
    """`contact` on `mailing_list` (a list or its name) with `status`; the consent time, source
    and stored proof come from `proof` (make_proof() by default); an unconfirmed one (waiting
    for its double opt-in) has no consent time yet, as the app writes it."""
    proof = proof or make_proof()
    unconfirmed = status == Subscription.Status.UNCONFIRMED
    values: dict[str, Any] = {
        "status": status,
        "consent_at": None if unconfirmed else proof.consent_at,
        "consent_source": proof.source,
        "consent_proof": proof.as_json(),
    }
    values.update(fields)
    return Subscription.objects.create(
        contact=contact, mailing_list=_list_of(mailing_list), **values
    )


def make_contact(
    email: str | None = AUTO,
    *,
    lists: Iterable[MailingList | str] = (),
    subscription_status: str = Subscription.Status.SUBSCRIBED,
    **fields: Any,
) -> Contact:
    """A contact, Marie Dupont<n> from Bergerac unless told otherwise. `email`: a unique
    marie<n>@example.fr unless given, None for a contact without an address. `lists` (lists or
    their names): subscribed to each with `subscription_status` (see make_subscription)."""
    n = next(_seq)
    values: dict[str, Any] = {
        "email": f"marie{n}@example.fr" if email is AUTO else email,
        "first_name": "Marie",
        "last_name": f"Dupont{n}",
        "city": "Bergerac",
        "postal_code": "24100",
    }
    values.update(fields)
    contact = Contact.objects.create(**values)
    for mailing_list in lists:
        make_subscription(contact, mailing_list, status=subscription_status)
    return contact


def make_audience(
    count: int, *, prefix: str = "r", mailing_list: MailingList | None = None
) -> MailingList:
    """`count` contacts (<prefix><i>@example.com, first name P<i>) subscribed to one list (by
    default "list-<prefix>"), in two bulk inserts. Returns the list."""
    mailing_list = mailing_list or make_list(f"list-{prefix}")
    contacts = Contact.objects.bulk_create(
        [Contact(email=f"{prefix}{i}@example.com", first_name=f"P{i}") for i in range(count)]
    )
    if not contacts[0].pk:  # backends that do not return ids from bulk_create
        contacts = list(Contact.objects.filter(email__startswith=prefix).order_by("id"))
    proof = make_proof()
    stored = proof.as_json()
    Subscription.objects.bulk_create(
        [
            Subscription(
                contact=contact,
                mailing_list=mailing_list,
                status=Subscription.Status.SUBSCRIBED,
                consent_at=proof.consent_at,
                consent_source=proof.source,
                consent_proof=stored,
            )
            for contact in contacts
        ]
    )
    return mailing_list


def _list_of(mailing_list: MailingList | str) -> MailingList:
    return make_list(mailing_list) if isinstance(mailing_list, str) else mailing_list


# --- commerce ------------------------------------------------------------------------------


def make_order(contact: Contact, total: str = "42.50", days_ago: int = 3, **fields: Any) -> Order:
    """An order of `contact`'s, `days_ago` days ago, numbered CMD-<n> unless `external_id`."""
    values: dict[str, Any] = {
        "external_id": f"CMD-{next(_seq)}",
        "channel": "boutique",
        "ordered_at": timezone.now() - dt.timedelta(days=days_ago),
        "total": Decimal(total),
    }
    values.update(fields)
    return Order.objects.create(contact=contact, **values)


def make_order_line(
    order: Order, name: str = "Pécharmant 2019", qty: int = 2, price: str = "18.50"
) -> OrderLine:
    return OrderLine.objects.create(
        order=order,
        sku="PEC-19",
        product_name=name,
        quantity=qty,
        unit_price=Decimal(price),
        line_total=Decimal(price) * qty,
    )


# --- campaigns -----------------------------------------------------------------------------

BODY = (
    "<html><body><p>Bonjour {{ contact.first_name }}</p>"
    '<p><a href="{{ unsubscribe_url }}">Se désinscrire</a></p></body></html>'
)


def make_layout(sender_name: str = "La Cave de Léa", **fields: Any) -> Layout:
    """A layout that is just the body ("{{ content }}"), with a sender and a postal address."""
    values: dict[str, Any] = {
        "name": f"Layout {next(_seq)}",
        "html": "{{ content }}",
        "sender_postal_address": "12 rue des Vignes\n21200 Beaune",
    }
    values.update(fields)
    return Layout.objects.create(sender_name=sender_name, **values)


def make_campaign(
    *,
    lists: Iterable[MailingList | str] = (),
    exclude: Iterable[MailingList | str] = (),
    layout: Layout | None = AUTO,
    **fields: Any,
) -> Campaign:
    """A campaign built from the model (no service, no template check): a draft from La Cave de
    Léa whose body greets the contact by first name and links to the unsubscribe page.

    `lists` and `exclude`: lists or their names. `layout`: its own make_layout() unless given
    (None: no layout, the app's default one is used). Any other keyword is a Campaign field
    (status, body, scheduled_at, ab_enabled...)."""
    values: dict[str, Any] = {
        "name": "Soldes d'hiver",
        "status": Campaign.Status.DRAFT,
        "from_name": "La Cave de Léa",
        "from_email": "bonjour@cave-de-lea.fr",
        "subject": "Bonjour {{ contact.first_name | default('cher client') }}",
        "body": BODY,
        "layout": make_layout() if layout is AUTO else layout,
    }
    values.update(fields)
    campaign = Campaign.objects.create(**values)
    campaign.lists.set([_list_of(item) for item in lists])
    campaign.exclude_lists.set([_list_of(item) for item in exclude])
    return campaign


def make_campaign_via_service(**values: Any) -> Campaign:
    """A campaign made by `campaigns.services.campaign_create`, with its checks (TemplateProblem,
    CampaignError) and defaults (the default layout, the utm_campaign): for the tests about
    those. Any keyword is one of campaign_create's; by default on the list "Newsletter"."""
    defaults: dict[str, Any] = {
        "name": "Soldes d'hiver",
        "subject": "Bonjour {{ contact.first_name | default('cher client') }}",
        "from_email": "boutique@example.com",
        "from_name": "La Boutique",
        "html": "<p>Bonjour {{ contact.first_name }}</p>",
        "lists": [make_list()],
    }
    defaults.update(values)
    return campaign_services.campaign_create(**defaults)


class FakeLinks:
    """A LinkContext like the engine's, with recognisable URLs."""

    def unsubscribe_url(self) -> str:
        return "https://app.example/t/u/TOKEN"

    def click_url(self, url: str) -> str:
        return "https://app.example/t/c/TOKEN?u=" + url

    def open_pixel_url(self) -> str:
        return "https://app.example/t/o/TOKEN.gif"

    def honeypot_url(self) -> str:
        return "https://app.example/t/h/TOKEN/"


# --- delivery ------------------------------------------------------------------------------


def make_outbox(
    contact: Contact | None = None, campaign: Campaign | None = None, **fields: Any
) -> OutboxMessage:
    """A message sent just now. By default to marie.dupont@example.fr, subscribed to
    "Newsletter", for a campaign of make_campaign(lists=["Newsletter"])."""
    contact = contact or make_contact("marie.dupont@example.fr", lists=["Newsletter"])
    campaign = campaign or make_campaign(lists=["Newsletter"])
    values: dict[str, Any] = {
        "campaign": campaign,
        "contact": contact,
        "email": contact.email,
        "status": OutboxMessage.Status.SENT,
        "sent_at": timezone.now(),
        "message_id": f"<{campaign.pk}.{contact.pk}@cave-de-lea.fr>",
    }
    values.update(fields)
    return OutboxMessage.objects.create(**values)


# --- the shop's website --------------------------------------------------------------------


def make_site(origins: str = "https://cave-de-lea.fr", *, key: str = "cave-de-lea", **fields):
    """A website allowed to send hits (through the service: the endpoint's cache learns it)."""
    from fidele.tracking.site_config import site_create

    return site_create(actor=None, name=fields.pop("name", "Cave de Léa"), origins=origins, key=key)
