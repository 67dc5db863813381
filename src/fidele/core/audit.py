"""Writing the audit trail. Every service that changes data calls `audit_record`."""

from __future__ import annotations

from collections.abc import Iterable
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


def audit_record_many(
    *,
    actor: Actor,
    action: str,
    object_type: str,
    entries: Iterable[tuple[Any, str, dict[str, Any]]],
) -> int:
    """One entry per (object id, object repr, changes), written in batches: a bulk correction of
    a thousand contacts leaves a thousand lines on their pages, without a thousand INSERTs."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    label = actor_label_for(actor)
    rows = [
        AuditLog(
            actor=user,
            actor_label=label,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            object_repr=object_repr[:200],
            changes=changes,
        )
        for object_id, object_repr, changes in entries
    ]
    AuditLog.objects.bulk_create(rows, batch_size=500)
    return len(rows)


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
