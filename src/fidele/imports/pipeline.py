"""Pieces shared by the contact and order imports: counters, the rejected-rows file, options."""

from __future__ import annotations

import csv
import queue
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext_lazy, gettext_noop

from fidele.core.actors import Actor
from fidele.imports.reader import REFUSED_CHARACTERS
from fidele.ui.texts import Text, text_render

# A cell longer than this is not a value a person typed: reject the row and say which column.
MAX_CELL_CHARS = 10_000
BATCH_ROWS = 5_000
WARNINGS_KEPT = 200
WARNING_GROUPS_KEPT = 50
_QUOTED = re.compile(r"“[^”]*”")

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


# A number as people write one ("+33 6 12 34 56 78", "-12,50"): a spreadsheet reads it as a
# number, never as a formula that calls anything.
_PLAIN_NUMBER = re.compile(r"[+-][\d\s().,]*\d[\d\s().,]*")


def neutralise(value: str) -> str:
    """Spreadsheets run a cell starting with = + - @ (or tab / CR before one) as a formula."""
    if value and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _neutralise_for_reimport(value: str) -> str:
    # The rejected rows go back to the user to be corrected and imported again: a phone written
    # "+33 6 12 34 56 78" must come back as it was written, not as "'+33 6 12 34 56 78".
    return value if _PLAIN_NUMBER.fullmatch(value or "") else neutralise(value)


def cell_too_long(column: str, size: int) -> str:
    """The reason a row is rejected for a cell longer than MAX_CELL_CHARS."""
    return Text(
        gettext_noop(
            "%(column)s: the cell holds %(size)s characters, more than the %(limit)s a cell may "
            "hold"
        ),
        column=column,
        size=size,
        limit=MAX_CELL_CHARS,
    )


def cell_cut(size: int, limit: int) -> Text:
    """The warning for a cell longer than its field may hold, cut to fit (the row is kept)."""
    return Text(
        # Without the column's name: a warning is always shown (and written) beside it.
        gettext_noop("cut to %(limit)s characters (the cell held %(size)s)"),
        size=size,
        limit=limit,
    )


@dataclass
class ImportOptions:
    kind: str
    mapping: list[str]
    list_name: str = ""
    update: bool = False
    consent_confirmed: bool = False
    actor: Actor = None
    actor_name: str = "system"
    file_name: str = ""
    job_id: int | None = None
    progress: Callable[[int], None] | None = None
    # Saves the counts so far now (the progress saves them at most twice a second).
    heartbeat: Callable[[], None] | None = None


# The two columns the rejected-rows file adds, in the user's language; an import of that file
# (corrected) recognises them in either language and ignores them (fidele.imports.mapping).
REJECT_COLUMNS = {"row": gettext_lazy("row"), "reason": gettext_lazy("reason")}
WARNING_COLUMNS = (
    gettext_lazy("row"),
    gettext_lazy("column"),
    gettext_lazy("warning"),
    gettext_lazy("original value"),
)


class ImportFile:
    """A CSV an import writes line by line as it runs, for the user to download.

    Opened on the first line only, so a clean import leaves no empty file behind. UTF-8 with a
    BOM and `;` so that a French Excel opens it with its accents and its columns; every cell
    neutralised so that no cell runs as a formula. The files of an import live side by side
    under IMPORTS_DIR, downloaded with the same permission and kept as long as each other.
    """

    directory = ""

    def __init__(self, *, prefix: str):
        self.prefix = prefix
        self.path: Path | None = None
        self.count = 0
        self._handle: Any = None
        self._writer: Any = None
        # Both the reading thread and the writing thread (BatchWriter) may write lines.
        self._lock = threading.Lock()

    def columns(self) -> list[str]:
        """The first line of the file."""
        raise NotImplementedError

    def line(self, cells: list[str]) -> None:
        with self._lock:
            self._line(cells)

    def _line(self, cells: list[str]) -> None:
        if self._writer is None:
            directory = Path(settings.IMPORTS_DIR) / self.directory
            directory.mkdir(parents=True, exist_ok=True)
            self.path = directory / f"{self.prefix}-{secrets.token_hex(6)}.csv"
            self._handle = self.path.open("w", encoding="utf-8-sig", newline="")
            self._writer = csv.writer(self._handle, delimiter=";")
            self._writer.writerow([neutralise(h) for h in self.columns()])
        self._writer.writerow([_neutralise_for_reimport(c) for c in cells])
        self.count += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class RejectWriter(ImportFile):
    """The rejected rows: the file's own columns, then the row number and the reason."""

    directory = "rejected"

    def __init__(self, header: list[str], *, prefix: str):
        super().__init__(prefix=prefix)
        self.header = header

    def columns(self) -> list[str]:
        return [*self.header, str(REJECT_COLUMNS["row"]), str(REJECT_COLUMNS["reason"])]

    def write(self, row: int, cells: list[str], reason: str) -> None:
        width = len(self.header)
        padded = list(cells[:width]) + [""] * (width - len(cells))
        extra = [c for c in cells[width:] if c]
        if extra:  # cells beyond the header are kept rather than silently dropped
            padded[-1:] = [" | ".join([padded[-1], *extra])] if padded else extra
        self.line([*padded, str(row), reason])


