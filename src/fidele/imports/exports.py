"""Contacts to CSV / XLSX, in one of three dialects.

canonical (the command line's default; a contract, ARCHITECTURE.md), in this order:
    external_id, email, first_name, last_name, phone, address, postal_code, city, country,
    birth_date, language, tags, attr.<key> for every custom attribute key present in the
    exported contacts (sorted), then civility, joined_on, source, notes, and
    other_customer_numbers when an exported contact has another number.
    Comma-separated CSV, ISO dates (YYYY-MM-DD), phones in E.164: what scripts read.
excel-fr ("Excel (France)", the web page's default for a French user): what a French Excel
    opens with a double click. The person's fields in the contact form's order under their
    French labels ("Prénom", "Date de naissance"), tags, custom attributes under their keys,
    origin and notes; semicolons, dd/mm/yyyy dates, decimal commas, phones as people write them.
spreadsheet (the web page's XLSX): the same columns under the labels of the user's language.
Every dialect is read back by the import as it was written (its headers are import synonyms),
so exporting and re-importing a base changes nothing. Tags are joined with ", " (the importer
splits on , ; |). Both files are UTF-8; the CSV starts with a BOM, without which Excel reads
UTF-8 as cp1252 and "Hélène" becomes "HÃ©lÃ¨ne".

Formula injection: a spreadsheet opening a CSV treats a cell starting with = + - @ (and tab or
carriage return, which some spreadsheets skip before reading the formula) as a formula, so an
attacker who typed `=HYPERLINK("http://evil", "Click")` as their name would run it in the shop
owner's Excel. Every such CSV cell gets a leading apostrophe (OWASP's recommendation), phones in
E.164 included ("'+33612345678"): a rule with exceptions is one an attacker can aim at. Control
characters are stripped before the check, or "\x01=..." would pass it and lose its \x01 later.
An XLSX needs no apostrophe: every text is written as a typed string cell, which Excel shows and
never runs, so "=1+1" stays the text "=1+1" (and "06 12 34 56 78" and "01000" keep their zeros);
dates are date cells shown dd/mm/yyyy.

Rows are streamed: the queryset is read with `.iterator(chunk_size=...)` and tags are prefetched
per chunk, so memory stays flat whatever the number of contacts.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from operator import attrgetter
from pathlib import Path
from typing import IO, Any, Literal

from babel import Locale
from django.core.exceptions import FieldDoesNotExist
from django.db import connections
from django.db.models import Prefetch, QuerySet
from django.utils import translation
from django.utils.text import capfirst
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from fidele.contacts.fields import PERSON_FIELDS
from fidele.contacts.models import AttributeLabel, Contact, CustomerNumberAlias, Tag
from fidele.core.actors import Actor
from fidele.core.audit import audit_record
from fidele.core.models import AuditLog
from fidele.imports import normalize as norm
from fidele.imports.mapping import ATTR_PREFIX, CONTACT_FIELDS, guess_field
from fidele.imports.pipeline import neutralise
from fidele.ui.formatting import format_phone, format_phone_dialled

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
# A contact's other customer numbers (CustomerNumberAlias), comma-separated; the column is there
# only when an exported contact has one.
OTHER_NUMBERS = "other_customer_numbers"
# The labelled dialects: the person as the contact form shows it, then what the team added.
LABELLED_COLUMNS = (*PERSON_FIELDS, "tags")
LABELLED_TRAILING_COLUMNS = ("source", "notes")
CHUNK_SIZE = 2000
XLSX_MAX_CELL = 32767  # Excel's limit; longer text makes Excel "repair" the file
XLSX_DATE_FORMAT = "DD/MM/YYYY"


def _iso_date(value: date) -> str:
    return value.isoformat()


def _french_date(value: date) -> str:
    # Not strftime: it drops the leading zeros of a year before 1000 on some platforms.
    return f"{value.day:02d}/{value.month:02d}/{value.year:04d}"


@dataclass(frozen=True)
class Dialect:
    """How the cells of an export are named and written (the file type aside)."""

    code: str
    labels: bool  # headers are the fields' labels (else the canonical names)
    language: str | None  # the labels' language; None: the active one
    delimiter: str  # CSV only
    date_text: Callable[[date], str]  # CSV only: an XLSX holds date cells
    decimal_comma: bool
    local_phones: bool  # national format at home, else E.164 as stored


CANONICAL = Dialect(
    code="canonical",
    labels=False,
    language=None,
    delimiter=",",
    date_text=_iso_date,
    decimal_comma=False,
    local_phones=False,
)
EXCEL_FR = Dialect(
    code="excel-fr",
    labels=True,
    language="fr",
    # French Excel splits a double-clicked CSV on ";" (its list separator), not on ",".
    delimiter=";",
    date_text=_french_date,
    decimal_comma=True,
    local_phones=True,
)
SPREADSHEET = Dialect(
    code="spreadsheet",
    labels=True,
    language=None,
    delimiter=",",
    date_text=_iso_date,
    decimal_comma=False,
    local_phones=True,
)
# What the command line's --format accepts.
DIALECTS: dict[str, Dialect] = {CANONICAL.code: CANONICAL, EXCEL_FR.code: EXCEL_FR}


@dataclass(frozen=True)
class ExportResult:
    rows: int
    columns: list[str]
    format: str
    seconds: float
    dialect: str = CANONICAL.code


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


def export_columns(
    attr_keys: Iterable[str], dialect: Dialect = CANONICAL, *, other_numbers: bool = False
) -> list[str]:
    """The exported columns, by canonical name ("attr.<key>" for a custom attribute), with the
    contacts' other customer numbers last when any of them has one."""
    attrs = [ATTR_PREFIX + key for key in attr_keys]
    last = [OTHER_NUMBERS] if other_numbers else []
    if dialect.labels:
        return [*LABELLED_COLUMNS, *attrs, *LABELLED_TRAILING_COLUMNS, *last]
    return [*CANONICAL_COLUMNS, *attrs, *TRAILING_COLUMNS, *last]


