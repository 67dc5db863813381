"""The segments app's hand-written SQL: expressions that read a custom attribute (a JSON value
typed by whoever filled the file) as a number or a date without ever failing on text that is
neither. Every value travels as a parameter.

SQLite gets the same rules as Python functions registered on each connection (like the contacts'
name folding, fidele.contacts.search), so both databases read "12,5" as 12.5 and "05/01/2024" as
no date at all.
"""

from __future__ import annotations

import re
from typing import Any

from django.db.models import CharField, FloatField, Func

NUMBER_PATTERN = r"^\s*-?[0-9]{1,15}([.,][0-9]{1,10})?\s*$"
ISO_DATE_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_NUMBER = re.compile(NUMBER_PATTERN)
_ISO_DATE = re.compile(ISO_DATE_PATTERN)

SQLITE_NUMBER = "fidele_segment_number"
SQLITE_ISO_DATE = "fidele_segment_iso_date"


def number_read(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value)
    return float(text.strip().replace(",", ".")) if _NUMBER.match(text) else None


def iso_date_read(value: Any) -> str | None:
    text = "" if value is None else str(value)
    # The pattern alone, as PostgreSQL applies it (a 30th of February passes on both).
    return text[:10] if _ISO_DATE.match(text) else None


class AttributeNumber(Func):
    """The text of an attribute as a number, NULL when it is not one."""

    arity = 1
    output_field = FloatField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler, connection, function=SQLITE_NUMBER, template="%(function)s(%(expressions)s)"
        )

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        sql, params = compiler.compile(self.source_expressions[0])
        return (
            f"(CASE WHEN ({sql}) ~ %s "
            f"THEN CAST(replace(btrim({sql}), ',', '.') AS double precision) END)",
            [*params, NUMBER_PATTERN, *params],
        )


class AttributeIsoDate(Func):
    """The first ten characters of an attribute when they are an ISO date, else NULL."""

    arity = 1
    output_field = CharField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler, connection, function=SQLITE_ISO_DATE, template="%(function)s(%(expressions)s)"
        )

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        sql, params = compiler.compile(self.source_expressions[0])
        return (
            f"(CASE WHEN ({sql}) ~ %s THEN substr({sql}, 1, 10) END)",
            [*params, ISO_DATE_PATTERN, *params],
        )


def sqlite_functions_register(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Receiver of `connection_created`: gives every SQLite connection the two readers."""
    if connection.vendor == "sqlite":
        connection.connection.create_function(SQLITE_NUMBER, 1, number_read, deterministic=True)
        connection.connection.create_function(SQLITE_ISO_DATE, 1, iso_date_read, deterministic=True)
