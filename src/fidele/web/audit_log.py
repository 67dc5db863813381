"""The audit log page: who did what, when, on which object. Owners only.

An entry keeps what its service wrote; fidele.web.details turns it into something an owner reads
in their language, with the records it names as their current names, linked.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy

from fidele.core import selectors
from fidele.core.actors import actor_label_display
from fidele.core.models import AuditLog
from fidele.core.permissions import OWNER, require_role
from fidele.ui.pagination import keyset_page
from fidele.web.details import (
    OBJECT_URLS,
    REFERENCE_KEYS,
    Change,
    Linked,
    describe_details,
    linked_records,
    model_of,
    references,
)

# Record types that are not models.
OBJECT_TYPE_LABELS = {"demo": gettext_lazy("Demo shop")}


@dataclass
class Row:
    entry: AuditLog
    who: str
    type_label: str
    url: str | None
    name: str
    changes: list[Change]

    @property
    def gone(self) -> bool:
        """A record of a type we can show, deleted (or erased) since."""
        return (
            self.url is None
            and bool(self.entry.object_id)
            and self.entry.object_type in OBJECT_URLS
        )


def type_label(object_type: str) -> str:
    if object_type in OBJECT_TYPE_LABELS:
        return capfirst(str(OBJECT_TYPE_LABELS[object_type]))
    model = model_of(object_type)
    if model is not None:
        return capfirst(str(model._meta.verbose_name))
    return capfirst(object_type.replace("_", " ")) if object_type else "—"


def describe_changes(
    entry: AuditLog, linked: dict[tuple[str, str], Linked] | None = None
) -> list[Change]:
    """`{field: [old, new]}` -> "Field: old → new"; any other value -> "Field: value"."""
    changes = entry.changes if isinstance(entry.changes, dict) else {}
    # An id of the entry's own record ("import_id" of an import) repeats the Record column.
    own = {
        key
        for key, object_type in REFERENCE_KEYS.items()
        if object_type == entry.object_type and str(changes.get(key)) == entry.object_id
    }
    details = {key: value for key, value in changes.items() if key not in own}
    return describe_details(details, model=model_of(entry.object_type), linked=linked)


def _linked(entries: list[AuditLog]) -> dict[tuple[str, str], Linked]:
    """The records this page names: each entry's own, and those its details name by id."""
    wanted = [
        (entry.object_type, int(entry.object_id))
        for entry in entries
        if entry.object_type in OBJECT_URLS and entry.object_id.isdigit()
    ]
    for entry in entries:
        wanted.extend(references(entry.changes))
    return linked_records(wanted)


def _who(entry: AuditLog) -> str:
    if entry.actor is not None:
        return entry.actor.get_full_name() or entry.actor.username
    return actor_label_display(entry.actor_label)


def _row(entry: AuditLog, linked: dict[tuple[str, str], Linked]) -> Row:
    record = linked.get((entry.object_type, entry.object_id))
    if record is not None:
        name = record.name
    else:
        name = entry.object_repr or (f"#{entry.object_id}" if entry.object_id else "—")
    return Row(
        entry=entry,
        who=_who(entry),
        type_label=type_label(entry.object_type),
        url=record.url if record is not None else None,
        name=name,
        changes=describe_changes(entry, linked),
    )


@require_role(OWNER)
def audit_log(request: HttpRequest) -> HttpResponse:
    filters = selectors.audit_filters_parse(request.GET)
    page = keyset_page(
        selectors.audit_entries(filters=filters),
        fields=["at", "id"],
        descending=True,
        after=request.GET.get("after"),
        before=request.GET.get("before"),
    )
    linked = _linked(page.rows)
    context = {
        "page": page,
        "rows": [_row(entry, linked) for entry in page.rows],
        "filters": filters,
        "users": get_user_model().objects.order_by("username"),
        "actions": AuditLog.Action.choices,
        "object_types": [(t, type_label(t)) for t in selectors.audit_object_types()],
        "system": selectors.SYSTEM,
    }
    return render(request, "web/audit_log.html", context)