def _other_numbers_text(contact: Contact) -> str:
    return ", ".join(sorted(alias.number for alias in contact.customer_number_aliases.all()))


def _attribute_header(key: str, labels: dict[str, str]) -> str:
    # A custom attribute is headed as the file it came from headed it ("Vin préféré"), else by
    # its key; unless the import would read that header as one of the contact's own fields
    # ("ville", "newsletter"): then it keeps its "attr." prefix, which the import reads back as
    # the same attribute.
    header = labels.get(key, key)
    return ATTR_PREFIX + key if guess_field("contacts", header) else header


def _label(name: str) -> str:
    try:
        return capfirst(str(Contact._meta.get_field(name).verbose_name))
    except FieldDoesNotExist:
        # A column that is not one of the contact's own fields (e.g. its other customer
        # numbers) is named as the import names it, which is what reads it back.
        return str(CONTACT_FIELDS[name])


def export_header(columns: list[str], dialect: Dialect = CANONICAL) -> list[str]:
    """The header row: canonical names, or the fields' labels in the dialect's language."""
    if not dialect.labels:
        return list(columns)
    keys = [name[len(ATTR_PREFIX) :] for name in columns if name.startswith(ATTR_PREFIX)]
    labels = (
        dict(AttributeLabel.objects.filter(key__in=keys).values_list("key", "label"))
        if keys
        else {}
    )
    with translation.override(dialect.language or translation.get_language()):
        return [
            _attribute_header(name[len(ATTR_PREFIX) :], labels)
            if name.startswith(ATTR_PREFIX)
            else _label(name)
            for name in columns
        ]


def _text(value: Any, dialect: Dialect) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and dialect.decimal_comma:
        # "12.5" is a date (12 May) to a French Excel; "12,5" is twelve and a half.
        return str(value).replace(".", ",")
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _phone_text(dialect: Dialect, fmt: Format) -> Callable[[str], str]:
    if not dialect.local_phones:
        return str
    # In a CSV, "+32 2 234 56 78" would be a formula to Excel (and an apostrophe in front of
    # it a phone the import cannot read back): foreign numbers are written as dialled
    # from the shop's country, "00 32 2 234 56 78". An XLSX cell is text whatever it holds.
    return format_phone_dialled if fmt == "csv" else format_phone


def _tags_text(contact: Contact) -> str:
    return ", ".join(sorted(tag.name for tag in contact.tags.all()))


Cell = str | date  # a value before a writer encodes it: dates stay dates for the XLSX


