"""Details stored as JSON (an audit entry's changes, a subscription's proof of consent), as a
reader wants them in their language.

Services write English keys, codes, ids, ISO times in UTC and server paths, which are right to
store and wrong to show: keys get labels, codes their names, times the shop's time zone and the
reader's format, paths their file name, and ids of contacts, campaigns, lists and imports the
record's current name with a link. The records a page names are read once per type for the
whole page (`linked_records`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.formats import date_format, localize
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from fidele.contacts.consent import WITHDRAWAL_SOURCES, Method
from fidele.contacts.models import Subscription
from fidele.core.actors import actor_label_display
from fidele.ui.texts import text_render

# Where a record of each type is shown. Types not listed are shown without a link.
OBJECT_URLS = {
    "contacts.contact": "web:contact_detail",
    "contacts.tag": "contacts:tag_edit",
    "contacts.mailinglist": "contacts:list_detail",
    "commerce.order": "commerce:order_detail",
    "accounts.user": "accounts:user_edit",
    "campaigns.campaign": "campaigns:detail",
    "campaigns.layout": "campaigns:layout_edit",
    "imports.importjob": "imports:detail",
    "delivery.bouncereport": "delivery:bounce_detail",
}
MAX_VALUE_CHARS = 120
# Labels of the keys services write in an entry's details, when they are not a field of the
# entry's model (whose own verbose name is used). A key not listed is still shown, humanised.
DETAIL_LABELS = {
    # exports, the demo shop
    "format": gettext_lazy("format"),
    "dialect": gettext_lazy("variant"),
    "count": gettext_lazy("number of records"),
    "filters": gettext_lazy("filters"),
    # the contacts list's filters, as an export records them
    "q": gettext_lazy("search"),
    "tag": gettext_lazy("tag"),
    "sort": gettext_lazy("order"),
    "columns": gettext_lazy("columns"),
    "file": gettext_lazy("file"),
    "contacts": gettext_lazy("contacts"),
    "tags": gettext_lazy("tags"),
    "lists": gettext_lazy("lists"),
    "exclude_lists": gettext_lazy("except subscribers of"),
    "subscriptions": gettext_lazy("subscriptions"),
    "products": gettext_lazy("products"),
    "orders": gettext_lazy("orders"),
    "order_lines": gettext_lazy("order lines"),
    "seed": gettext_lazy("random seed"),
    "reference_date": gettext_lazy("reference date"),
    "wiped": gettext_lazy("deleted first"),
    "password": gettext_lazy("password"),
    # imports
    "rows": gettext_lazy("rows read"),
    "created": pgettext_lazy("audit detail", "created"),
    "updated": pgettext_lazy("audit detail", "updated"),
    "merged": gettext_lazy("merged"),
    "rejected": gettext_lazy("rows rejected"),
    "rejected_file": gettext_lazy("rejected rows file"),
    "warnings_file": gettext_lazy("warnings file"),
    "merges_to_review": gettext_lazy("merges to review"),
    "lines": gettext_lazy("order lines"),
    "products_created": gettext_lazy("products created"),
    "skipped": gettext_lazy("rows skipped"),
    "warnings": gettext_lazy("warnings"),
    "invalid_phones": gettext_lazy("invalid phone numbers"),
    "seconds": gettext_lazy("duration (seconds)"),
    "import_id": gettext_lazy("import"),
    "kind": gettext_lazy("kind"),
    "encoding": gettext_lazy("encoding"),
    "delimiter": gettext_lazy("delimiter"),
    "error": gettext_lazy("error"),
    "list": gettext_lazy("list"),
    "subscribed": pgettext_lazy("audit detail", "subscribed"),
    "claimed_by": gettext_lazy("worker"),
    "retried": gettext_lazy("retried"),
    "previous_error": gettext_lazy("previous error"),
    "discarded": gettext_lazy("discarded"),
    "upload_deleted": gettext_lazy("uploaded file deleted"),
    # consent, unsubscribes, suppressions
    "list_id": gettext_lazy("list"),
    "status": pgettext_lazy("audit detail", "status"),
    "by": gettext_lazy("by"),
    "source": gettext_lazy("how"),
    "reason": gettext_lazy("reason"),
    "note": gettext_lazy("note"),
    "since": gettext_lazy("since"),
    "lists_unsubscribed": gettext_lazy("unsubscribed from"),
    "lists_resubscribed": gettext_lazy("subscribed again to"),
    "unsubscribed_from_everything": gettext_lazy("unsubscribed from every email"),
    "campaign_id": gettext_lazy("campaign"),
    "outbox_id": gettext_lazy("message number"),
    "bounce_report_id": gettext_lazy("bounce report"),
    "contacts_untagged": gettext_lazy("contacts untagged"),
    "subscriptions_deleted": gettext_lazy("subscriptions deleted"),
    "tag_added": gettext_lazy("tag added"),
    "tag_removed": gettext_lazy("tag removed"),
    # campaigns
    "subject": gettext_lazy("subject"),
    "recipients": gettext_lazy("recipients"),
    "duplicate_of": gettext_lazy("copy of"),
    "variants": gettext_lazy("variants"),
    "ab_winner": gettext_lazy("A/B winner"),
    "scores": gettext_lazy("scores"),
    "released": gettext_lazy("messages released"),
    "test_sent_to": gettext_lazy("test sent to"),
    # a subscription's proof of consent (contacts.consent.ConsentProof, Withdrawal)
    "method": gettext_lazy("how consent was given"),
    "at": gettext_lazy("when"),
    "given_at": gettext_lazy("consent given on"),
    "user": gettext_lazy("recorded by"),
    "user_id": gettext_lazy("user"),
    "ip": gettext_lazy("IP address"),
    "form": gettext_lazy("form"),
    "url": gettext_lazy("page"),
    "row": gettext_lazy("row"),
    "wording": gettext_lazy("text shown"),
    "confirmed_at": gettext_lazy("confirmed on"),
    "confirmed_by_user": gettext_lazy("consent confirmed at the import"),
    "unsubscribe": gettext_lazy("withdrawal of consent"),
    "previous": gettext_lazy("previous consent"),
    "other_customer_number": gettext_lazy("other customer number"),
}
# Detail keys that hold the id of another record: shown as that record's name, linked.
REFERENCE_KEYS = {
    "campaign_id": "campaigns.campaign",
    "duplicate_of": "campaigns.campaign",
    "list_id": "contacts.mailinglist",
    "contact_id": "contacts.contact",
    "import_id": "imports.importjob",
    "bounce_report_id": "delivery.bouncereport",
    "user_id": "accounts.user",
}
# Details whose value is a record of its own, shown as its own rows.
NESTED_KEYS = ("unsubscribe", "previous", "filters")
# Details holding an actor's stored label ("recipient via unsubscribe link", "cli:lea").
ACTOR_KEYS = frozenset({"user", "by"})
# Codes stored as values, by key, with their names.
VALUE_LABELS: dict[str, dict[str, Any]] = {
    "source": WITHDRAWAL_SOURCES,
    # A subscription's status, in entries about a contact (whose own status means something else).
    "status": dict(Subscription.Status.choices),
    "format": {"csv": "CSV", "xlsx": "XLSX"},
    # The export's variant (fidele.imports.exports.Dialect.code), named as on the export page.
    "dialect": {
        "excel-fr": gettext_lazy("Excel (France)"),
        "spreadsheet": gettext_lazy("Excel workbook (XLSX)"),
        "canonical": gettext_lazy("CSV (standard)"),
    },
    # An import's file as its preview described it (fidele.imports.reader).
    "encoding": {
        "cp1252": gettext_lazy("Windows (cp1252), as Excel saves a CSV in France"),
        "utf-8-sig": gettext_lazy("UTF-8 with a byte-order mark"),
    },
    "delimiter": {
        ",": gettext_lazy("comma ( , )"),
        ";": gettext_lazy("semicolon ( ; )"),
        "\t": gettext_lazy("tab"),
        "|": gettext_lazy("vertical bar ( | )"),
    },
    "kind": {
        "contacts": gettext_lazy("contacts"),
        "orders": gettext_lazy("orders"),
    },
    "method": {
        Method.MANUAL: gettext_lazy("recorded by hand"),
        Method.IMPORT: gettext_lazy("import of a file"),
        Method.FORM: gettext_lazy("sign-up form"),
        Method.PREFERENCE_CENTRE: gettext_lazy("preference centre"),
        Method.API: gettext_lazy("API"),
    },
}
# Details whose value is a list of names (two names are not an "old → new" pair).
DETAIL_LIST_KEYS = frozenset(
    {"lists", "exclude_lists", "lists_unsubscribed", "lists_resubscribed", "test_sent_to", "tags"}
)
# How each type names its records (default: str(obj)).
_NAMERS: dict[str, Callable[[Any], str]] = {
    "accounts.user": lambda user: user.get_full_name() or user.get_username(),
}
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# An absolute path to a file with an extension ("/srv/…/import-7.csv", "C:\\…\\a.xlsx"); a
# page's path ("/inscription/") is not one.
_SERVER_FILE = re.compile(r"^(?:/[^/]+/|[A-Za-z]:\\).*[^/\\]\.\w{1,5}$")


@dataclass
class Change:
    label: str
    old: str | None
    new: str
    # The rows of a value that is itself a record (a proof's withdrawal, its previous consent).
    parts: list[Change] = field(default_factory=list)


@dataclass(frozen=True)
class Linked:
    """A record named on a page: its current name, and its page."""

    name: str
    url: str | None


def model_of(object_type: str):
    try:
        return apps.get_model(object_type)
    except (LookupError, ValueError):
        return None


def _field_label(model, name: str) -> str:
    # The table first: fields declared without a verbose name would show English.
    if name in DETAIL_LABELS:
        return capfirst(str(DETAIL_LABELS[name]))
    if model is not None:
        try:
            return capfirst(str(model._meta.get_field(name).verbose_name))
        except FieldDoesNotExist:
            pass
    return capfirst(name.replace("_", " "))


def _short(text: str) -> str:
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _text(value: str) -> str:
    """A stored string as a reader wants it: an ISO time in the shop's time zone and the
    reader's format, a server path reduced to its file name."""
    if _ISO_DATETIME.match(value):
        moment = parse_datetime(value.replace(" ", "T", 1))
        if moment is not None:
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment, dt.UTC)
            return date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")
    if _ISO_DATE.match(value):
        day = parse_date(value)
        if day is not None:
            return date_format(day, "SHORT_DATE_FORMAT")
    if _SERVER_FILE.match(value):
        # Where the server keeps a file says nothing to the reader, and tells an outsider too much.
        path = PureWindowsPath(value) if "\\" in value else PurePosixPath(value)
        return path.name
    return value


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
    elif isinstance(value, str):
        text = _text(value)
    else:
        text = str(localize(value))
    return _short(text)


