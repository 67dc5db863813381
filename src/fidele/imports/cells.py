"""Characters a database cannot store, taken out of a file's cells before anything else."""

from __future__ import annotations

from collections.abc import Callable

from django.utils.translation import gettext_noop

from fidele.imports.reader import REFUSED_CHARACTERS
from fidele.ui.texts import Text


def cells_without_refused(
    number: int,
    cells: list[str],
    header: list[str],
    warn: Callable[[int, str, str, str], None],
) -> list[str]:
    """`cells`, with NUL bytes and lone surrogates removed and a warning for each cell changed.

    PostgreSQL refuses them in text, and one of them used to fail the whole import; the rest of
    the cell is what the person meant, so the row is kept. One search over the joined row keeps
    the clean rows (all of them, in practice) at the cost of a join.
    """
    if not REFUSED_CHARACTERS.search("".join(cells)):
        return cells
    cleaned = list(cells)
    for index, cell in enumerate(cells):
        if REFUSED_CHARACTERS.search(cell):
            cleaned[index] = REFUSED_CHARACTERS.sub("", cell)
            column = header[index] if index < len(header) and header[index] else f"#{index + 1}"
            warn(
                number,
                column,
                Text(
                    gettext_noop(
                        "a character that cannot be stored (a NUL byte or a broken one) was removed"
                    )
                ),
                cell,
            )
    return cleaned
