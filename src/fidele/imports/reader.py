"""Reading CSV and XLSX files as a stream of rows, whatever their encoding and delimiter.

A file is read twice: once for a sample (encoding, delimiter, header, a preview), then in full as
a generator so that memory stays flat however large the file is. Every problem a user can cause
(an empty file, a binary file, an old .xls, an unterminated quote) ends in `ImportFileError` with a
message that names the file and, when known, the row: never a traceback.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.utils.translation import gettext as _

# One cell may legitimately hold a long comment; a cell larger than this is a broken quote
# swallowing the rest of the file, and csv stops there with a clear error rather than
# reading gigabytes into memory. (The importer rejects cells over 10 000 characters anyway.)
CSV_FIELD_LIMIT = 1024 * 1024
csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
# A record (one line, or several joined by quoted newlines) longer than this is not a row a
# person made: lines are read at most this long, so a 66 MB one-line file never sits in memory
# whole, nor as millions of tiny cells.
CSV_RECORD_LIMIT = 1024 * 1024

# XLSX limits (the unpacked size and compression ratio are settings, see _check_archive).
XLSX_MAX_CELL = 32767  # Excel itself cannot hold more in a cell
XLSX_MAX_COLUMNS = 1000  # non-empty columns; Excel allows 16 384, no customer file has 1 000
XLSX_RATIO_FROM = 1024 * 1024  # parts smaller than this unpacked are never a bomb
XLSX_WHOLE_PART_SHARE = 10  # a part openpyxl reads whole may take 1/10 of the unpacked limit

# Characters PostgreSQL cannot store in text: NUL, and halves of a UTF-16 pair that no text
# can encode. The importers remove them from cells with a warning (see imports/cells.py).
REFUSED_CHARACTERS = re.compile("[\x00\ud800-\udfff]")

SAMPLE_BYTES = 256 * 1024
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}

XLSX_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # old binary .xls (and .doc)


class ImportFileError(Exception):
    """A file that cannot be read as a table. The message is meant for the user."""

    def __init__(self, message: str, *, row: int | None = None, column: str | None = None):
        super().__init__(message)
        self.message = message
        self.row = row
        self.column = column

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(_("row %(row)s") % {"row": self.row})
        if self.column:
            where.append(_("column “%(column)s”") % {"column": self.column})
        return f"{self.message} ({', '.join(where)})" if where else self.message


def _cp1252_fallback(error: UnicodeError) -> tuple[str, int]:
    """Decode the offending bytes as cp1252 (latin-1 for its 5 holes) instead of failing.

    Real files mix encodings (a UTF-8 export with a few lines pasted from an old cp1252 one):
    reading those bytes as cp1252 keeps "é" an "é" rather than losing the row or the import.
    """
    if not isinstance(error, UnicodeDecodeError):
        raise error
    chunk = error.object[error.start : error.end]
    return chunk.decode("cp1252", errors="replace").replace("\ufffd", ""), error.end


codecs.register_error("fidele-cp1252", _cp1252_fallback)


def _latin1_holes(error: UnicodeError) -> tuple[str, int]:
    # cp1252 leaves 0x81 0x8D 0x8F 0x90 0x9D undefined: read them as latin-1 control characters.
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error("fidele-latin1", _latin1_holes)


@dataclass
class FileShape:
    """What detection found; stored on the ImportJob and shown on the preview page."""

    format: str  # "csv" or "xlsx"
    encoding: str = ""
    delimiter: str = ""
    sheet: str = ""
    header_row: int = 1  # 1-based, as a spreadsheet shows it
    rows_estimate: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "sheet": self.sheet,
            "header_row": self.header_row,
            "rows_estimate": self.rows_estimate,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileShape:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class Table:
    """An opened file: its shape, its header, and an iterator of (row number, cells)."""

    shape: FileShape
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]


def detect_encoding(sample: bytes) -> str:
    """UTF-8 (with or without BOM) when the bytes decode as such, else a Western single-byte one.

    A strict UTF-8 decode is tried first because it almost never succeeds by accident on
    cp1252 text holding accents; charset-normalizer is only asked when it fails, and its answer
    is kept only when it is UTF-16 (which a BOM-less export can be) - for anything else a French
    business's file is cp1252 (Excel's "CSV (séparateur: point-virgule)") far more often than
    the exotic code page a statistical guess on a short sample may suggest.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    try:
        # final=False: the sample may end in the middle of a multi-byte character.
        decoder.decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(sample[:65536]).best()
    except Exception:  # noqa: BLE001 - detection is a hint, never a reason to fail
        best = None
    if best is not None and best.encoding.replace("-", "_").startswith("utf_16"):
        return "utf-16"
    return "cp1252"


