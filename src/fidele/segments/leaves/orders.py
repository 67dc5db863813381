"""`{"orders": {"since_days": 365, "count_gte": 2, "count_lte": 9, "total_gte": 100.0,
"total_lte": 5000.0, "last_within_days": 90, "product": "SKU", "category": "Vins"}}`.

The contact's orders in the window (the last `since_days` days; all their orders without it),
narrowed to those with a line of the product (SKU) or category when one is given, meet every
constraint given. With a product or a category, `total` adds up the matching lines only (what
they spent on that wine), `count` counts orders with such a line.

Without `count_gte` or `count_lte` the leaf means "has ordered" (`count_gte` 1). A constraint
that zero orders meet (`count_lte: 0`, `count_gte: 0`) includes the contacts without any order
in the window: `{"orders": {"since_days": 365, "count_lte": 0}}` is "no order this year".

One `IN (SELECT contact_id ... GROUP BY contact_id HAVING ...)`, or an EXISTS when only "has
ordered" is asked: the (contact, ordered_at) index of orders answers both.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, Max, OuterRef, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from fidele.commerce.models import Order, OrderLine
from fidele.segments.errors import RuleError, shown
from fidele.segments.leaves import values


class OrdersLeaf:
    key = "orders"
    keys = frozenset({"orders"})
    options = frozenset(
        {"since_days", "count_gte", "count_lte", "total_gte", "total_lte",
         "last_within_days", "product", "category"}
    )  # fmt: skip

    def compile(self, node: dict[str, Any], path: str) -> Q:
        values.keys_check(node, self.keys, path)
        spec = node["orders"]
        path = f"{path}.orders"
        if not isinstance(spec, dict):
            raise RuleError(path, _("expected an object, got %(v)s") % {"v": shown(spec)})
        values.keys_check(spec, self.options, path)

        def read(name: str, reader: Any) -> Any:
            return reader(spec[name], f"{path}.{name}") if name in spec else None

        days = lambda v, p: values.whole_number(v, p, maximum=values.MAX_DAYS)  # noqa: E731
        since_days = read("since_days", days)
        count_gte = read("count_gte", values.whole_number)
        count_lte = read("count_lte", values.whole_number)
        total_gte = read("total_gte", values.amount)
        total_lte = read("total_lte", values.amount)
        last_days = read("last_within_days", days)
        text = lambda v, p: values.text(v, p).strip()  # noqa: E731
        products = (
            values.one_or_many(spec["product"], f"{path}.product", text)
            if "product" in spec
            else None
        )
        categories = (
            values.one_or_many(spec["category"], f"{path}.category", text)
            if "category" in spec
            else None
        )
        if count_gte is None and count_lte is None:
            count_gte = 1

        now = timezone.now()
        if products or categories:
            base = OrderLine.objects.filter(order__contact_id__isnull=False)
            contact, moment, total, count = (
                "order__contact_id", "order__ordered_at", Sum("line_total"),
                Count("order_id", distinct=True),
            )  # fmt: skip
            if products:
                base = base.filter(sku__in=products)
            if categories:
                base = base.filter(category__in=categories)
        else:
            base = Order.objects.all()
            contact, moment, total, count = "contact_id", "ordered_at", Sum("total"), Count("id")
        if since_days is not None:
            base = base.filter(**{f"{moment}__gte": now - dt.timedelta(days=since_days)})
        base = base.order_by()

        having: dict[str, Any] = {}
        if count_gte is not None and count_gte > 1:
            having["n__gte"] = count_gte
        if count_lte is not None:
            having["n__lte"] = count_lte
        if total_gte is not None:
            having["spent__gte"] = total_gte
        if total_lte is not None:
            having["spent__lte"] = total_lte
        if last_days is not None:
            having["last__gte"] = now - dt.timedelta(days=last_days)
        zero_ok = (
            not count_gte
            and (total_gte is None or total_gte <= Decimal(0))
            and last_days is None
            and (total_lte is None or total_lte >= Decimal(0))
        )
        any_order = Exists(base.filter(**{contact: OuterRef("pk")}))
        if not having:
            condition = Q(any_order)
        else:
            grouped = (
                base.values(contact)
                .annotate(n=count, spent=total, last=Max(moment))
                .filter(**having)
                .values(contact)
            )
            condition = Q(pk__in=grouped)
        if zero_ok:
            condition |= ~Q(any_order)
        return condition