def _choice_labels(model, name: str) -> dict[Any, str]:
    """Stored code -> its name: the codes details hold under this key, and those of the
    model's field of that name (a role, a status), which win."""
    labels = {code: str(label) for code, label in VALUE_LABELS.get(name, {}).items()}
    if model is not None:
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            return labels
        for value, label in getattr(field, "flatchoices", None) or []:
            labels[value] = str(label)
    return labels


def _reference(name: str, value: Any, linked: Mapping[tuple[str, str], Linked]) -> str | None:
    """The id of another record as its name, linked; "#id" when it is gone."""
    object_type = REFERENCE_KEYS.get(name)
    if object_type is None or isinstance(value, bool) or not isinstance(value, int | str):
        return None
    found = linked.get((object_type, str(value)))
    if found is None:
        return f"#{value}"
    if found.url is None:
        return found.name
    return format_html('<a href="{}">{}</a>', found.url, found.name)


def _is_text_source(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("id"), str)


def describe_details(
    details: Mapping[str, Any],
    *,
    model: Any = None,
    linked: Mapping[tuple[str, str], Linked] | None = None,
) -> list[Change]:
    """`{key: [old, new]}` -> "Label: old → new"; any other value -> "Label: value". `model`:
    the model the details are about (its fields' names and choices label its keys)."""
    linked = linked or {}
    details = dict(details)
    shown_as: dict[str, str] = {}
    # A list named beside its id is shown once: its name, linked to its page while it exists.
    if "list" in details and "list_id" in details:
        found = linked.get((REFERENCE_KEYS["list_id"], str(details["list_id"])))
        if found is not None and found.url is not None:
            details.pop("list_id")
            shown_as["list"] = format_html('<a href="{}">{}</a>', found.url, details["list"])
    # A message stored as text in the language of whoever acted ("error") beside its source
    # ("error_text", fidele.ui.texts) is said again in the reader's language, once.
    for key in [k for k in details if k.endswith("_text") and _is_text_source(details[k])]:
        base = key.removesuffix("_text")
        shown_as[base] = text_render(details.pop(key))
        details.setdefault(base, None)
    # An empty source beside its message ("error": None, "error_text": None) says nothing more.
    for key in [k for k in details if k.endswith("_text") and details[k] is None]:
        if key.removesuffix("_text") in details:
            details.pop(key)
    described = []
    for name, value in details.items():
        label = _field_label(model, name)
        choices = _choice_labels(model, name)
        if name in shown_as:
            described.append(Change(label, None, shown_as[name]))
            continue

        def shown(item: Any, name: str = name, choices: dict[Any, str] = choices) -> str:
            reference = _reference(name, item, linked)
            if reference is not None:
                return reference
            if isinstance(item, str | int) and item in choices and item != "":
                return choices[item]
            if name in ACTOR_KEYS and isinstance(item, str):
                return actor_label_display(item)
            if _is_text_source(item):
                return _short(text_render(item))
            return _value(item)

        if name == "password":
            described.append(Change(label, None, _("changed")))
        elif name in NESTED_KEYS and isinstance(value, dict):
            parts = describe_details(value, linked=linked)
            described.append(Change(label, None, "", parts=parts))
        elif isinstance(value, list) and len(value) == 2 and name not in DETAIL_LIST_KEYS:
            described.append(Change(label, shown(value[0]), shown(value[1])))
        else:
            described.append(Change(label, None, shown(value)))
    return described


def references(details: Any) -> Iterable[tuple[str, int]]:
    """(type, id) of the records that details name by id, nested records included."""
    if not isinstance(details, dict):
        return
    for key, object_type in REFERENCE_KEYS.items():
        value = details.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            yield object_type, value
        elif isinstance(value, str) and value.isdigit():
            yield object_type, int(value)
    for key in NESTED_KEYS:
        yield from references(details.get(key))


def linked_records(wanted: Iterable[tuple[str, int]]) -> dict[tuple[str, str], Linked]:
    """(type, id) -> the record's current name and page, for the records that still exist:
    one query per type, whatever the number of ids."""
    by_type: dict[str, set[int]] = defaultdict(set)
    for object_type, pk in wanted:
        by_type[object_type].add(pk)
    found: dict[tuple[str, str], Linked] = {}
    for object_type, ids in by_type.items():
        model = model_of(object_type)
        if model is None:
            continue
        namer = _NAMERS.get(object_type, str)
        for obj in model._default_manager.filter(pk__in=ids):
            try:
                url = reverse(OBJECT_URLS[object_type], args=[obj.pk])
            except (KeyError, NoReverseMatch):
                url = None
            found[(object_type, str(obj.pk))] = Linked(name=namer(obj), url=url)
    return found