def _cell_readers(
    columns: list[str], dialect: Dialect, fmt: Format
) -> list[Callable[[Contact], Cell]]:
    """One function per column, chosen once, that reads its cell from a contact."""
    phone = _phone_text(dialect, fmt)

    def attribute(key: str) -> Callable[[Contact], Cell]:
        def read(contact: Contact) -> Cell:
            attributes = contact.attributes if isinstance(contact.attributes, dict) else {}
            return _text(attributes.get(key), dialect)

        return read

    def field(name: str) -> Callable[[Contact], Cell]:
        get = attrgetter(name)

        def read(contact: Contact) -> Cell:
            value = get(contact)
            return value if isinstance(value, date) else _text(value, dialect)

        return read

    def named(name: str) -> Callable[[Contact], Cell]:
        language = dialect.language or translation.get_language() or "en"
        to_name = _country_name if name == "country" else _language_name
        get = attrgetter(name)

        def read(contact: Contact) -> Cell:
            return to_name(get(contact) or "", language)

        return read

    readers: list[Callable[[Contact], Cell]] = []
    for name in columns:
        if name.startswith(ATTR_PREFIX):
            readers.append(attribute(name[len(ATTR_PREFIX) :]))
        elif name == "tags":
            readers.append(_tags_text)
        elif name == OTHER_NUMBERS:
            readers.append(_other_numbers_text)
        elif name == "phone":
            readers.append(lambda contact: phone(contact.phone))
        elif dialect.labels and name in ("country", "language"):
            # "Belgique", "néerlandais" for a person; the import reads the names back.
            readers.append(named(name))
        else:
            readers.append(field(name))
    return readers


@lru_cache(maxsize=512)
def _country_name(code: str, language: str) -> str:
    """The country's name in `language`, or its code when the import would not read the name
    back as that code (the export must survive a round trip)."""
    if not code:
        return ""
    name = Locale.parse(language.split("-")[0]).territories.get(code.upper(), "")
    return name if name and norm.normalise_country(name)[0] == code.upper() else code


@lru_cache(maxsize=512)
def _language_name(code: str, language: str) -> str:
    if not code:
        return ""
    name = Locale.parse(language.split("-")[0]).languages.get(code.lower(), "")
    return name if name and norm.normalise_language(name)[0] == code.lower() else code


def _ordered(queryset: QuerySet[Contact]) -> QuerySet[Contact]:
    # Keep the order the list page asked for; otherwise a stable one, so two exports of the same
    # data are identical files.
    return queryset if queryset.ordered else queryset.order_by("pk")


def contacts_export_rows(
    *,
    queryset: QuerySet[Contact],
    dialect: Dialect = CANONICAL,
    fmt: Format = "csv",
    attr_keys: list[str] | None = None,
) -> tuple[list[str], Iterator[list[Cell]]]:
    """(header, rows): the rows are produced lazily, chunk by chunk, as text and dates that
    the writer of `fmt` encodes."""
    keys = attribute_keys(queryset) if attr_keys is None else attr_keys
    other_numbers = CustomerNumberAlias.objects.filter(contact__in=queryset.values("pk")).exists()
    columns = export_columns(keys, dialect, other_numbers=other_numbers)
    readers = _cell_readers(columns, dialect, fmt)
    contacts = _ordered(queryset).prefetch_related(
        Prefetch("tags", queryset=Tag.objects.only("id", "name")),
        *(["customer_number_aliases"] if other_numbers else []),
    )

    def rows() -> Iterator[list[Cell]]:
        for contact in contacts.iterator(chunk_size=CHUNK_SIZE):
            yield [read(contact) for read in readers]

    return export_header(columns, dialect), rows()


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


class _Echo:
    """A file-like whose write() returns what it is given, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def _strip_control(value: str) -> str:
    # The control characters a spreadsheet cannot hold (tab, LF and CR stay), in CSV too, so
    # that both formats carry the same text and the formula check sees what Excel will see.
    return ILLEGAL_CHARACTERS_RE.sub("", value)


def _csv_lines(header: list[str], rows: Iterable[list[Cell]], dialect: Dialect) -> Iterator[bytes]:
    """The CSV's bytes, line by line, BOM first (see the module docstring)."""
    writer = csv.writer(_Echo(), delimiter=dialect.delimiter, lineterminator="\r\n")

    def cell(value: Cell) -> str:
        text = value if isinstance(value, str) else dialect.date_text(value)
        # Control characters go first: stripped after neutralising, "\x01=HYPERLINK(...)"
        # would lose its \x01 after the check and become a formula again.
        return neutralise(_strip_control(text))

    yield ("\ufeff" + writer.writerow([cell(name) for name in header])).encode("utf-8")
    for row in rows:
        yield writer.writerow([cell(value) for value in row]).encode("utf-8")


def _write_csv(
    header: list[str], rows: Iterable[list[Cell]], handle: IO[bytes], dialect: Dialect
) -> int:
    lines = _csv_lines(header, rows, dialect)
    handle.write(next(lines))
    count = 0
    for line in lines:
        handle.write(line)
        count += 1
    return count


def _xlsx_text(value: str) -> str:
    return _strip_control(value)[:XLSX_MAX_CELL]


