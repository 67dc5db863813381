"""Keyset ("cursor") pagination and bounded counts for lists that grow to millions of rows.

OFFSET pagination reads and throws away every row before the page, so page 20,000 of a 1M-row
list costs a full scan; a keyset cursor (the sort values of the last row shown) lets the database
seek straight to the next page through the sort index. Likewise an exact COUNT(*) over 1M rows
on every page view is wasted work: `bounded_count` stops counting at a cap and the page shows
"10 000+" instead.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet

PAGE_SIZE = 50
COUNT_CAP = 10_000


def bounded_count(queryset: QuerySet, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """(count, capped): the exact count up to `cap`, else (cap, True)."""
    count = queryset.order_by()[: cap + 1].count()
    return (cap, True) if count > cap else (count, False)


def _encode_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    if isinstance(value, Decimal):
        return {"dec": str(value)}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if "dt" in value:
            return dt.datetime.fromisoformat(value["dt"])
        if "d" in value:
            return dt.date.fromisoformat(value["d"])
        if "dec" in value:
            return Decimal(value["dec"])
        raise ValueError("unknown cursor value")
    if value is None or isinstance(value, (str, int, float)):
        return value
    raise ValueError("unknown cursor value")


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, length: int) -> list[Any] | None:
    """The values of a cursor, or None when it is malformed (a hand-edited URL)."""
    if not cursor or len(cursor) > 2000:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != length:
            return None
        return [_decode_value(v) for v in values]
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        return None


def _after(fields: Sequence[str], values: Sequence[Any], descending: bool) -> Q:
    """Rows strictly after `values` in the order of `fields` (all ascending or all descending)."""
    op = "lt" if descending else "gt"
    condition = Q()
    for i, field in enumerate(fields):
        step = Q(**{f"{f}": v for f, v in zip(fields[:i], values[:i], strict=True)})
        step &= Q(**{f"{field}__{op}": values[i]})
        condition |= step
    # Implied by the OR above, but a plain range on the leading column is what lets the
    # database start the index scan at the cursor instead of filtering every row before it.
    first_op = "lte" if descending else "gte"
    return Q(**{f"{fields[0]}__{first_op}": values[0]}) & condition


@dataclass
class KeysetPage:
    rows: list[Any]
    next_cursor: str | None
    prev_cursor: str | None
    is_first: bool


def keyset_page(
    queryset: QuerySet,
    *,
    fields: Sequence[str],
    descending: bool,
    after: str | None = None,
    before: str | None = None,
    size: int = PAGE_SIZE,
) -> KeysetPage:
    """One page of `queryset` ordered by `fields` (the last one unique, e.g. "id").

    `after` gives the page following a cursor, `before` the page preceding one.
    """
    fields = list(fields)
    order = [f"-{f}" if descending else f for f in fields]
    reverse_order = [f if descending else f"-{f}" for f in fields]
    after_values = decode_cursor(after, len(fields)) if after else None
    before_values = decode_cursor(before, len(fields)) if before else None

    if before_values is not None:
        qs = queryset.filter(_after(fields, before_values, not descending)).order_by(*reverse_order)
        rows = list(qs[: size + 1])
        has_more_before = len(rows) > size
        rows = list(reversed(rows[:size]))
        is_first = not has_more_before
        has_next = True
    else:
        qs = queryset
        if after_values is not None:
            qs = qs.filter(_after(fields, after_values, descending))
        rows = list(qs.order_by(*order)[: size + 1])
        has_next = len(rows) > size
        rows = rows[:size]
        is_first = after_values is None

    def cursor_of(row: Any) -> str:
        return encode_cursor([_attr(row, f) for f in fields])

    return KeysetPage(
        rows=rows,
        next_cursor=cursor_of(rows[-1]) if rows and has_next else None,
        prev_cursor=cursor_of(rows[0]) if rows and not is_first else None,
        is_first=is_first,
    )


def _attr(row: Any, field: str) -> Any:
    value = row
    for part in field.split("__"):
        value = getattr(value, part)
    return value


def listing_page(
    queryset: QuerySet,
    params: Any,
    *,
    fields: Sequence[str],
    descending: bool = True,
    cap: int = COUNT_CAP,
    page_queryset: QuerySet | None = None,
) -> dict[str, Any]:
    """What a list template shows: the page at the query string's cursor (`after`/`before`),
    the bounded count and whether it was capped, and the parameters themselves.

    `page_queryset`: the same rows with what only the page needs (select/prefetch_related),
    kept out of the count.
    """
    page = keyset_page(
        queryset if page_queryset is None else page_queryset,
        fields=fields,
        descending=descending,
        after=params.get("after"),
        before=params.get("before"),
    )
    count, capped = bounded_count(queryset, cap=cap)
    return {"page": page, "count": count, "capped": capped, "params": params}
