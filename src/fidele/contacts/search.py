"""Names folded for searching, computed by the database itself on every write.

`FoldedName` is the SQL of `fidele.contacts.normalize.name_fold(first + " " + second)`, for the
generated columns `search_first_last` and `search_last_first` of Contact: imports (COPY, bulk
inserts), forms and the demo all write them without knowing they exist.

- PostgreSQL: lower(), translate() for the one-letter foldings, replace() for the two-letter
  ones (œ, æ) and regexp_replace() for the spaces: all immutable, as a generated column needs.
- SQLite has no translate() and its parser refuses the ~60 nested replace() calls it would take,
  so it calls `fidele_name_fold`, the Python function itself, registered as a deterministic SQL
  function on every connection the app opens (`sqlite_functions_register`). A tool that writes
  contacts into the SQLite file without the app (the sqlite3 shell) cannot compute the column
  and is refused by SQLite; reading works everywhere.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.db.models import CharField, Func, Value
from django.db.models.functions import Concat

from fidele.contacts.normalize import NAME_FOLDING, name_fold

SQLITE_FUNCTION = "fidele_name_fold"

_ONE_LETTER = [(accented, plain) for accented, plain in NAME_FOLDING if len(plain) == 1]
_TWO_LETTERS = [(accented, plain) for accented, plain in NAME_FOLDING if len(plain) > 1]


class Folded(Func):
    """`name_fold(expression)` in SQL: lower case, no accents, hyphens and apostrophes as
    spaces, single spaces (see the module's docstring). Also what the duplicate search groups
    names by."""

    output_field = CharField()
    arity = 1

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return self.as_sql(
            compiler, connection, function=SQLITE_FUNCTION, template="%(function)s(%(expressions)s)"
        )

    def as_postgresql(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        sql, params = compiler.compile(self.source_expressions[0])
        sql = f"translate(lower({sql}), %s, %s)"
        params = [
            *params,
            "".join(accented for accented, _ in _ONE_LETTER),
            "".join(plain for _, plain in _ONE_LETTER),
        ]
        for accented, plain in _TWO_LETTERS:
            sql = f"replace({sql}, %s, %s)"
            params += [accented, plain]
        return f"btrim(regexp_replace({sql}, %s, %s, %s))", [*params, r"\s+", " ", "g"]


class FoldedName(Folded):
    """`name_fold(first + " " + second)` in SQL (see the module's docstring)."""

    def __init__(self, first: str, second: str, **extra: Any):
        super().__init__(Concat(first, Value(" "), second), **extra)
        self.names = (first, second)

    def deconstruct(self) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
        return ("fidele.contacts.search.FoldedName", self.names, {})


# Names repeat (a base of a million contacts has a few hundred thousand distinct ones): the
# duplicate search folds every name of the table in several GROUP BY, at a Python call each.
@lru_cache(maxsize=65_536)
def _sqlite_name_fold(text: str | None) -> str:
    return name_fold(text or "")


def sqlite_functions_register(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Receiver of `connection_created`: gives every SQLite connection the folding function."""
    if connection.vendor == "sqlite":
        connection.connection.create_function(
            SQLITE_FUNCTION, 1, _sqlite_name_fold, deterministic=True
        )