def _errors_for(encoding: str) -> str:
    if encoding in ("utf-8", "utf-8-sig"):
        return "fidele-cp1252"
    if encoding == "cp1252":
        return "fidele-latin1"
    return "replace"


def _looks_binary(sample: bytes, encoding: str) -> bool:
    if encoding == "utf-16":
        return False
    head = sample[:8192]
    if not head:
        return False
    # NUL counts as any control byte: one NUL in a text file is a broken cell (the importers
    # remove it with a warning), not a reason to refuse the whole file.
    control = sum(1 for b in head if b < 9 or 13 < b < 32)
    return control > len(head) * 0.05


def _decode_sample(sample: bytes, encoding: str) -> str:
    text = sample.decode(encoding, errors=_errors_for(encoding))
    if len(sample) == SAMPLE_BYTES:
        # Drop the last, probably cut, line.
        cut = max(text.rfind("\n"), 0)
        text = text[:cut] if cut else text
    return text


def detect_delimiter(text: str) -> str:
    """The candidate giving the most consistent number of columns (>1) over the sample.

    Parsing with csv (rather than counting characters) means delimiters inside quoted fields
    are not counted, and a title line above the header only costs one inconsistent row.
    """
    # Without a consistent candidate (a one-column file, a file of blank lines), the most
    # frequent one is the best guess.
    best = max(DELIMITERS, key=lambda d: (text.count(d), d == ","))
    best_score = -1.0
    for delimiter in DELIMITERS:
        counts: list[int] = []
        try:
            for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
                if any(cell.strip() for cell in record):
                    counts.append(len(record))
                if len(counts) >= 50:
                    break
        except csv.Error:
            continue
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        if mode < 2:
            continue
        consistency = counts.count(mode) / len(counts)
        score = consistency * 10 + min(mode, 50) / 50
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _estimate_rows(path: Path) -> int:
    # Counting newlines runs at disk speed; quoted newlines make it a slight over-estimate,
    # which only makes the progress bar finish with a jump.
    count = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
    return max(count, 1)


def sniff(path: Path, *, name: str | None = None) -> FileShape:
    """Detect the format, encoding and delimiter of a file, or raise ImportFileError."""
    name = name or path.name
    try:
        with path.open("rb") as handle:
            sample = handle.read(SAMPLE_BYTES)
    except OSError as exc:
        raise ImportFileError(
            _("%(file)s cannot be opened: %(error)s") % {"file": name, "error": exc}
        ) from exc
    if not sample.strip(b" \t\r\n" + codecs.BOM_UTF8):
        raise ImportFileError(_("%(file)s is empty.") % {"file": name})
    if sample.startswith(XLSX_MAGIC):
        return FileShape(format="xlsx")
    if sample.startswith(OLE2_MAGIC):
        raise ImportFileError(
            _(
                "%(file)s is an old Excel (.xls) file, which cannot be read. In Excel, use "
                "“Save as” and choose “Excel workbook (.xlsx)” or “CSV”."
            )
            % {"file": name}
        )
    encoding = detect_encoding(sample)
    if _looks_binary(sample, encoding):
        raise ImportFileError(
            _("%(file)s does not look like a CSV or Excel file (it holds binary data).")
            % {"file": name}
        )
    text = _decode_sample(sample, encoding)
    return FileShape(
        format="csv",
        encoding=encoding,
        delimiter=detect_delimiter(text),
        rows_estimate=_estimate_rows(path),
    )


