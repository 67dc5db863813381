"""Segment rules (DESIGN.md, "Segment rules (JSON)") compiled into one ORM query.

A rule is a group (`{"all": [...]}`, `{"any": [...]}`, `{"not": RULE}`) or a leaf; each kind of
leaf is one small class in the registry of `fidele.segments.leaves` (field, tag, list, orders,
email, rfm; an app above registers its own from its `ready()`). Compiling walks the JSON once,
checks every name and value, and returns a `Q` made of column comparisons, EXISTS and `IN
(SELECT ... GROUP BY ... HAVING ...)` subqueries: the database counts a segment in one statement,
and no user value is ever part of the SQL text (the ORM passes them all as parameters).

A rule that names something unknown, or carries a malformed value, raises `RuleError` with the
JSON path of the culprit (`$.all[2].orders.count_gte: expected a whole number, got "x"`) before
anything runs.

Every leaf compiles to a condition that is never NULL (a nullable column is guarded), so that
`{"not": ...}` is the exact complement of its rule on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from fidele.contacts.models import Contact
from fidele.segments.errors import (
    MAX_DEPTH,
    MAX_JSON_BYTES,
    MAX_NODES,
    MAX_VALUES,
    RuleError,
    shown,
)
from fidele.segments.leaves import leaf_for, leaves

__all__ = ["MAX_VALUES", "RuleError", "rule_condition", "segment_contacts", "segment_count"]

GROUPS = ("all", "any", "not")


@dataclass
class Compiler:
    """One compilation: counts the nodes against MAX_NODES."""

    nodes: int = 0

    def compile(self, rule: Any, path: str = "$", depth: int = 0) -> Q:
        if depth > MAX_DEPTH:
            raise RuleError(
                path, _("groups nest too deep (at most %(max)d levels)") % {"max": MAX_DEPTH}
            )
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise RuleError(path, _("too many conditions (at most %(max)d)") % {"max": MAX_NODES})
        if not isinstance(rule, dict):
            raise RuleError(
                path, _("expected a group or a condition, got %(v)s") % {"v": shown(rule)}
            )
        groups = [key for key in GROUPS if key in rule]
        if groups:
            if len(rule) != 1:
                raise RuleError(
                    path,
                    _("a group has exactly one key (all, any or not), got %(keys)s")
                    % {"keys": ", ".join(sorted(map(str, rule)))},
                )
            key = groups[0]
            if key == "not":
                return ~self.compile(rule["not"], f"{path}.not", depth + 1)
            items = rule[key]
            if not isinstance(items, list):
                raise RuleError(
                    f"{path}.{key}", _("expected a list of rules, got %(v)s") % {"v": shown(items)}
                )
            parts = [
                self.compile(item, f"{path}.{key}[{index}]", depth + 1)
                for index, item in enumerate(items)
            ]
            if not parts:
                # An empty "all" holds for everyone, an empty "any" for no one (as in logic).
                return Q() if key == "all" else Q(pk__in=[])
            combined = parts[0]
            for part in parts[1:]:
                combined = combined & part if key == "all" else combined | part
            return combined
        leaf = leaf_for(rule)
        if leaf is None:
            raise RuleError(
                path,
                _("unknown rule %(keys)s (expected all, any, not or one of: %(kinds)s)")
                % {"keys": shown(sorted(map(str, rule))), "kinds": ", ".join(leaf_kinds())},
            )
        return leaf.compile(rule, path)


def leaf_kinds() -> list[str]:
    return sorted(leaves())


def rule_parse(text: str | bytes) -> Any:
    """The rule in a JSON text, or RuleError at `$`."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if len(text) > MAX_JSON_BYTES:
        raise RuleError(
            "$", _("the rule is too long (at most %(max)d characters)") % {"max": MAX_JSON_BYTES}
        )
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise RuleError("$", _("not valid JSON (%(error)s)") % {"error": str(exc)[:120]}) from exc


def rule_condition(rule: Any) -> Q:
    """The rule as one condition on Contact; RuleError when it cannot run."""
    return Compiler().compile(rule)


def rule_check(rule: Any) -> None:
    """Raise RuleError if the rule cannot run (names looked up, nothing counted)."""
    rule_condition(rule)


def segment_contacts(rule: Any) -> QuerySet[Contact]:
    """The contacts the rule selects (not ordered)."""
    return Contact.objects.filter(rule_condition(rule))


def segment_count(rule: Any) -> tuple[int, float]:
    """(members, milliseconds the count took, compilation included)."""
    started = time.perf_counter()
    count = segment_contacts(rule).order_by().count()
    return count, round((time.perf_counter() - started) * 1000, 2)
