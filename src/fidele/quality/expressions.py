"""The two halves of an email address as database expressions, so that the audit groups and
filters addresses by domain or local part in SQL (PostgreSQL's split_part, SQLite's substr and
instr). An address without an @ has an empty domain and is all local part."""

from __future__ import annotations

from typing import Any

from django.db.models import CharField, Func


class EmailDomain(Func):
    """What follows the first @ ("" when there is none)."""

    output_field = CharField()
    arity = 1

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="split_part(%(expressions)s, '@', 2)")

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template=(
                "CASE WHEN instr(%(expressions)s, '@') = 0 THEN '' "
                "ELSE substr(%(expressions)s, instr(%(expressions)s, '@') + 1) END"
            ),
        )


class EmailLocalPart(Func):
    """What precedes the first @ (the whole value when there is none)."""

    output_field = CharField()
    arity = 1

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="split_part(%(expressions)s, '@', 1)")

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template=(
                "CASE WHEN instr(%(expressions)s, '@') = 0 THEN %(expressions)s "
                "ELSE substr(%(expressions)s, 1, instr(%(expressions)s, '@') - 1) END"
            ),
        )
