"""Small builders for contacts, lists and orders used by the web, contacts and commerce tests."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from django.utils import timezone

from fidele.commerce.models import Order, OrderLine
from fidele.contacts.models import Contact, MailingList, Subscription, Tag

_seq = itertools.count(1)


def make_contact(**fields) -> Contact:
    n = next(_seq)
    values = {
        "first_name": "Marie",
        "last_name": f"Dupont{n}",
        "email": f"marie{n}@example.fr",
        "city": "Bergerac",
        "postal_code": "24100",
    }
    values.update(fields)
    return Contact.objects.create(**values)


def make_list(name: str = "Newsletter") -> MailingList:
    return MailingList.objects.create(name=name)


def make_tag(name: str = "VIP") -> Tag:
    return Tag.objects.create(name=name)


def subscribe(
    contact: Contact, mailing_list: MailingList, status: str = "subscribed"
) -> Subscription:
    return Subscription.objects.create(
        contact=contact,
        mailing_list=mailing_list,
        status=status,
        consent_at=timezone.now(),
        consent_source="import",
        consent_proof={"file": "clients.csv", "row": 2},
    )


def make_order(contact: Contact, total: str = "42.50", days_ago: int = 3, **fields) -> Order:
    n = next(_seq)
    order = Order.objects.create(
        external_id=fields.pop("external_id", f"CMD-{n}"),
        contact=contact,
        ordered_at=timezone.now() - dt.timedelta(days=days_ago),
        total=Decimal(total),
        channel=fields.pop("channel", "boutique"),
        **fields,
    )
    return order


def add_line(order: Order, name: str = "Pécharmant 2019", qty: int = 2, price: str = "18.50"):
    return OrderLine.objects.create(
        order=order,
        sku="PEC-19",
        product_name=name,
        quantity=qty,
        unit_price=Decimal(price),
        line_total=Decimal(price) * qty,
    )
