"""Each sender connection's results in a file of its own, before they reach the outbox table.

A sender appends one line per message to its journal (a write to a local file: no other process
has to wake up for it, unlike a database round trip, which cost a sender and PostgreSQL more CPU
than rendering the message) before it hands over the next message, and copies the lines to the
outbox table in one transaction every few hundred messages or every second (engine.ResultWriter).

A sender killed with kill -9 leaves its journal in the kernel's page cache, which outlives the
process: whoever recovers its claims on this machine (the next sender, the watchdog) applies the
journal first (store.DjangoSendStore.claims_recover), so no recipient it had sent to is sent to
again, except the one message in flight at the kill.

What this gives up against one database write per message: when the whole machine stops (a
power cut, a kernel crash), or when a sender's claims are recovered from another machine after
its lease ran out, the results of at most one copy interval per connection are lost, and those
recipients are sent to again.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

SUFFIX = ".jsonl"

# The journals a writer of this process holds open: any other journal of this process was left
# by a writer that failed to copy it (the database was down) and is anybody's to record.
_open: set[Path] = set()


def journal_dir() -> Path:
    return Path(settings.DATA_DIR) / "outbox-journals"


def _path_of(claimer: str) -> Path:
    # Claimer names are hex and digits joined by ":" (store.claimer_name).
    return journal_dir() / (claimer.replace(":", "_") + SUFFIX)


def _claimer_of(path: Path) -> str:
    return path.name[: -len(SUFFIX)].replace("_", ":")


class Journal:
    """One sender connection's journal: `append` a record per message, `clear` once copied."""

    def __init__(self, claimer: str):
        directory = journal_dir()
        directory.mkdir(parents=True, exist_ok=True)
        self.path = _path_of(claimer)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _open.add(self.path)

    def append(self, record: list[Any]) -> None:
        # One write() per record: a process killed in between leaves whole lines only.
        os.write(self._fd, json.dumps(record, separators=(",", ":")).encode() + b"\n")

    def clear(self) -> None:
        os.ftruncate(self._fd, 0)

    def close(self, *, delete: bool) -> None:
        """Closes the journal; deletes it when everything in it has been copied."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            _open.discard(self.path)
            if delete:
                self.path.unlink(missing_ok=True)


def journal_is_open(path: Path) -> bool:
    """Whether a writer of this process is using the journal."""
    return path in _open


def journal_records(path: Path) -> list[list[Any]]:
    records = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                records.append(json.loads(line))
            except ValueError:
                logger.warning("outbox journal %s: line %s is unreadable, skipped", path, number)
    return records


def journals_left() -> Iterator[tuple[str, Path]]:
    """(claimer, path) of every journal on this machine, whoever left it."""
    directory = journal_dir()
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("*" + SUFFIX)):
        yield _claimer_of(path), path
