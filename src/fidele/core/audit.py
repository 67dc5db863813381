"""Writing the audit trail. Every service that changes data calls `audit_record`."""

from __future__ import annotations

from typing import Any

from django.db import models

from fidele.core.actors import Actor, actor_label_for
from fidele.core.models import AuditLog


def audit_record(
    *,
    actor: Actor,
    action: str,
    obj: models.Model | None = None,
    object_type: str | None = None,
    object_id: Any = "",
    object_repr: str = "",
    changes: dict[str, Any] | None = None,
    ip_address: str | None = None,
    actor_label: str | None = None,
) -> AuditLog:
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
        object_repr = object_repr or str(obj)[:200]
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditLog.objects.create(
        actor=user,
        actor_label=actor_label or actor_label_for(actor),
        action=action,
        object_type=object_type or "",
        object_id=str(object_id or ""),
        object_repr=object_repr[:200],
        changes=changes or {},
        ip_address=ip_address,
    )


def model_changes(instance: models.Model, new_values: dict[str, Any]) -> dict[str, list[Any]]:
    """`{field: [old, new]}` for the fields whose value changes, JSON-friendly."""
    diff: dict[str, list[Any]] = {}
    for field, new in new_values.items():
        old = getattr(instance, field, None)
        if old != new:
            diff[field] = [_jsonable(old), _jsonable(new)]
    return diff


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool, list, dict)):
        return value
    return str(value)
