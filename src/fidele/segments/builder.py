"""What the builder's script needs to draw a rule: the fields with their types and operators,
the kinds of leaves, the values that exist (cities, tags, lists, categories, RFM segments), all
labelled in the reader's language."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from fidele.segments.leaves.email import EVENTS
from fidele.segments.leaves.field import FIELDS, OPS_OF
from fidele.segments.rfm_segments import RFM_SEGMENTS
from fidele.segments.selectors import builder_suggestions


def builder_config() -> dict[str, Any]:
    ops = {
        "eq": _("is"),
        "ne": _("is not"),
        "lt": _("is before / less than"),
        "lte": _("is on or before / at most"),
        "gt": _("is after / more than"),
        "gte": _("is on or after / at least"),
        "in": _("is one of (commas)"),
        "not_in": _("is none of (commas)"),
        "contains": _("contains"),
        "starts_with": _("starts with"),
        "is_empty": _("is empty"),
        "is_not_empty": _("is not empty"),
        "within_last_days": _("in the last … days"),
    }
    events = {
        "delivered": _("was sent"),
        "open": _("opened"),
        "click": _("clicked"),
        "bounce": _("bounced"),
        "unsubscribe": _("unsubscribed"),
        "complaint": _("complained"),
    }
    return {
        "fields": [
            {"name": name, "label": str(label), "type": kind, "ops": list(OPS_OF[kind])}
            for name, (kind, label) in FIELDS.items()
        ],
        "attr_ops": list(OPS_OF["attr"]),
        "ops": ops,
        "events": [{"code": code, "label": events[code]} for code in EVENTS],
        "rfm": [{"code": code, "label": str(label)} for code, label in RFM_SEGMENTS.items()],
        "suggestions": builder_suggestions(),
        "text": {
            "all": _("all of these"),
            "any": _("any of these"),
            "not": _("NOT"),
            "match": _("Contacts matching"),
            "add_condition": _("+ Condition"),
            "add_group": _("+ Group"),
            "remove": _("Remove"),
            "attr": _("Custom field…"),
            "attr_key": _("Custom field key"),
            "value": _("Value"),
            "kind": _("Kind of condition"),
            "kinds": {
                "field": _("Field"),
                "tag": _("Tag"),
                "list": _("Subscribed to a list"),
                "orders": _("Orders"),
                "email": _("Emails"),
                "rfm": _("RFM segment"),
            },
            "field": _("Field"),
            "operator": _("Operator"),
            "since_days": _("in the last … days (empty: all)"),
            "count_gte": _("at least … times"),
            "count_lte": _("at most … times"),
            "total_gte": _("spent at least (€)"),
            "total_lte": _("spent at most (€)"),
            "last_within_days": _("last order within … days"),
            "product": _("product (SKU)"),
            "category": _("category"),
            "event": _("event"),
            "within_days": _("in the last … days"),
            "campaign": _("campaign number (empty: any)"),
            "did_not": _(
                "“at most 0 times” means: was sent an email in that window and did not do it."
            ),
            "yes": _("yes"),
            "no": _("no"),
            "json_invalid": _("The JSON below cannot be read: fix it or keep editing here."),
        },
    }
