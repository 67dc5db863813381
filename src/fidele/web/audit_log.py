"""The audit log page: who did what, when, on which object. Owners only."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.formats import localize
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fidele.core import selectors
from fidele.core.models import AuditLog
from fidele.core.permissions import OWNER, require_role
from fidele.ui.pagination import keyset_page

# Where an object of each audited type is shown. Types not listed are shown without a link.
OBJECT_URLS = {
    "contacts.contact": "web:contact_detail",
    "contacts.tag": "contacts:tag_edit",
    "contacts.mailinglist": "contacts:list_detail",
    "commerce.order": "commerce:order_detail",
    "accounts.user": "accounts:user_edit",
}
MAX_VALUE_CHARS = 120
# Record types that are not models.
OBJECT_TYPE_LABELS = {"demo": gettext_lazy("Demo shop")}
# Labels for change keys that are not model fields (export and demo summaries, ...).
CHANGE_LABELS = {
    "format": gettext_lazy("format"),
    "count": gettext_lazy("number of records"),
    "filters": gettext_lazy("filters"),
    "columns": gettext_lazy("columns"),
    "file": gettext_lazy("file"),
    "contacts": gettext_lazy("contacts"),
    "tags": gettext_lazy("tags"),
    "lists": gettext_lazy("lists"),
    "subscriptions": gettext_lazy("subscriptions"),
    "products": gettext_lazy("products"),
    "orders": gettext_lazy("orders"),
    "order_lines": gettext_lazy("order lines"),
    "seed": gettext_lazy("random seed"),
    "reference_date": gettext_lazy("reference date"),
    "wiped": gettext_lazy("deleted first"),
    "password": gettext_lazy("password"),
}


@dataclass
class Change:
    label: str
    old: str | None
    new: str


@dataclass
class Row:
    entry: AuditLog
    who: str
    type_label: str
    url: str | None
    changes: list[Change]

    @property
    def gone(self) -> bool:
        """A record of a type we can show, deleted (or erased) since."""
        return (
            self.url is None
            and bool(self.entry.object_id)
            and self.entry.object_type in OBJECT_URLS
        )


def _model(object_type: str):
    try:
        return apps.get_model(object_type)
    except (LookupError, ValueError):
        return None


def type_label(object_type: str) -> str:
    if object_type in OBJECT_TYPE_LABELS:
        return capfirst(str(OBJECT_TYPE_LABELS[object_type]))
    model = _model(object_type)
    if model is not None:
        return capfirst(str(model._meta.verbose_name))
    return capfirst(object_type.replace("_", " ")) if object_type else "—"


def _field_label(model, name: str) -> str:
    if name in CHANGE_LABELS:
        return capfirst(str(CHANGE_LABELS[name]))
    if model is not None:
        try:
            return capfirst(str(model._meta.get_field(name).verbose_name))
        except FieldDoesNotExist:
            pass
    return capfirst(name.replace("_", " "))


def _value(value: Any) -> str:
    if value is None or value == "" or value == {} or value == []:
        return "—"
    if value is True:
        return _("yes")
    if value is False:
        return _("no")
    if isinstance(value, dict):
        text = ", ".join(f"{key}: {_value(item)}" for key, item in value.items())
    elif isinstance(value, list):
        text = ", ".join(_value(item) for item in value)
    else:
        text = str(localize(value))
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _choice_labels(model, name: str) -> dict[Any, str]:
    """For a field with choices (a role, a status), stored value -> its label."""
    if model is None:
        return {}
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return {}
    return {value: str(label) for value, label in getattr(field, "flatchoices", None) or []}


def describe_changes(entry: AuditLog) -> list[Change]:
    """`{field: [old, new]}` -> "Field: old → new"; any other value -> "Field: value"."""
    changes = entry.changes if isinstance(entry.changes, dict) else {}
    model = _model(entry.object_type)
    described = []
    for name, value in changes.items():
        label = _field_label(model, name)
        choices = _choice_labels(model, name)

        def shown(item: Any, choices: dict[Any, str] = choices) -> str:
            if isinstance(item, (str, int)) and item in choices and item != "":
                return choices[item]
            return _value(item)

        if name == "password":
            described.append(Change(label, None, _("changed")))
        elif isinstance(value, list) and len(value) == 2:
            described.append(Change(label, shown(value[0]), shown(value[1])))
        else:
            described.append(Change(label, None, shown(value)))
    return described


def _existing_ids(entries: list[AuditLog]) -> dict[str, set[str]]:
    """Per linkable type, the ids on this page whose object still exists (one query per type)."""
    wanted: dict[str, set[int]] = defaultdict(set)
    for entry in entries:
        if entry.object_type in OBJECT_URLS and entry.object_id.isdigit():
            wanted[entry.object_type].add(int(entry.object_id))
    found: dict[str, set[str]] = {}
    for object_type, ids in wanted.items():
        model = _model(object_type)
        if model is None:
            continue
        pks = model._default_manager.filter(pk__in=ids).values_list("pk", flat=True)
        found[object_type] = {str(pk) for pk in pks}
    return found


def _url(entry: AuditLog, existing: dict[str, set[str]]) -> str | None:
    if entry.object_id not in existing.get(entry.object_type, ()):
        return None
    try:
        return reverse(OBJECT_URLS[entry.object_type], args=[entry.object_id])
    except NoReverseMatch:
        return None


def _who(entry: AuditLog) -> str:
    if entry.actor is not None:
        return entry.actor.get_full_name() or entry.actor.username
    if not entry.actor_label or entry.actor_label == "system":
        return _("system")
    return entry.actor_label


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
    existing = _existing_ids(page.rows)
    rows = [
        Row(
            entry=entry,
            who=_who(entry),
            type_label=type_label(entry.object_type),
            url=_url(entry, existing),
            changes=describe_changes(entry),
        )
        for entry in page.rows
    ]
    context = {
        "page": page,
        "rows": rows,
        "filters": filters,
        "users": get_user_model().objects.order_by("username"),
        "actions": AuditLog.Action.choices,
        "object_types": [(t, type_label(t)) for t in selectors.audit_object_types()],
        "system": selectors.SYSTEM,
    }
    return render(request, "web/audit_log.html", context)
