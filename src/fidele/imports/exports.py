"""Contacts to CSV / XLSX with the canonical column names (a contract: ARCHITECTURE.md).

Columns, in this order (scripts outside the project rely on it):
    external_id, email, first_name, last_name, phone, address, postal_code, city, country,
    birth_date, language, tags, attr.<key> for every custom attribute key present in the
    exported contacts (sorted), then civility, joined_on, source, notes.
The trailing columns are ones the importer maps back to the same fields, so that exporting and
re-importing a base changes nothing. Dates are ISO (YYYY-MM-DD); tags are joined with ", " (the
importer splits on , ; |).

Formula injection: a spreadsheet treats a cell starting with = + - @ (and tab or carriage return,
which some spreadsheets skip before reading the formula) as a formula, so an attacker who typed
`=HYPERLINK("http://evil", "Click")` as their name would run it in the shop owner's Excel. Every
such cell gets a leading apostrophe, in CSV and XLSX alike (OWASP's recommendation). That includes
phone numbers in E.164 ("+33612345678" is written "'+33612345678"): the rule is applied to every
cell without exception, because a rule with exceptions is one an attacker can aim at. The XLSX
keeps the apostrophe in the value rather than relying on cell types only, so a file re-saved as
CSV from Excel stays harmless.

Rows are streamed: the queryset is read with `.iterator(chunk_size=...)` and tags are prefetched
per chunk, so memory stays flat whatever the number of contacts.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, Literal

from django.db import connections
from django.db.models import Prefetch, QuerySet
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from fidele.contacts.models import Contact, Tag
from fidele.core.actors import Actor
from fidele.core.audit import audit_record
from fidele.core.models import AuditLog
from fidele.imports.mapping import ATTR_PREFIX
from fidele.imports.pipeline import neutralise

Format = Literal["csv", "xlsx"]
FORMATS: tuple[str, ...] = ("csv", "xlsx")

CANONICAL_COLUMNS = (
    "external_id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "address",
    "postal_code",
    "city",
    "country",
    "birth_date",
    "language",
    "tags",
)
TRAILING_COLUMNS = ("civility", "joined_on", "source", "notes")
CHUNK_SIZE = 2000
XLSX_MAX_CELL = 32767  # Excel's limit; longer text makes Excel "repair" the file


@dataclass(frozen=True)
class ExportResult:
    rows: int
    columns: list[str]
    format: str
    seconds: float


class ExportFormatError(ValueError):
    pass


def format_for_path(path: str | os.PathLike) -> Format:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise ExportFormatError(
            f"cannot export to {Path(path).name!r}: the file name must end in .csv or .xlsx"
        )
    return suffix  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def attribute_keys(queryset: QuerySet[Contact]) -> list[str]:
    """Every custom-attribute key used by the contacts of `queryset`, sorted.

    The database lists the keys (PostgreSQL jsonb_object_keys, SQLite json_each) over the
    filtered rows, so a million contacts are never decoded in Python just to learn the header.
    The filtered queryset is embedded as a parameterised subquery.
    """
    # inner_sql is compiled by Django with every user value in `params`, never in the text.
    inner_sql, params = queryset.order_by().values("attributes").query.sql_with_params()
    vendor = connections[queryset.db].vendor
    if vendor == "postgresql":
        sql = (
            "SELECT DISTINCT k FROM (" + inner_sql + ") AS s, "  # noqa: S608
            "LATERAL jsonb_object_keys(s.attributes) AS k "
            "WHERE jsonb_typeof(s.attributes) = 'object'"
        )
    elif vendor == "sqlite":
        sql = (
            "SELECT DISTINCT j.key FROM (" + inner_sql + ") AS s, "  # noqa: S608
            "json_each(s.attributes) AS j "
            "WHERE json_type(s.attributes) = 'object'"
        )
    else:  # Other databases: one pass over the JSON column, still streamed.
        keys: set[str] = set()
        for attributes in queryset.order_by().values_list("attributes", flat=True).iterator():
            if isinstance(attributes, dict):
                keys.update(attributes)
        return sorted(keys)
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(str(row[0]) for row in cursor.fetchall())


def export_columns(attr_keys: Iterable[str]) -> list[str]:
    return [*CANONICAL_COLUMNS, *(ATTR_PREFIX + key for key in attr_keys), *TRAILING_COLUMNS]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _contact_row(contact: Contact, attr_keys: list[str]) -> list[str]:
    attributes = contact.attributes if isinstance(contact.attributes, dict) else {}
    values = [
        contact.external_id,
        contact.email,
        contact.first_name,
        contact.last_name,
        contact.phone,
        contact.address,
        contact.postal_code,
        contact.city,
        contact.country,
        contact.birth_date,
        contact.language,
        ", ".join(sorted(tag.name for tag in contact.tags.all())),
        *(attributes.get(key) for key in attr_keys),
        contact.civility,
        contact.joined_on,
        contact.source,
        contact.notes,
    ]
    # Control characters go first: stripped after neutralising, "\x01=HYPERLINK(...)" would
    # lose its \x01 after the check and become a formula again.
    return [neutralise(_strip_control(_text(value))) for value in values]


def _ordered(queryset: QuerySet[Contact]) -> QuerySet[Contact]:
    # Keep the order the list page asked for; otherwise a stable one, so two exports of the same
    # data are identical files.
    return queryset if queryset.ordered else queryset.order_by("pk")


def contacts_export_rows(
    *, queryset: QuerySet[Contact], attr_keys: list[str] | None = None
) -> tuple[list[str], Iterator[list[str]]]:
    """(header, rows): the rows are produced lazily, chunk by chunk."""
    keys = attribute_keys(queryset) if attr_keys is None else attr_keys
    columns = export_columns(keys)
    contacts = _ordered(queryset).prefetch_related(
        Prefetch("tags", queryset=Tag.objects.only("id", "name"))
    )

    def rows() -> Iterator[list[str]]:
        for contact in contacts.iterator(chunk_size=CHUNK_SIZE):
            yield _contact_row(contact, keys)

    return columns, rows()


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


class _Echo:
    """A file-like whose write() returns what it is given, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def _write_csv(columns: list[str], rows: Iterable[list[str]], handle: IO[bytes]) -> int:
    # UTF-8 with a BOM: without it Excel reads UTF-8 as cp1252 and "Hélène" becomes "HÃ©lÃ¨ne".
    # Comma-delimited (RFC 4180) because this is the canonical format that scripts read (DESIGN
    # contract) and what every CSV library expects by default; a French Excel user who wants
    # columns on double-click should take the XLSX export, which has no delimiter question.
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    handle.write(("\ufeff" + writer.writerow(columns)).encode("utf-8"))
    count = 0
    for row in rows:
        handle.write(writer.writerow(row).encode("utf-8"))
        count += 1
    return count


