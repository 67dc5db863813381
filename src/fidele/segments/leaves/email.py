"""`{"email": {"event": "delivered|open|click|bounce|unsubscribe|complaint", "within_days": 30,
"campaign": ID, "count_gte": 1, "count_lte": 0}}`: the contact's email events in the window (the
last `within_days` days; all of them without it), of one campaign (or of any of a list of ids)
when given. Opens and clicks count people only: what a mail privacy proxy or a security scanner
did (`EmailEvent.is_machine`) is never counted. `delivered` counts the messages we sent them
(the outbox), as SMTP servers tell no more than that.

Without `count_gte` or `count_lte` the leaf means "at least once" (`count_gte` 1).

"Did not": a count that zero meets (`count_lte: 0`, or `count_gte: 0` with `count_lte`) holds
only for contacts who were sent a message in the same window (of the same campaign when one is
named): `{"email": {"event": "open", "within_days": 30, "count_lte": 0}}` is "received
something in the last 30 days and opened none of it", never a contact created yesterday who was
never mailed. The plain complement, `{"not": {"email": {"event": "open", "within_days": 30}}}`,
is "did not open", mailed or not.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from fidele.delivery.models import OutboxMessage
from fidele.segments.errors import RuleError, shown
from fidele.segments.leaves import values
from fidele.tracking.models import EmailEvent

EVENTS = ("delivered", "open", "click", "bounce", "unsubscribe", "complaint")
HUMAN_ONLY = ("open", "click")


class EmailLeaf:
    key = "email"
    keys = frozenset({"email"})
    options = frozenset({"event", "within_days", "campaign", "count_gte", "count_lte"})

    def compile(self, node: dict[str, Any], path: str) -> Q:
        values.keys_check(node, self.keys, path)
        spec = node["email"]
        path = f"{path}.email"
        if not isinstance(spec, dict):
            raise RuleError(path, _("expected an object, got %(v)s") % {"v": shown(spec)})
        values.keys_check(spec, self.options, path)
        event = spec.get("event")
        if event not in EVENTS:
            raise RuleError(
                f"{path}.event",
                _("unknown email event %(v)s (expected one of: %(events)s)")
                % {"v": shown(event), "events": ", ".join(EVENTS)},
            )

        def read(name: str, reader: Any) -> Any:
            return reader(spec[name], f"{path}.{name}") if name in spec else None

        within = read(
            "within_days", lambda v, p: values.whole_number(v, p, maximum=values.MAX_DAYS)
        )
        count_gte = read("count_gte", values.whole_number)
        count_lte = read("count_lte", values.whole_number)
        campaigns = (
            values.one_or_many(spec["campaign"], f"{path}.campaign", _campaign_id)
            if "campaign" in spec
            else None
        )
        if count_gte is None and count_lte is None:
            count_gte = 1

        since = timezone.now() - dt.timedelta(days=within) if within is not None else None
        sent = OutboxMessage.objects.filter(
            status=OutboxMessage.Status.SENT, contact_id__isnull=False
        )
        if since is not None:
            sent = sent.filter(sent_at__gte=since)
        if campaigns:
            sent = sent.filter(campaign_id__in=campaigns)
        if event == "delivered":
            events = sent
        else:
            events = EmailEvent.objects.filter(type=event, contact_id__isnull=False)
            if event in HUMAN_ONLY:
                events = events.filter(is_machine=False)
            if since is not None:
                events = events.filter(at__gte=since)
            if campaigns:
                events = events.filter(campaign_id__in=campaigns)
        events = events.order_by()

        def counted(**having: Any) -> Q:
            return Q(
                pk__in=events.values("contact_id")
                .annotate(n=Count("id"))
                .filter(**having)
                .values("contact_id")
            )

        if count_gte:
            if count_gte == 1 and count_lte is None:
                return Q(Exists(events.filter(contact_id=OuterRef("pk"))))
            having = {"n__gte": count_gte}
            if count_lte is not None:
                having["n__lte"] = count_lte
            return counted(**having)
        # Zero is allowed: those with more than count_lte are out, and only the contacts who
        # were sent something in the window can have "not done" it.
        condition = ~counted(n__gt=count_lte) if count_lte is not None else Q()
        if event != "delivered":
            condition &= Q(Exists(sent.order_by().filter(contact_id=OuterRef("pk"))))
        return condition


def _campaign_id(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise RuleError(
            path, _("expected a campaign id (a whole number), got %(v)s") % {"v": shown(value)}
        )
    return value
