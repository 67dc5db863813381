from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.utils import timezone, translation

from fidele.commerce.models import Order, OrderLine
from fidele.contacts.models import Contact

NOW = dt.datetime(2026, 6, 15, 12, 0, 0, tzinfo=dt.UTC)

# Three kinds of customers, 50 each, nothing alike: (name, orders, days ago, months, category,
# basket).
PLANTED = (
    ("tourists", (1, 1), (320, 340), (8,), "Vins", (25, 40)),
    ("christmas", (2, 2), (170, 190), (12,), "Coffrets", (70, 95)),
    ("professionals", (10, 10), (2, 12), (6,), "Épicerie fine", (500, 700)),
)


def plant_customers(*, seed: int = 3, per_group: int = 50) -> dict[str, set[int]]:
    """Customers of the PLANTED kinds, orders with one line each; {kind: contact ids}."""
    rng = random.Random(seed)
    groups: dict[str, set[int]] = {}
    number = 0
    for name, counts, days, months, category, basket in PLANTED:
        contacts = Contact.objects.bulk_create(
            [Contact(email=f"{name}{i}@example.fr", city="Bergerac") for i in range(per_group)]
        )
        if not contacts[0].pk:
            contacts = list(Contact.objects.filter(email__startswith=name).order_by("id"))
        groups[name] = {c.pk for c in contacts}
        for contact in contacts:
            last = NOW - dt.timedelta(days=rng.randint(*days))
            for k in range(rng.randint(*counts)):
                # The last order `days` ago, the earlier ones in the kind's month of past years.
                at = last if k == 0 else last.replace(year=last.year - k, month=months[0])
                total = Decimal(rng.randint(*basket))
                number += 1
                order = Order.objects.create(
                    contact=contact, external_id=f"P-{number}", ordered_at=at, total=total
                )
                OrderLine.objects.create(
                    order=order, product_name="x", category=category, quantity=1,
                    unit_price=total, line_total=total,
                )  # fmt: skip
    return groups


@pytest.fixture
def planted(db):
    return plant_customers()


@pytest.fixture
def now():
    return NOW


@pytest.fixture
def today_now():
    return timezone.now()


@pytest.fixture
def in_english(settings):
    """These tests read the engine's and the pages' messages in English (the app's default
    is French; the French catalogue is checked by msgfmt)."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield
