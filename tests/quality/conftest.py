from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from fidele.contacts.models import Contact
from tests.factories import make_contact, make_order, make_order_line


@pytest.fixture
def messy_base(db):
    """A small base with every problem the audit looks for, each on known contacts; returns
    {code: set of contact ids} (order ids for order_outlier)."""
    today = timezone.localdate()
    old = timezone.now() - dt.timedelta(days=4 * 365)
    expected: dict[str, set[int]] = {}

    def add(code, contact_or_order):
        expected.setdefault(code, set()).add(contact_or_order.pk)
        return contact_or_order

    # Clean customers, on a list, with normal orders: the base's usual basket is ~40 €.
    clean = [make_contact(lists=["Newsletter"]) for _ in range(4)]
    for index in range(40):
        order = make_order(clean[index % 4], total=str(30 + index % 20))
        make_order_line(order, qty=1 + index % 3, price="15.00")
    add("email_domain_typo", make_contact("paul@gmial.com", lists=["Newsletter"]))
    add("email_domain_typo", make_contact("lea@orange.ff", lists=["Newsletter"]))
    add("email_disposable", make_contact("temp@yopmail.com", lists=["Newsletter"]))
    # Blocked already: no longer counted as a disposable address still to deal with.
    make_contact("gone@jetable.org", status=Contact.Status.BLOCKED, lists=["Newsletter"])
    add("email_role", make_contact("contact@restaurant-cyrano.fr", lists=["Newsletter"]))
    add("email_invalid", make_contact("a..b@example.fr", lists=["Newsletter"]))
    add("email_invalid", make_contact("x@localhost", lists=["Newsletter"]))
    add("phone_invalid", make_contact(phone_invalid="06 12 34", lists=["Newsletter"]))
    add("consent_missing", make_contact("nolist@example.fr"))
    add("birth_date_outlier", make_contact(birth_date=dt.date(1900, 1, 1), lists=["Newsletter"]))
    add(
        "birth_date_outlier",
        make_contact(birth_date=today.replace(year=today.year - 8), lists=["Newsletter"]),
    )
    add(
        "date_in_future",
        make_contact(birth_date=today + dt.timedelta(days=400), lists=["Newsletter"]),
    )
    future_buyer = add("date_in_future", make_contact(lists=["Newsletter"]))
    make_order(future_buyer, days_ago=-30)
    stale = add("stale", make_contact(None, joined_on=(old - dt.timedelta(days=1)).date()))
    make_order(stale, days_ago=3 * 365)
    # Known for long but engaged recently: not stale.
    make_contact(None, joined_on=old.date(), last_engaged_at=timezone.now())
    # Known for long but ordered recently: not stale.
    make_order(make_contact(None, joined_on=old.date()), days_ago=10)
    # A contact without email, new: neither stale nor missing consent.
    make_contact(None)
    huge = make_order(clean[0], total="4500.00")
    expected.setdefault("order_outlier", set()).add(huge.pk)
    crate = make_order(clean[1], total="36.00")
    make_order_line(crate, qty=500, price="0.07")
    expected["order_outlier"].add(crate.pk)
    refund = make_order(clean[2], total="-20.00")
    expected["order_outlier"].add(refund.pk)
    # Erased contacts are not audited.
    make_contact(None, status=Contact.Status.ERASED)
    return expected
