"""A rule told in words for the segment's page: one line per group and per condition, indented by
depth ("All of these:", "City is Bergerac", "Orders: at least 2 in the last 365 days"), so that
a reader sees who is in the segment without reading its JSON. Labels are the builder's
(fidele.segments.builder). A part it does not know (a leaf registered by an app above) is shown
as its JSON."""

from __future__ import annotations

import json
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from fidele.segments.builder import event_labels, operator_labels
from fidele.segments.leaves.field import FIELDS
from fidele.segments.rfm_segments import RFM_SEGMENTS

MAX_SHOWN_DEPTH = 4


def rule_lines(rule: Any) -> list[tuple[int, str]]:
    """(depth, sentence) for every group and condition of the rule, in order; depths beyond
    MAX_SHOWN_DEPTH are shown at it (a page has no room for twelve indents)."""
    lines: list[tuple[int, str]] = []
    _walk(rule, 0, False, lines)
    return [(min(depth, MAX_SHOWN_DEPTH), text) for depth, text in lines]


def _walk(rule: Any, depth: int, negated: bool, lines: list[tuple[int, str]]) -> None:
    if isinstance(rule, dict) and len(rule) == 1 and "not" in rule:
        _walk(rule["not"], depth, not negated, lines)
        return
    items = rule.get("all", rule.get("any")) if isinstance(rule, dict) and len(rule) == 1 else None
    if isinstance(items, list):
        if "all" in rule:
            head = _("None of these at once:") if negated else _("All of these:")
        else:
            head = _("None of these:") if negated else _("Any of these:")
        lines.append((depth, head))
        for item in items:
            _walk(item, depth + 1, False, lines)
        return
    text = _leaf(rule)
    lines.append((depth, _("NOT: %(condition)s") % {"condition": text} if negated else text))


def _leaf(rule: Any) -> str:
    if not isinstance(rule, dict):
        return _shown(rule)
    if "field" in rule:
        return _field(rule)
    if "tag" in rule:
        return _("Tagged %(v)s") % {"v": _values(rule["tag"])}
    if "list" in rule:
        return _("Subscribed to %(v)s") % {"v": _values(rule["list"])}
    if "rfm" in rule:
        codes = rule["rfm"] if isinstance(rule["rfm"], list) else [rule["rfm"]]
        names = [str(RFM_SEGMENTS.get(code, code)) for code in codes]
        return _("RFM segment: %(v)s") % {"v": _values(names)}
    if isinstance(rule.get("orders"), dict):
        return _orders(rule["orders"])
    if isinstance(rule.get("email"), dict):
        return _email(rule["email"])
    return _shown(rule)


def _field(rule: dict[str, Any]) -> str:
    name = str(rule.get("field", ""))
    if name.startswith("attr."):
        label = _("custom field “%(key)s”") % {"key": name[5:]}
    else:
        label = str(FIELDS[name][1]) if name in FIELDS else name
    op = rule.get("op", "")
    if op in ("is_empty", "is_not_empty"):
        return f"{label} {operator_labels()[op]}"
    value = rule.get("value")
    if op == "within_last_days":
        return _("%(field)s in the last %(n)s days") % {"field": label, "n": value}
    if op in ("in", "not_in"):
        said = _("is one of") if op == "in" else _("is none of")
        return f"{label} {said} {_values(value)}"
    if isinstance(value, bool):
        value = _("yes") if value else _("no")
    return f"{label} {operator_labels().get(op, op)} {value}"


def _orders(spec: dict[str, Any]) -> str:
    parts = []
    count_gte, count_lte = spec.get("count_gte"), spec.get("count_lte")
    if count_lte == 0:
        parts.append(_("none"))
    else:
        if count_gte is not None or count_lte is None:
            parts.append(_("at least %(n)s") % {"n": 1 if count_gte is None else count_gte})
        if count_lte is not None:
            parts.append(_("at most %(n)s") % {"n": count_lte})
    if "since_days" in spec:
        parts.append(_("in the last %(n)s days") % {"n": spec["since_days"]})
    if "product" in spec:
        parts.append(_("of the product %(v)s") % {"v": _values(spec["product"])})
    if "category" in spec:
        parts.append(_("in the category %(v)s") % {"v": _values(spec["category"])})
    if "total_gte" in spec:
        parts.append(_("spending at least %(n)s €") % {"n": spec["total_gte"]})
    if "total_lte" in spec:
        parts.append(_("spending at most %(n)s €") % {"n": spec["total_lte"]})
    if "last_within_days" in spec:
        parts.append(_("the last one within %(n)s days") % {"n": spec["last_within_days"]})
    return _("Orders: %(what)s") % {"what": ", ".join(parts)}


def _email(spec: dict[str, Any]) -> str:
    event = str(event_labels().get(spec.get("event", ""), spec.get("event", "")))
    count_gte, count_lte = spec.get("count_gte"), spec.get("count_lte")
    if count_lte == 0 and not count_gte:
        # The "did not" form: only those who were sent something can have not done it.
        text = _("Emails: %(event)s 0 times, though sent one") % {"event": event}
    else:
        times = []
        if count_gte is not None or count_lte is None:
            n = 1 if count_gte is None else count_gte
            times.append(ngettext("at least %(n)s time", "at least %(n)s times", n) % {"n": n})
        if count_lte is not None:
            times.append(
                ngettext("at most %(n)s time", "at most %(n)s times", count_lte) % {"n": count_lte}
            )
        text = _("Emails: %(event)s %(times)s") % {"event": event, "times": ", ".join(times)}
    if "within_days" in spec:
        text += " " + _("in the last %(n)s days") % {"n": spec["within_days"]}
    if "campaign" in spec:
        text += " " + _("(campaign %(v)s)") % {"v": _values(spec["campaign"])}
    return text


def _values(value: Any) -> str:
    items = value if isinstance(value, list) else [value]
    return ", ".join(
        _("“%(v)s”") % {"v": item} if isinstance(item, str) else str(item) for item in items
    )


def _shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)[:200]