def _strip_control(value: str) -> str:
    # The control characters a spreadsheet cannot hold (tab, LF and CR stay), in CSV too, so
    # that both formats carry the same text and the formula check sees what Excel will see.
    return ILLEGAL_CHARACTERS_RE.sub("", value)


def _xlsx_text(value: str) -> str:
    return _strip_control(value)[:XLSX_MAX_CELL]


def _xlsx_row(sheet: Any, row: list[str]) -> list[Any]:
    """The row's values for openpyxl, every one a string cell (data type "s").

    openpyxl types a string starting with "=" as a formula and "#N/A" and friends as errors;
    those (none reach here after neutralising, but the type must not depend on it) are given
    as cells typed "s". Others are plain strings, which openpyxl types "s" itself, cheaply.
    """
    values: list[Any] = []
    for value in row:
        text = _xlsx_text(value)
        if text.startswith("=") or text in ERROR_CODES:
            cell = WriteOnlyCell(sheet)
            cell._value = text  # noqa: SLF001 - the setter would type it again
            cell.data_type = "s"
            values.append(cell)
        else:
            values.append(text)
    return values


def _write_xlsx(columns: list[str], rows: Iterable[list[str]], handle: IO[bytes] | str) -> int:
    # write_only streams rows to a temporary file instead of building the sheet in memory.
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Contacts")
    sheet.freeze_panes = "A2"
    for index, name in enumerate(columns):
        letter = _column_letter(index)
        sheet.column_dimensions[letter].width = 28 if name in ("email", "address") else 16
    header = []
    for name in columns:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    count = 0
    for row in rows:
        # Every value is text already neutralised, and written as a string cell whatever it
        # holds: no value is ever a formula.
        sheet.append(_xlsx_row(sheet, row))
        count += 1
    workbook.save(handle)
    return count


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def _audit_export(
    *,
    actor: Actor,
    fmt: str,
    count: int,
    columns: list[str],
    filters: Mapping[str, Any] | None,
    ip_address: str | None,
    destination: str = "",
) -> None:
    changes: dict[str, Any] = {
        "format": fmt,
        "count": count,
        "filters": {
            key: value for key, value in (filters or {}).items() if value not in ("", None)
        },
        "columns": len(columns),
    }
    if destination:
        changes["file"] = destination
    audit_record(
        actor=actor,
        action=AuditLog.Action.EXPORT,
        object_type="contacts.contact",
        object_repr=f"{count} contacts ({fmt.upper()})",
        changes=changes,
        ip_address=ip_address,
    )


