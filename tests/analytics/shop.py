"""A shop whose customers buy as the BG/NBD process says, written to the database: enough of
them for the models (or, with few, for the thin-data fallback)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
from django.utils import timezone

from fidele.analytics import clv
from fidele.commerce.models import Order
from fidele.contacts.models import Contact


def shop_make(*, customers: int, history_days: int = 400, seed: int = 1) -> list[Contact]:
    """`customers` contacts whose first purchase falls in the first half of the last
    `history_days` days, each with their repeat purchases up to today, at noon local time."""
    rng = np.random.default_rng(seed)
    today = timezone.localdate()
    first = rng.integers(history_days // 2, history_days + 1, customers)  # days ago
    big_t = first.astype(float)
    rates = {"r": 0.9, "alpha": 45.0, "a": 0.7, "b": 3.0}
    x, t_x = clv.bgnbd_simulate(**rates, big_t=big_t, seed=seed)
    contacts = Contact.objects.bulk_create(
        Contact(first_name="Client", last_name=f"Numéro {i:04d}", external_id=f"S{i:04d}")
        for i in range(customers)
    )
    orders = []
    zone = timezone.get_current_timezone()
    for i, contact in enumerate(contacts):
        # The last repeat purchase where the simulation put it, the others at random before it
        # (only their number and the last one's date matter to the models).
        days_ago = [int(first[i])]
        if x[i]:
            last = int(first[i] - t_x[i])
            between = rng.integers(last, int(first[i]), int(x[i]) - 1).tolist()
            days_ago += sorted(between, reverse=True) + [last]
        for k, ago in enumerate(days_ago):
            day = today - dt.timedelta(days=ago)
            orders.append(
                Order(
                    contact=contact,
                    external_id=f"S{i:04d}-{k}",
                    ordered_at=dt.datetime.combine(day, dt.time(12), tzinfo=zone),
                    total=Decimal(str(round(float(rng.gamma(6, 8)), 2))),
                )
            )
    Order.objects.bulk_create(orders, batch_size=500)
    return contacts