class WarningWriter(ImportFile):
    """Every warning, one line each: row, column, message and the cell as the file held it
    (the summary keeps only counts and first examples, and a cut cell keeps only its start)."""

    directory = "warnings"

    def columns(self) -> list[str]:
        return [str(name) for name in WARNING_COLUMNS]

    def write(self, row: int, column: str, message: str, value: str) -> None:
        # A character no file can hold (a lone surrogate) shows as � where it was.
        self.line(
            [str(row) if row else "", column, message, REFUSED_CHARACTERS.sub("\ufffd", value)]
        )


@dataclass
class Counters:
    rows: int = 0
    created: int = 0
    updated: int = 0
    merged: int = 0
    skipped: int = 0
    rejected: int = 0
    subscribed: int = 0
    warnings: int = 0
    invalid_phones: int = 0
    lines: int = 0
    products_created: int = 0
    warnings_sample: list[dict[str, Any]] = field(default_factory=list)
    # Rows merged because one email came with a second customer number (kept as an alias):
    # counted in `merged`, and the first ones listed for a person to check.
    merges_review: int = 0
    merges_review_sample: list[dict[str, Any]] = field(default_factory=list)
    # A first import writes the whole file in one transaction: when it fails, nothing is kept
    # and the counts of what was written say so (rows read, rejected and warned stay).
    rolled_back: bool = False
    # Set while such a transaction is open: an interrupted import's last heartbeat says so.
    all_or_nothing: bool = False
    # Seconds spent building the search indexes after a first import's commit.
    search_indexes_seconds: float | None = None
    warning_groups: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # Every warning goes to this file as it happens; memory holds only the sample and groups.
    warnings_file: WarningWriter | None = None

    def nothing_kept(self) -> None:
        self.rolled_back = True
        self.created = self.updated = self.merged = self.skipped = self.subscribed = 0
        self.merges_review = 0
        self.merges_review_sample = []

    def warn(self, row: int, column: str, message: str, value: str = "") -> None:
        """`value` is the cell as the file held it, for the warnings file."""
        self.warnings += 1
        if self.warnings_file is not None:
            self.warnings_file.write(row, column, message, value)
        # The message as it reads now, and its source for the pages to show it in the viewer's
        # language (fidele.ui.texts).
        text = message.data if isinstance(message, Text) else None
        if len(self.warnings_sample) < WARNINGS_KEPT:
            self.warnings_sample.append(
                {"row": row, "column": column, "message": str(message), "text": text}
            )
        # 180 lines saying "unreadable phone" read worse than one line saying it 180 times:
        # group by column and by message without its values.
        kind = message.kind if isinstance(message, Text) else _QUOTED.sub("“…”", message)
        key = (column, kind)
        group = self.warning_groups.get(key)
        if group is None:
            if len(self.warning_groups) >= WARNING_GROUPS_KEPT:
                return
            group = self.warning_groups[key] = {
                "column": column,
                "example": str(message),
                "example_text": text,
                "count": 0,
                "rows": [],
            }
        group["count"] += 1
        if row and len(group["rows"]) < 10:
            group["rows"].append(row)

    def merge_to_review(
        self, *, row: int, email: str | None, number: str, other_number: str, contact_id: int
    ) -> None:
        self.merges_review += 1
        if len(self.merges_review_sample) < WARNINGS_KEPT:
            self.merges_review_sample.append(
                {
                    "row": row,
                    "email": email,
                    "number": number,
                    "other_number": other_number,
                    "contact_id": contact_id,
                }
            )

    def grouped_warnings(self) -> list[dict[str, Any]]:
        return sorted(self.warning_groups.values(), key=lambda g: -g["count"])