def contacts_export(
    *,
    queryset: QuerySet[Contact],
    fmt: Format,
    output: str | os.PathLike | IO[bytes],
    actor: Actor = None,
    filters: Mapping[str, Any] | None = None,
    ip_address: str | None = None,
) -> ExportResult:
    """Write the contacts of `queryset` to `output` (a path or a binary file) and audit it.

    `filters` are recorded in the audit entry so that the trail says which contacts left;
    `actor` is the user, or for a command or a task the `System` that names it.
    """
    if fmt not in FORMATS:
        raise ExportFormatError(f"unknown export format {fmt!r}: use csv or xlsx")
    started = time.perf_counter()
    columns, rows = contacts_export_rows(queryset=queryset)
    destination = ""
    if isinstance(output, (str, os.PathLike)):
        destination = str(output)
        with open(output, "wb") as handle:
            count = (_write_csv if fmt == "csv" else _write_xlsx)(columns, rows, handle)
    else:
        count = (_write_csv if fmt == "csv" else _write_xlsx)(columns, rows, output)
    _audit_export(
        actor=actor,
        fmt=fmt,
        count=count,
        columns=columns,
        filters=filters,
        ip_address=ip_address,
        destination=destination,
    )
    return ExportResult(
        rows=count, columns=columns, format=fmt, seconds=round(time.perf_counter() - started, 3)
    )


def contacts_export_csv_stream(
    *,
    queryset: QuerySet[Contact],
    actor: Actor = None,
    filters: Mapping[str, Any] | None = None,
    ip_address: str | None = None,
) -> Iterator[bytes]:
    """CSV bytes, row by row, for a streaming HTTP response.

    The export is audited before the first byte leaves, with the number of contacts it covers:
    a download the browser abandons half-way has still exposed data and must be on record.
    """
    columns, rows = contacts_export_rows(queryset=queryset)
    _audit_export(
        actor=actor,
        fmt="csv",
        count=queryset.count(),
        columns=columns,
        filters=filters,
        ip_address=ip_address,
    )
    writer = csv.writer(_Echo(), lineterminator="\r\n")

    def generate() -> Iterator[bytes]:
        yield ("\ufeff" + writer.writerow(columns)).encode("utf-8")
        for row in rows:
            yield writer.writerow(row).encode("utf-8")

    return generate()


def contacts_export_xlsx_file(
    *,
    queryset: QuerySet[Contact],
    actor: Actor = None,
    filters: Mapping[str, Any] | None = None,
    ip_address: str | None = None,
) -> IO[bytes]:
    """The XLSX in a temporary file (deleted when closed), rewound, ready to be sent.

    A zip cannot be streamed before it is finished, so the workbook is written to disk first;
    memory stays flat either way.
    """
    handle = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 - the response closes it
    contacts_export(
        queryset=queryset,
        fmt="xlsx",
        output=handle,
        actor=actor,
        filters=filters,
        ip_address=ip_address,
    )
    handle.seek(0)
    return handle
