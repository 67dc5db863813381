"""Writes to orders that do not come from a file (files go through fidele.imports)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import IntegrityError, transaction

from fidele.commerce.models import Order
from fidele.core.actors import Actor
from fidele.core.audit import audit_record
from fidele.core.models import AuditLog


def order_record(
    *,
    actor: Actor,
    external_id: str,
    contact_id: int,
    ordered_at: dt.datetime,
    total: Decimal,
    currency: str,
    channel: str,
) -> Order | None:
    """A new order without lines (the website's `purchase` event: a number, a total), or None
    when an order of that number exists already: the shop's own export, imported later or
    before, stays the reference and is never overwritten by what a browser said."""
    if Order.objects.filter(external_id=external_id).exists():
        return None
    try:
        with transaction.atomic():
            order = Order.objects.create(
                external_id=external_id,
                contact_id=contact_id,
                ordered_at=ordered_at,
                total=total,
                currency=currency,
                channel=channel,
            )
            audit_record(
                actor=actor,
                action=AuditLog.Action.CREATE,
                obj=order,
                changes={"total": str(total), "currency": currency, "channel": channel},
            )
    except IntegrityError:  # the same number recorded at the same instant by another request
        return None
    return order
