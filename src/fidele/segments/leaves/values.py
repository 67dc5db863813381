"""Checking the values of a rule's leaves: each helper returns the value as the query needs it,
or raises RuleError naming the JSON path and what was expected."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from fidele.segments.errors import MAX_VALUES, RuleError, shown

# A bound on day counts and amounts: far beyond any real window, and inside every database's
# integer and decimal types (a huge number is refused here, not by the database).
MAX_DAYS = 36_500
MAX_COUNT = 10_000_000
MAX_AMOUNT = Decimal("1e12")
MAX_TEXT = 200


def keys_check(node: dict[str, Any], allowed: frozenset[str], path: str) -> None:
    for key in node:
        if key not in allowed:
            raise RuleError(
                f"{path}.{key}" if isinstance(key, str) else path,
                _("unknown key %(key)s (expected one of: %(keys)s)")
                % {"key": shown(key), "keys": ", ".join(sorted(allowed))},
            )


def whole_number(value: Any, path: str, *, maximum: int = MAX_COUNT) -> int:
    # JSON booleans are Python ints: true is not a count.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RuleError(path, _("expected a whole number, got %(v)s") % {"v": shown(value)})
    if isinstance(value, float) and not value.is_integer():
        raise RuleError(path, _("expected a whole number, got %(v)s") % {"v": shown(value)})
    number = int(value)
    if not 0 <= number <= maximum:
        raise RuleError(
            path,
            _("expected a whole number from 0 to %(max)d, got %(v)s")
            % {"max": maximum, "v": shown(value)},
        )
    return number


def amount(value: Any, path: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RuleError(path, _("expected a number, got %(v)s") % {"v": shown(value)})
    if isinstance(value, float) and not math.isfinite(value):
        raise RuleError(path, _("expected a number, got %(v)s") % {"v": shown(value)})
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        raise RuleError(path, _("expected a number, got %(v)s") % {"v": shown(value)}) from None
    if not number.is_finite() or abs(number) > MAX_AMOUNT:
        raise RuleError(path, _("expected a number, got %(v)s") % {"v": shown(value)})
    return number


def text(value: Any, path: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise RuleError(path, _("expected a text, got %(v)s") % {"v": shown(value)})
    if len(value) > MAX_TEXT:
        raise RuleError(
            path, _("the text is too long (at most %(max)d characters)") % {"max": MAX_TEXT}
        )
    if not value.strip() and not allow_empty:
        raise RuleError(path, _("expected a text, got %(v)s") % {"v": shown(value)})
    return value


def date(value: Any, path: str) -> dt.date:
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise RuleError(path, _("expected a date as YYYY-MM-DD, got %(v)s") % {"v": shown(value)})


def one_or_many(value: Any, path: str, read: Any) -> list[Any]:
    """A value or a non-empty list of them (at most MAX_VALUES), each read by `read(v, path)`."""
    if isinstance(value, list):
        if not value:
            raise RuleError(path, _("expected at least one value"))
        if len(value) > MAX_VALUES:
            raise RuleError(path, _("too many values (at most %(max)d)") % {"max": MAX_VALUES})
        return [read(item, f"{path}[{index}]") for index, item in enumerate(value)]
    return [read(value, path)]
