"""The demo shop's data-quality problems, planted on purpose so that its quality page has
something to show and fix: a few mistyped and disposable addresses, unreadable phones, birth
dates no customer has, a date in the future, and two orders far outside the usual (prices
typed in cents, a quantity with two zeros too many). Generic addresses (contact@ of
restaurants) and inactive customers the shop has already.

With a random generator of its own, so that the rest of the demo shop does not change. The
mistyped domains misspell the demo's own (gmial.example for gmail.example): every address but
the disposable ones stays at a domain that can never reach a real mailbox, and the disposable
ones are on no list, so no campaign reaches them either.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from random import Random
from typing import Any

from django.db.models import Exists, OuterRef

from fidele.contacts.models import Contact, Subscription

TYPOS = {
    "gmail.example": "gmial.example",
    "hotmail.example": "hotmial.example",
    "orange.example": "orange.exemple",
    "wanadoo.example": "wanadoo.exampel",
    "laposte.example": "laposte.exmple",
}
DISPOSABLE = ("yopmail.com", "jetable.org")
# The basket typed in cents is at least this (in euros) before: a hundred times over, it is
# far above any real order of the shop.
PLANTED_BASKET_MIN = Decimal("80")
UNREADABLE_PHONES = ("06 12 34", "n/a", "00 00 00 00 00", "+33 6 12 34 56 78 99")


def quality_problems_in_orders(orders: list[dict[str, Any]], *, seed: int) -> None:
    """Two unusual orders, in the plan before it is saved (the shop's revenue then counts them
    as they are): a basket whose prices were typed without their comma (in cents), and a line
    of 6 bottles typed 600.

    Both are far beyond what the audit's rule lets pass (fidele.quality.audit.robust_bounds):
    a basket of at least PLANTED_BASKET_MIN euros a hundred times over, and a quantity a few
    times the largest a restaurant orders. The rest of the shop's orders, a log-normal basket
    with a tail of professional orders, are what a shop is like: the audit flags none of them,
    so the owner reviews the two planted ones, not the shop's best customers."""
    rng = Random(seed + 2)
    if len(orders) < 50:
        return
    baskets = [i for i, order in enumerate(orders) if order["total"] >= PLANTED_BASKET_MIN]
    if not baskets:
        return
    cents = rng.choice(baskets)
    case = rng.choice([i for i in range(len(orders)) if i != cents])
    for line in orders[cents]["lines"]:
        _line_set(orders[cents], line, price_factor=100)
    _line_set(orders[case], orders[case]["lines"][0], quantity=600)


def _line_set(
    order: dict[str, Any], line: dict[str, Any], *, price_factor: int = 1, quantity: int = 0
) -> None:
    line["quantity"] = quantity or line["quantity"]
    line["unit_price"] = line["unit_price"] * price_factor
    old_total = line["line_total"]
    line["line_total"] = (line["unit_price"] * Decimal(line["quantity"])).quantize(Decimal("0.01"))
    order["total"] = order["total"] - old_total + line["line_total"]


def quality_problems_plant(*, seed: int, today: dt.date, size: int) -> dict[str, int]:
    """The contacts' problems, written over the saved shop; returns how many of each."""
    rng = Random(seed + 3)
    few = max(1, size // 400)
    planted = {"typos": 0, "disposable": 0, "phones": 0, "dates": 0}
    taken = set(Contact.objects.exclude(email=None).values_list("email", flat=True))
    for right, wrong in TYPOS.items():
        candidates = list(
            Contact.objects.filter(email__endswith=f"@{right}").order_by("pk")[: few * 20]
        )
        for contact in rng.sample(candidates, min(few, len(candidates))):
            email = f"{contact.email.rsplit('@', 1)[0]}@{wrong}"
            if email not in taken:
                Contact.objects.filter(pk=contact.pk).update(email=email)
                taken.add(email)
                planted["typos"] += 1
    no_list = list(
        Contact.objects.exclude(email=None)
        .filter(status=Contact.Status.ACTIVE)
        .exclude(Exists(Subscription.objects.filter(contact_id=OuterRef("pk"))))
        .order_by("pk")[: few * 20]
    )
    for index, contact in enumerate(rng.sample(no_list, min(2 * few, len(no_list)))):
        email = f"{contact.email.rsplit('@', 1)[0]}@{DISPOSABLE[index % len(DISPOSABLE)]}"
        if email not in taken:
            Contact.objects.filter(pk=contact.pk).update(email=email)
            taken.add(email)
            planted["disposable"] += 1
    with_phone = list(Contact.objects.exclude(phone="").order_by("pk")[: few * 40])
    for index, contact in enumerate(rng.sample(with_phone, min(2 * few, len(with_phone)))):
        Contact.objects.filter(pk=contact.pk).update(
            phone="", phone_invalid=UNREADABLE_PHONES[index % len(UNREADABLE_PHONES)]
        )
        planted["phones"] += 1
    people = list(Contact.objects.order_by("pk")[: few * 40])
    if len(people) >= 4:
        placeholder, child, future_birth, future_join = rng.sample(people, 4)
        Contact.objects.filter(pk=placeholder.pk).update(birth_date=dt.date(1900, 1, 1))
        Contact.objects.filter(pk=child.pk).update(birth_date=today.replace(year=today.year - 8))
        # A year typed 2 for 1: born in the future.
        Contact.objects.filter(pk=future_birth.pk).update(birth_date=dt.date(today.year + 1, 3, 14))
        Contact.objects.filter(pk=future_join.pk).update(joined_on=today + dt.timedelta(days=300))
        planted["dates"] = 4
    return planted