def warnings_shown(summary: dict[str, Any], *, sample: int) -> dict[str, list[dict[str, Any]]]:
    """The summary's warning groups and first warnings, their messages in the active language
    (the viewer's, not the one the import ran in)."""
    return {
        "warning_groups": [
            {**group, "example": text_render(group.get("example_text") or group.get("example"))}
            for group in summary.get("warning_groups") or []
        ],
        "warnings_sample": [
            {**warning, "message": text_render(warning.get("text") or warning.get("message"))}
            for warning in (summary.get("warnings_sample") or [])[:sample]
        ],
    }


class IdSet:
    """Ids of the rows this import created, one bit each: 1M contacts take 125 kB, not 60 MB.

    Ids from a sequence are dense from the first one we get; ids taken by someone else in
    between only leave unused bits.
    """

    def __init__(self) -> None:
        self.base: int | None = None
        self.bits = bytearray()

    def add(self, value: int) -> None:
        if self.base is None:
            self.base = value
        if value < self.base:
            shift = (self.base - value + 7) // 8
            self.bits[:0] = bytes(shift)
            self.base -= shift * 8
        offset = value - self.base
        index = offset >> 3
        if index >= len(self.bits):
            self.bits.extend(bytes(index - len(self.bits) + 1 + len(self.bits) // 2))
        self.bits[index] |= 1 << (offset & 7)

    def __contains__(self, value: object) -> bool:
        if self.base is None or not isinstance(value, int) or value < self.base:
            return False
        offset = value - self.base
        index = offset >> 3
        return index < len(self.bits) and bool(self.bits[index] & (1 << (offset & 7)))


class BatchWriter:
    """Writes batches in a second thread while the caller reads and normalises the next one.

    Python (parsing, normalising) and the database (index maintenance) each keep a core busy
    instead of taking turns. The queue holds one batch, so memory stays at two batches. The
    thread has its own database connection, so this is only used outside a transaction (the
    caller's rows would be invisible to it).
    """

    def __init__(
        self,
        write: Callable[[Any], None],
        finish: Callable[[bool], None] | None = None,
    ):
        self.write = write
        # Called in the thread once the last batch is written, with whether to keep what was
        # written (the whole file's transaction of a first import ends where it began).
        self.finish = finish
        self.keep = True
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        # Reasons and warnings written from the thread are in the import's language, which is
        # active in the caller's thread only.
        self.language = translation.get_language()
        self.thread = threading.Thread(target=self._loop, name="fidele-import-writer", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        from django.db import connection

        translation.activate(self.language)
        try:
            while True:
                batch = self.queue.get()
                if batch is None:
                    if self.finish is not None:
                        try:
                            self.finish(self.keep and self.error is None)
                        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
                            self.error = self.error or exc
                    return
                if self.error is None:  # after a failure, drain without writing
                    try:
                        self.write(batch)
                    except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
                        self.error = exc
        finally:
            connection.close()

    def submit(self, batch: Any) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(batch)

    def close(self, *, raise_error: bool = True, keep: bool = True) -> None:
        self.keep = keep
        self.queue.put(None)
        self.thread.join()
        if raise_error and self.error is not None:
            raise self.error


def overlap_writes() -> bool:
    """Whether to write batches from a second thread (see BatchWriter)."""
    from django.conf import settings
    from django.db import connection

    forced = settings.IMPORT_WRITER_THREAD
    if forced is not None:
        return bool(forced) and not connection.in_atomic_block
    return connection.vendor == "postgresql" and not connection.in_atomic_block
