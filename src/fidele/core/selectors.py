"""Reads of the audit trail for the owner's audit log page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.utils import timezone

from fidele.core.models import AuditLog

SYSTEM = "system"


@dataclass
class AuditFilters:
    user: str = ""
    action: str = ""
    object_type: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return bool(self.user or self.action or self.object_type or self.date_from or self.date_to)


def _parse_date(value: str, name: str, errors: list[str]) -> dt.date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        errors.append(name)
        return None


def audit_filters_parse(params: Mapping[str, str]) -> AuditFilters:
    """Filters from the query string; malformed values are dropped and named in `errors`."""
    errors: list[str] = []
    user = (params.get("user") or "").strip()
    if user and user != SYSTEM and not user.isdigit():
        user = ""
    action = (params.get("action") or "").strip()
    if action not in AuditLog.Action.values:
        action = ""
    return AuditFilters(
        user=user,
        action=action,
        object_type=(params.get("type") or "").strip()[:50],
        date_from=_parse_date(params.get("from", ""), "from", errors),
        date_to=_parse_date(params.get("to", ""), "to", errors),
        errors=errors,
    )


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def audit_entries(*, filters: AuditFilters) -> QuerySet[AuditLog]:
    """Entries matching the filters. Date bounds are whole local days, compared on `at` itself
    (not on a date extracted from it) so that the index on `at` is used."""
    queryset = AuditLog.objects.select_related("actor")
    if filters.user == SYSTEM:
        queryset = queryset.filter(actor__isnull=True)
    elif filters.user:
        queryset = queryset.filter(actor_id=int(filters.user))
    if filters.action:
        queryset = queryset.filter(action=filters.action)
    if filters.object_type:
        queryset = queryset.filter(object_type=filters.object_type)
    if filters.date_from:
        queryset = queryset.filter(at__gte=_day_start(filters.date_from))
    if filters.date_to:
        queryset = queryset.filter(at__lt=_day_start(filters.date_to + dt.timedelta(days=1)))
    return queryset


def audit_object_types() -> list[str]:
    return list(
        AuditLog.objects.order_by("object_type")
        .values_list("object_type", flat=True)
        .distinct()
        .exclude(object_type="")
    )