def _clean(value: Any) -> str:
    """A cell as text. Excel's numbers and dates become what a person would have typed."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        # 612345678.0 (a phone Excel took for a number) must read 612345678, not 6.12e8.
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


class _RecordTooLong(Exception):
    pass


class _BoundedLines:
    """The lines of a text file, none longer than `limit` characters, nor any record.

    csv.reader pulls lines from it; `start_record()` is called after each record it returns, so
    that a record spread over many lines by quoted newlines is bounded too.
    """

    def __init__(self, handle: IO[str], limit: int):
        self.handle = handle
        self.limit = limit
        self.taken = 0

    def __iter__(self) -> _BoundedLines:
        return self

    def __next__(self) -> str:
        line = self.handle.readline(self.limit + 1)
        if not line:
            raise StopIteration
        self.taken += len(line)
        if self.taken > self.limit:
            raise _RecordTooLong
        return line

    def start_record(self) -> None:
        self.taken = 0


def _size(value: int) -> str:
    return f"{value:,}".replace(",", " ")


def _csv_records(path: Path, shape: FileShape, name: str) -> Iterator[tuple[int, list[str]]]:
    handle = path.open("r", encoding=shape.encoding, errors=_errors_for(shape.encoding), newline="")
    number = 0
    try:
        lines = _BoundedLines(handle, CSV_RECORD_LIMIT)
        reader = csv.reader(lines, delimiter=shape.delimiter or ",")
        while True:
            lines.start_record()
            try:
                record = next(reader)
            except StopIteration:
                return
            except _RecordTooLong as exc:
                raise ImportFileError(
                    _(
                        "%(file)s cannot be read further: a row is longer than the %(limit)s "
                        "characters a row may hold"
                    )
                    % {"file": name, "limit": _size(CSV_RECORD_LIMIT)},
                    row=number + 1,
                ) from exc
            except csv.Error as exc:
                message = str(exc)
                if "field larger than field limit" in message:
                    message = _(
                        'a cell is longer than %(limit)s characters: most likely a quote (") '
                        "opened and never closed"
                    ) % {"limit": _size(csv.field_size_limit())}
                raise ImportFileError(
                    _("%(file)s cannot be read further: %(error)s")
                    % {"file": name, "error": message},
                    row=number + 1,
                ) from exc
            except UnicodeError as exc:  # only with an explicit, wrong encoding
                raise ImportFileError(
                    _("%(file)s is not in the %(encoding)s encoding.")
                    % {"file": name, "encoding": shape.encoding},
                    row=number + 1,
                ) from exc
            number += 1
            yield number, record
    finally:
        handle.close()


def _unreadable_workbook(name: str, exc: BaseException) -> ImportFileError:
    return ImportFileError(
        _("%(file)s is not a readable Excel workbook (%(error)s).") % {"file": name, "error": exc}
    )


def _too_big(name: str, part: str, limit: int) -> ImportFileError:
    return ImportFileError(
        _(
            "%(file)s unpacks to more than %(limit)s MB (part “%(part)s”), more than an Excel "
            "file of customers or orders can hold: it may be a zip bomb. Save it again from Excel, "
            "or split it."
        )
        % {"file": name, "part": part, "limit": _size(max(limit // (1024 * 1024), 1))}
    )


_CHECKED: dict[tuple[str, int, int, int, int], bool] = {}


def _check_archive(path: Path, name: str) -> None:
    """Refuse a zip that would unpack to too much, before openpyxl opens any part of it.

    Declared sizes and compression ratios are checked from the zip's directory; the actual
    sizes by unpacking every part once, in chunks, stopping at the first byte over a limit
    (a zip may lie about its sizes). openpyxl reads the worksheets as a stream but the other
    parts (shared strings, styles) whole, so those get a smaller limit each. The verdict is
    remembered for the file as it is on disk, as a preview reopens it on each display.
    """
    total_limit = settings.IMPORT_XLSX_MAX_UNPACKED_BYTES
    whole_limit = total_limit // XLSX_WHOLE_PART_SHARE
    max_ratio = settings.IMPORT_XLSX_MAX_RATIO
    try:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns, total_limit, max_ratio)
        if _CHECKED.get(key):
            return
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            declared = 0
            for info in members:
                limit = total_limit if _is_worksheet(info.filename) else whole_limit
                declared += info.file_size
                if info.file_size > limit or declared > total_limit:
                    raise _too_big(name, info.filename, limit)
                if info.file_size > XLSX_RATIO_FROM and info.file_size > max_ratio * max(
                    info.compress_size, 1
                ):
                    raise ImportFileError(
                        _(
                            "%(file)s is compressed %(ratio)s times (part “%(part)s”), more "
                            "than the %(limit)s times an Excel file ever is: it may be a zip "
                            "bomb. Save it again from Excel."
                        )
                        % {
                            "file": name,
                            "part": info.filename,
                            "ratio": _size(info.file_size // max(info.compress_size, 1)),
                            "limit": max_ratio,
                        }
                    )
            actual = 0
            for info in members:
                limit = total_limit if _is_worksheet(info.filename) else whole_limit
                size = 0
                with archive.open(info) as part:
                    while chunk := part.read(1 << 20):
                        size += len(chunk)
                        actual += len(chunk)
                        if size > limit or actual > total_limit:
                            raise _too_big(name, info.filename, limit)
    except ImportFileError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise _unreadable_workbook(name, exc) from exc
    except Exception as exc:  # noqa: BLE001 - zlib and friends raise their own types
        raise _unreadable_workbook(name, exc) from exc
    if len(_CHECKED) > 100:
        _CHECKED.clear()
    _CHECKED[key] = True


def _is_worksheet(part: str) -> bool:
    return part.startswith("xl/worksheets/") and part.endswith(".xml")


def _xlsx_records(path: Path, shape: FileShape, name: str) -> Iterator[tuple[int, list[str]]]:
    _check_archive(path, name)
    try:
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types on damaged files
        raise _unreadable_workbook(name, exc) from exc
    try:
        try:
            sheet = (
                workbook[shape.sheet]
                if shape.sheet in workbook.sheetnames
                else workbook.worksheets[0]
            )
        except Exception as exc:  # noqa: BLE001 - a workbook without a readable sheet
            raise _unreadable_workbook(name, exc) from exc
        shape.sheet = sheet.title
        declared_rows = getattr(sheet, "max_row", None)
        # The <dimension> a file declares is not to be trusted: read-only openpyxl would pad
        # every row to its width and add empty rows down to its height (A1:XFD1048576 is 17
        # billion cells). Forget it: rows come as the file holds them.
        sheet._max_row = sheet._max_column = None  # noqa: SLF001 - ReadOnlyWorksheet.reset_dimensions
        if shape.rows_estimate is None and declared_rows:
            # Only a progress hint; still never more rows than the sheet's bytes could hold.
            part = getattr(sheet, "_worksheet_path", "")
            try:
                room = workbook._archive.getinfo(part).file_size // 20  # noqa: SLF001
            except Exception:  # noqa: BLE001
                room = declared_rows
            shape.rows_estimate = max(min(declared_rows, room), 1)
        where = {"file": name, "sheet": sheet.title}
        try:
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                yield number, _xlsx_cells(values, number, where)
        except ImportFileError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise ImportFileError(
                _("%(file)s cannot be read further: %(error)s") % {"file": name, "error": exc}
            ) from exc
    finally:
        workbook.close()


def _xlsx_cells(values: tuple[Any, ...], number: int, where: dict[str, str]) -> list[str]:
    from openpyxl.utils import get_column_letter

    width = len(values)
    while width and values[width - 1] is None:
        width -= 1  # empty styled cells far to the right are not data
    if width > XLSX_MAX_COLUMNS:
        raise ImportFileError(
            _(
                "%(file)s, sheet “%(sheet)s”: a row has a value in column %(letter)s, beyond the "
                "%(limit)s columns a file may have"
            )
            % {**where, "letter": get_column_letter(width), "limit": _size(XLSX_MAX_COLUMNS)},
            row=number,
            column=get_column_letter(width),
        )
    cells = []
    for index in range(width):
        value = values[index]
        if isinstance(value, str) and len(value) > XLSX_MAX_CELL:
            raise ImportFileError(
                _(
                    "%(file)s, sheet “%(sheet)s”: a cell holds %(size)s characters, more than "
                    "the %(limit)s an Excel cell may hold"
                )
                % {**where, "size": _size(len(value)), "limit": _size(XLSX_MAX_CELL)},
                row=number,
                column=get_column_letter(index + 1),
            )
        cells.append(_clean(value))
    return cells


def records(
    path: Path, shape: FileShape, *, name: str | None = None
) -> Iterator[tuple[int, list[str]]]:
    """Every record of the file, blank ones included, numbered from 1 as a spreadsheet shows."""
    name = name or path.name
    if shape.format == "xlsx":
        return _xlsx_records(path, shape, name)
    return _csv_records(path, shape, name)


def is_blank(cells: list[str]) -> bool:
    return not any(cell and cell.strip() for cell in cells)


def open_table(
    path: Path,
    *,
    shape: FileShape | None = None,
    name: str | None = None,
    choose_header: Any = None,
) -> Table:
    """Open a file: the header row, then a generator of the data rows (blank rows skipped).

    `choose_header(candidates)` may pick the header among the first non-blank records (a title
    line above the header is common in exports); by default the first non-blank record is it.
    """
    name = name or path.name
    shape = shape or sniff(path, name=name)
    stream = records(path, shape, name=name)
    head: list[tuple[int, list[str]]] = []
    for number, cells in stream:
        if is_blank(cells):
            continue
        head.append((number, cells))
        if len(head) >= 10:
            break
    if not head:
        raise ImportFileError(_("%(file)s is empty.") % {"file": name})
    index = 0
    if choose_header is not None and shape.header_row == 1:
        index = choose_header([cells for _n, cells in head])
    elif shape.header_row != 1:
        index = next((i for i, (n, _c) in enumerate(head) if n == shape.header_row), 0)
    header_number, header = head[index]
    shape.header_row = header_number
    # A NUL (or a lone surrogate) in a column name would end up in a database key, which
    # PostgreSQL refuses: it is not something anyone typed, so it goes.
    header = [REFUSED_CHARACTERS.sub("", h).strip().lstrip("\ufeff") for h in header]
    while header and not header[-1]:
        header.pop()  # Excel often adds empty trailing columns
    buffered = head[index + 1 :]

    def data_rows() -> Iterator[tuple[int, list[str]]]:
        yield from buffered
        for number, cells in stream:
            if not is_blank(cells):
                yield number, cells

    return Table(shape=shape, header=header, rows=data_rows())


def read_preview(
    path: Path, *, shape: FileShape, name: str, count: int = 10, choose_header: Any = None
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the first `count` data rows, for the preview page."""
    table = open_table(path, shape=shape, name=name, choose_header=choose_header)
    rows: list[tuple[int, list[str]]] = []
    for item in table.rows:
        rows.append(item)
        if len(rows) >= count:
            break
    table.rows.close()  # type: ignore[attr-defined]
    return table.header, rows