def _xlsx_row(sheet: Any, row: list[Cell]) -> list[Any]:
    """The row's cells for openpyxl: string cells (type "s"), and date cells shown dd/mm/yyyy.

    Given a plain str, openpyxl types one starting with "=" as a formula and "#N/A" and
    friends as errors: those are set as cells of type "s" by hand. Other strings are given
    as they are, which openpyxl types "s" itself, cheaply.
    """
    cells: list[Any] = []
    for value in row:
        if isinstance(value, str):
            text = _xlsx_text(value)
            if text.startswith("=") or text in ERROR_CODES:
                cell = WriteOnlyCell(sheet)
                cell._value = text  # noqa: SLF001 - the setter would type it again
                cell.data_type = "s"
                cells.append(cell)
            else:
                cells.append(text or None)  # an empty cell rather than an empty string
        else:
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = XLSX_DATE_FORMAT
            cells.append(cell)
    return cells


def _write_xlsx(
    header: list[str], rows: Iterable[list[Cell]], handle: IO[bytes] | str, columns: list[str]
) -> int:
    # write_only streams rows to a temporary file instead of building the sheet in memory.
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Contacts")
    sheet.freeze_panes = "A2"
    for index, name in enumerate(columns):
        wide = name in ("email", "address", "notes")
        sheet.column_dimensions[get_column_letter(index + 1)].width = 28 if wide else 16
    bold = Font(bold=True)
    title_cells = []
    for name in header:
        cell = WriteOnlyCell(sheet)
        cell._value = _xlsx_text(name)  # noqa: SLF001 - an attribute key may start with "="
        cell.data_type = "s"
        cell.font = bold
        title_cells.append(cell)
    sheet.append(title_cells)
    count = 0
    for row in rows:
        sheet.append(_xlsx_row(sheet, row))
        count += 1
    workbook.save(handle)
    return count


def _audit_export(
    *,
    actor: Actor,
    fmt: str,
    count: int,
    columns: list[str],
    filters: Mapping[str, Any] | None,
    ip_address: str | None,
    destination: str = "",
    dialect: Dialect = CANONICAL,
) -> None:
    changes: dict[str, Any] = {
        "format": fmt,
        # Which of the CSVs: "Excel (France)" and the standard one are both "csv".
        "dialect": dialect.code,
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


def _write(
    fmt: Format,
    dialect: Dialect,
    queryset: QuerySet[Contact],
    handle: IO[bytes],
) -> tuple[int, list[str]]:
    keys = attribute_keys(queryset)
    header, rows = contacts_export_rows(queryset=queryset, dialect=dialect, fmt=fmt, attr_keys=keys)
    if fmt == "csv":
        return _write_csv(header, rows, handle, dialect), header
    return _write_xlsx(header, rows, handle, export_columns(keys, dialect)), header


def contacts_export(
    *,
    queryset: QuerySet[Contact],
    fmt: Format,
    output: str | os.PathLike | IO[bytes],
    dialect: Dialect = CANONICAL,
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
    destination = ""
    if isinstance(output, (str, os.PathLike)):
        destination = str(output)
        with open(output, "wb") as handle:
            count, header = _write(fmt, dialect, queryset, handle)
    else:
        count, header = _write(fmt, dialect, queryset, output)
    _audit_export(
        actor=actor,
        fmt=fmt,
        count=count,
        columns=header,
        filters=filters,
        ip_address=ip_address,
        destination=destination,
        dialect=dialect,
    )
    return ExportResult(
        rows=count,
        columns=header,
        format=fmt,
        seconds=round(time.perf_counter() - started, 3),
        dialect=dialect.code,
    )


def contacts_export_csv_stream(
    *,
    queryset: QuerySet[Contact],
    dialect: Dialect = CANONICAL,
    actor: Actor = None,
    filters: Mapping[str, Any] | None = None,
    ip_address: str | None = None,
) -> Iterator[bytes]:
    """CSV bytes, row by row, for a streaming HTTP response.

    The export is audited before the first byte leaves, with the number of contacts it covers:
    a download the browser abandons half-way has still exposed data and must be on record.
    """
    header, rows = contacts_export_rows(queryset=queryset, dialect=dialect, fmt="csv")
    _audit_export(
        actor=actor,
        fmt="csv",
        count=queryset.count(),
        columns=header,
        filters=filters,
        ip_address=ip_address,
        dialect=dialect,
    )
    return _csv_lines(header, rows, dialect)


def contacts_export_xlsx_file(
    *,
    queryset: QuerySet[Contact],
    dialect: Dialect = CANONICAL,
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
        dialect=dialect,
        actor=actor,
        filters=filters,
        ip_address=ip_address,
    )
    handle.seek(0)
    return handle
