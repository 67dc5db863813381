"""The contacts list's `?segment=ID` and `?rules=JSON`, handed down to contacts from
SegmentsConfig.ready(): the list page, its export and `fidele export contacts` select a segment's
contacts through the one engine of `fidele.segments.rules`, without contacts (a lower layer)
knowing segments exist. A value that does not name a segment, or a rule that cannot run, is
ignored like the list's other malformed filters (describe() returns "")."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from fidele.contacts.models import Contact
from fidele.segments.models import Segment
from fidele.segments.rules import MAX_JSON_BYTES, RuleError, rule_condition, rule_parse

SEGMENT_PARAM = "segment"
RULES_PARAM = "rules"
RULES_MAX_LENGTH = MAX_JSON_BYTES


def _segment(value: str) -> Segment | None:
    return Segment.objects.filter(pk=int(value)).first() if value.isdigit() else None


def contacts_in_segment(queryset: QuerySet[Contact], value: str) -> QuerySet[Contact]:
    segment = _segment(value)
    if segment is None:
        return queryset
    try:
        return queryset.filter(rule_condition(segment.rules))
    except RuleError:
        # A segment whose tag or list was deleted since: no one, rather than everyone.
        return queryset.none()


def segment_filter_describe(value: str) -> str:
    segment = _segment(value)
    return _("In the segment “%(name)s”") % {"name": segment.name} if segment else ""


def contacts_matching_rules(queryset: QuerySet[Contact], value: str) -> QuerySet[Contact]:
    try:
        return queryset.filter(rule_condition(rule_parse(value)))
    except RuleError:
        return queryset


def rules_filter_describe(value: str) -> str:
    try:
        rule_condition(rule_parse(value))
    except RuleError:
        return ""
    return _("Matching a segment rule")
