"""`{"field": NAME, "op": OP, "value": V}`: a contact's own field or a custom attribute
(`"attr.<key>"`), with the operators its type allows.

Free text (names, city, address, source and custom attributes) is compared as the contacts
search compares names: accents, case, hyphens and apostrophes ignored (`Folded`, the same SQL on
both databases). Codes (email, postal code, country, language...) are compared as stored, the
value normalised the way the app stores them. `ne` and `not_in` are the exact complement of `eq`
and `in`: a contact without the value (an empty birth date, no such attribute) is "not equal".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.db.models import F, Q, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Trim
from django.db.models.lookups import Contains as ContainsLookup
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    IsNull,
    LessThan,
    LessThanOrEqual,
    StartsWith,
)
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fidele.contacts.normalize import name_fold
from fidele.contacts.search import Folded
from fidele.segments.errors import RuleError, shown
from fidele.segments.leaves import values
from fidele.segments.sql import AttributeIsoDate, AttributeNumber

TEXT_OPS = ("eq", "ne", "in", "not_in", "contains", "starts_with", "is_empty", "is_not_empty")
DATE_OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "is_empty", "is_not_empty", "within_last_days")
BOOL_OPS = ("eq", "ne")
ATTR_OPS = (*TEXT_OPS, "lt", "lte", "gt", "gte", "within_last_days")
ALL_OPS = (
    "eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "contains", "starts_with",
    "is_empty", "is_not_empty", "within_last_days",
)  # fmt: skip

# name -> (type, label). Types: text (folded), code (as stored), date, datetime, bool.
FIELDS: dict[str, tuple[str, Any]] = {
    "email": ("code", gettext_lazy("Email")),
    "first_name": ("text", gettext_lazy("First name")),
    "last_name": ("text", gettext_lazy("Last name")),
    "city": ("text", gettext_lazy("City")),
    "postal_code": ("code", gettext_lazy("Postal code")),
    "country": ("code", gettext_lazy("Country")),
    "language": ("code", gettext_lazy("Language")),
    "address": ("text", gettext_lazy("Address")),
    "phone": ("code", gettext_lazy("Phone")),
    "external_id": ("code", gettext_lazy("Customer number")),
    "civility": ("code", gettext_lazy("Title")),
    "status": ("code", gettext_lazy("Status")),
    "source": ("text", gettext_lazy("Source")),
    "birth_date": ("date", gettext_lazy("Birth date")),
    "joined_on": ("date", gettext_lazy("Customer since")),
    "created_at": ("datetime", gettext_lazy("Created")),
    "last_engaged_at": ("datetime", gettext_lazy("Last opened or clicked")),
    "tracking_allowed": ("bool", gettext_lazy("Opens and clicks measured")),
}
OPS_OF = {"text": TEXT_OPS, "code": TEXT_OPS, "date": DATE_OPS, "datetime": DATE_OPS}
OPS_OF["bool"] = BOOL_OPS
OPS_OF["attr"] = ATTR_OPS
NULLABLE = {"email", "external_id", "birth_date", "joined_on", "last_engaged_at"}
# How the app stores each code, so that "fr" finds "FR" and "Marie@X.fr" finds "marie@x.fr".
CODE_NORMALISE: dict[str, Callable[[str], str]] = {
    "email": lambda v: v.strip().lower(),
    "country": lambda v: v.strip().upper(),
    "language": lambda v: v.strip().lower(),
    "postal_code": lambda v: v.strip().upper(),
}
ATTR_PREFIX = "attr."
NO_VALUE_OPS = ("is_empty", "is_not_empty")
NEGATIONS = {"ne": "eq", "not_in": "in"}


class FieldLeaf:
    key = "field"
    keys = frozenset({"field", "op", "value"})

    def compile(self, node: dict[str, Any], path: str) -> Q:
        values.keys_check(node, self.keys, path)
        name = node.get("field")
        op = node.get("op")
        if not isinstance(name, str):
            raise RuleError(
                f"{path}.field", _("expected a field name, got %(v)s") % {"v": shown(name)}
            )
        if name.startswith(ATTR_PREFIX):
            key = name[len(ATTR_PREFIX) :]
            if not key or len(key) > 100:
                raise RuleError(
                    f"{path}.field", _("expected attr.<key>, got %(v)s") % {"v": shown(name)}
                )
            kind = "attr"
        elif name in FIELDS:
            key = name
            kind = FIELDS[name][0]
        else:
            raise RuleError(
                f"{path}.field",
                _("unknown field %(v)s (expected one of: %(names)s, or attr.<key>)")
                % {"v": shown(name), "names": ", ".join(FIELDS)},
            )
        allowed = OPS_OF[kind]
        if op not in allowed:
            if op in ALL_OPS:
                message = _(
                    "the operator %(op)s does not apply to %(field)s (expected one of: %(ops)s)"
                )
            else:
                message = _("unknown operator %(op)s (expected one of: %(ops)s)")
            raise RuleError(
                f"{path}.op", message % {"op": shown(op), "field": name, "ops": ", ".join(allowed)}
            )
        if op in NO_VALUE_OPS:
            if "value" in node and node["value"] not in (None, ""):
                raise RuleError(f"{path}.value", _("%(op)s takes no value") % {"op": op})
        elif "value" not in node:
            raise RuleError(f"{path}.value", _("a value is needed"))
        value_path = f"{path}.value"
        value = node.get("value")
        if op in NEGATIONS:
            return ~self._positive(kind, key, NEGATIONS[op], value, value_path)
        if op == "is_not_empty":
            return ~self._positive(kind, key, "is_empty", value, value_path)
        return self._positive(kind, key, op, value, value_path)

    def _positive(self, kind: str, key: str, op: str, value: Any, path: str) -> Q:
        if kind == "attr":
            return _attribute(key, op, value, path)
        if kind == "bool":
            if not isinstance(value, bool):
                raise RuleError(path, _("expected true or false, got %(v)s") % {"v": shown(value)})
            return Q(**{key: value})
        if kind in ("date", "datetime"):
            return _dated(key, kind, op, value, path)
        if op == "is_empty":
            condition = Q(**{key: ""})
            return condition | Q(**{f"{key}__isnull": True}) if key in NULLABLE else condition
        if kind == "code":
            normalise = CODE_NORMALISE.get(key, str.strip)
            read = lambda v, p: normalise(values.text(v, p))  # noqa: E731
            if op == "in":
                return Q(**{f"{key}__in": values.one_or_many(value, path, read)})
            lookup = {"eq": "exact", "contains": "contains", "starts_with": "startswith"}[op]
            return Q(**{f"{key}__{lookup}": read(value, path)})
        # Free text: both sides folded; the column is never NULL.
        return _folded(Folded(F(key)), op, value, path)


def _fold_value(value: Any, path: str) -> str:
    folded = name_fold(values.text(value, path))
    if not folded:
        raise RuleError(path, _("expected a text, got %(v)s") % {"v": shown(value)})
    return folded


def _folded(expression: Any, op: str, value: Any, path: str) -> Q:
    if op == "in":
        return Q(In(expression, values.one_or_many(value, path, _fold_value)))
    lookup = {"eq": Exact, "contains": ContainsLookup, "starts_with": StartsWith}[op]
    return Q(lookup(expression, _fold_value(value, path)))


COMPARE = {"lt": LessThan, "lte": LessThanOrEqual, "gt": GreaterThan, "gte": GreaterThanOrEqual}


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _dated(key: str, kind: str, op: str, value: Any, path: str) -> Q:
    if op == "is_empty":
        # created_at is never empty; the others are NULL when unknown.
        return Q(**{f"{key}__isnull": True}) if key in NULLABLE else Q(pk__in=[])
    now = timezone.now()
    if op == "within_last_days":
        days = values.whole_number(value, path, maximum=values.MAX_DAYS)
        if kind == "date":
            today = timezone.localdate()
            return Q(**{f"{key}__gte": today - dt.timedelta(days=days), f"{key}__lte": today})
        return Q(**{f"{key}__gte": now - dt.timedelta(days=days), f"{key}__lte": now})
    day = values.date(value, path)
    if kind == "date":
        lookup = {"eq": "exact", "lt": "lt", "lte": "lte", "gt": "gt", "gte": "gte"}[op]
        return Q(**{f"{key}__{lookup}": day})
    # A moment compared with a day: the day runs from local midnight to the next.
    start, end = _day_start(day), _day_start(day + dt.timedelta(days=1))
    if op == "eq":
        return Q(**{f"{key}__gte": start, f"{key}__lt": end})
    bound = {"lt": ("lt", start), "lte": ("lt", end), "gt": ("gte", end), "gte": ("gte", start)}
    lookup, moment = bound[op]
    return Q(**{f"{key}__{lookup}": moment})


def _attribute(key: str, op: str, value: Any, path: str) -> Q:
    raw = KeyTextTransform(key, "attributes")
    present = Q(IsNull(raw, False))
    if op == "is_empty":
        return Q(IsNull(raw, True)) | Q(Exact(Trim(Cast(raw, TextField())), ""))
    if op in COMPARE or op == "within_last_days":
        if op == "within_last_days":
            days = values.whole_number(value, path, maximum=values.MAX_DAYS)
            today = timezone.localdate()
            as_date = AttributeIsoDate(raw)
            return (
                Q(GreaterThanOrEqual(as_date, (today - dt.timedelta(days=days)).isoformat()))
                & Q(LessThanOrEqual(as_date, today.isoformat()))
                & Q(IsNull(as_date, False))
            )
        if isinstance(value, str) and len(value.strip()) == 10 and value.strip()[4:5] == "-":
            as_date = AttributeIsoDate(raw)
            day = values.date(value, path).isoformat()
            return Q(COMPARE[op](as_date, day)) & Q(IsNull(as_date, False))
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RuleError(
                path,
                _("expected a number or a date as YYYY-MM-DD, got %(v)s") % {"v": shown(value)},
            )
        number = AttributeNumber(raw)
        return Q(COMPARE[op](number, float(values.amount(value, path)))) & Q(IsNull(number, False))
    return _folded(Folded(Cast(raw, TextField())), op, value, path) & present
