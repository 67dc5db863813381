"""The hand-written SQL of RFM, personas and the category x profile table: aggregations and
window functions the ORM cannot say in one statement. Table names come from the models, every
value is a query parameter; the few differences between SQLite and PostgreSQL (elapsed seconds,
months, clamping) are spelt out side by side.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection

from fidele.commerce.models import Order, OrderLine
from fidele.contacts.models import Contact
from fidele.segments.models import ContactPersona, ContactRfm, Persona
from fidele.tracking.models import EmailEvent


def _table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _now_param(now: datetime) -> Any:
    """`now` as the database compares it with a stored date and time."""
    return connection.ops.adapt_datetimefield_value(now)


def days_since_sql(column: str) -> str:
    """Whole days elapsed from `column` (a stored date and time) to the `%s` parameter that
    follows it in the query (never negative: an order dated in the future counts as today)."""
    if _postgres():
        return (
            f"GREATEST(0, FLOOR(EXTRACT(EPOCH FROM (%s::timestamptz - {column})) / 86400))::integer"
        )
    return (
        "MAX(0, (CAST(strftime('%%s', %s) AS INTEGER)"
        f" - CAST(strftime('%%s', {column}) AS INTEGER)) / 86400)"
    )


def month_sql(column: str) -> str:
    """The month (1-12) of `column` in the shop's time zone on PostgreSQL, in UTC on SQLite (an
    order in the last hours of a month's last day may count in the next month there)."""
    if _postgres():
        return f"EXTRACT(MONTH FROM {column} AT TIME ZONE %s)::integer"
    return f"CAST(strftime('%%m', {column}) AS INTEGER)"


def _month_params() -> list[Any]:
    from django.conf import settings

    return [settings.TIME_ZONE] if _postgres() else []


# --- RFM -------------------------------------------------------------------------------------


def _segment_case(grid: Sequence[tuple[str, int, int, int, int]]) -> tuple[str, list[Any]]:
    branches, params = [], []
    for code, r_from, r_to, fm_from, fm_to in grid:
        branches.append("WHEN r_score BETWEEN %s AND %s AND fm BETWEEN %s AND %s THEN %s")
        params += [r_from, r_to, fm_from, fm_to, code]
    return "CASE " + " ".join(branches) + " END", params


def rfm_replace(*, now: datetime, grid: Sequence[tuple[str, int, int, int, int]]) -> int:
    """Replace every ContactRfm row by one INSERT ... SELECT; the caller holds the transaction.
    Returns the number of customers scored. See fidele.segments.rfm for the rules."""
    rfm, order, contact = _table(ContactRfm), _table(Order), _table(Contact)
    case, case_params = _segment_case(grid)
    # Rounded so that two equal sums of decimals stored as floats (SQLite) compare equal.
    sql = f"""
        WITH per_contact AS (
            SELECT o.contact_id AS contact_id,
                   {days_since_sql("MAX(o.ordered_at)")} AS recency_days,
                   COUNT(*) AS frequency,
                   ROUND(SUM(o.total), 2) AS monetary
            FROM {order} o JOIN {contact} c ON c.id = o.contact_id
            WHERE c.status <> %s
            GROUP BY o.contact_id
        ),
        scored AS (
            SELECT contact_id, recency_days, frequency, monetary,
                   1 + 5 * (RANK() OVER (ORDER BY recency_days DESC) - 1)
                       / COUNT(*) OVER () AS r_score,
                   1 + 5 * (RANK() OVER (ORDER BY frequency) - 1) / COUNT(*) OVER () AS f_score,
                   1 + 5 * (RANK() OVER (ORDER BY monetary) - 1) / COUNT(*) OVER () AS m_score
            FROM per_contact
        ),
        gridded AS (
            SELECT scored.*, (f_score + m_score + 1) / 2 AS fm FROM scored
        )
        INSERT INTO {rfm} (contact_id, recency_days, frequency, monetary, r_score, f_score,
                           m_score, segment, computed_at)
        SELECT contact_id, recency_days, frequency, monetary, r_score, f_score, m_score,
               {case}, %s
        FROM gridded
    """  # noqa: S608 - table names from the models, values as parameters
    now_value = _now_param(now)
    params = [now_value, Contact.Status.ERASED, *case_params, now_value]
    with connection.cursor() as cursor:
        _lock(cursor, rfm)
        cursor.execute(f"DELETE FROM {rfm}")  # noqa: S608
        cursor.execute(sql, params)
        # sqlite3 reports no row count for a statement that starts with WITH.
        cursor.execute(f"SELECT COUNT(*) FROM {rfm}")  # noqa: S608
        return cursor.fetchone()[0]


def _lock(cursor: Any, table: str) -> None:
    """PostgreSQL: one refresh of `table` at a time (two would both delete the old rows and both
    insert theirs); readers are not held up. SQLite writes one transaction at a time anyway."""
    if _postgres():
        cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")


# --- personas --------------------------------------------------------------------------------


def categories_by_revenue() -> list[tuple[str, float]]:
    """Product categories (of order lines) and their revenue, largest first; "" for lines
    without a category."""
    sql = f"""
        SELECT ol.category, SUM(ol.line_total) FROM {_table(OrderLine)} ol
        GROUP BY ol.category ORDER BY 2 DESC, 1
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [(category or "", float(total or 0)) for category, total in cursor.fetchall()]


# The columns persona_features returns, in order, after the category columns' place.
FEATURE_COLUMNS = (
    "contact_id",
    "recency_days",
    "frequency",
    "monetary",
    "tenure_days",
    "holiday_orders",
    "summer_orders",
    "lines_total",
    # then one column per category, then:
    "opens",
    "clicks",
    "engaged_days",
)


def persona_features(
    *, now: datetime, categories: Sequence[str], events_since: datetime
) -> list[tuple]:
    """One row per scored customer (ContactRfm), ordered by contact id: their RFM figures, days
    since their first order, orders in November-December and in July-August, the revenue of
    their order lines and of each of `categories`, their human opens and clicks since
    `events_since`, days since they last opened or clicked (null: never)."""
    rfm, order, line, contact = (
        _table(ContactRfm),
        _table(Order),
        _table(OrderLine),
        _table(Contact),
    )
    events = _table(EmailEvent)
    category_columns = ", ".join(
        f"SUM(CASE WHEN ol.category = %s THEN ol.line_total ELSE 0 END) AS c{i}"
        for i in range(len(categories))
    )
    category_select = "".join(f", COALESCE(la.c{i}, 0)" for i in range(len(categories)))
    month = month_sql("o.ordered_at")
    sql = f"""
        SELECT r.contact_id, r.recency_days, r.frequency, r.monetary,
               {days_since_sql("oa.first_at")},
               oa.holiday, oa.summer,
               COALESCE(la.lines_total, 0){category_select},
               COALESCE(ev.opens, 0), COALESCE(ev.clicks, 0),
               CASE WHEN c.last_engaged_at IS NULL THEN NULL
                    ELSE {days_since_sql("c.last_engaged_at")} END
        FROM {rfm} r
        JOIN {contact} c ON c.id = r.contact_id
        JOIN (
            SELECT o.contact_id, MIN(o.ordered_at) AS first_at,
                   SUM(CASE WHEN {month} IN (11, 12) THEN 1 ELSE 0 END) AS holiday,
                   SUM(CASE WHEN {month} IN (7, 8) THEN 1 ELSE 0 END) AS summer
            FROM {order} o GROUP BY o.contact_id
        ) oa ON oa.contact_id = r.contact_id
        LEFT JOIN (
            SELECT o.contact_id, SUM(ol.line_total) AS lines_total
                   {", " + category_columns if categories else ""}
            FROM {line} ol JOIN {order} o ON o.id = ol.order_id
            GROUP BY o.contact_id
        ) la ON la.contact_id = r.contact_id
        LEFT JOIN (
            SELECT e.contact_id,
                   SUM(CASE WHEN e.type = %s THEN 1 ELSE 0 END) AS opens,
                   SUM(CASE WHEN e.type = %s THEN 1 ELSE 0 END) AS clicks
            FROM {events} e
            WHERE e.contact_id IS NOT NULL AND e.is_machine = %s AND e.type IN (%s, %s)
                  AND e.at >= %s
            GROUP BY e.contact_id
        ) ev ON ev.contact_id = r.contact_id
        ORDER BY r.contact_id
    """  # noqa: S608 - table names from the models, values as parameters
    now_value = _now_param(now)
    open_, click = EmailEvent.Type.OPEN, EmailEvent.Type.CLICK
    # The parameters in the order their placeholders appear in the text.
    params: list[Any] = [
        now_value,
        now_value,
        *_month_params(),
        *_month_params(),
        *categories,
        open_,
        click,
        False,
        open_,
        click,
        _now_param(events_since),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def personas_assign(*, rows: Iterable[tuple[int, int]]) -> int:
    """Replace every contact's persona by `rows` of (contact id, persona id); the caller holds
    the transaction (and has written the Persona rows). COPY on PostgreSQL."""
    table = _table(ContactPersona)
    count = 0
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608
        if _postgres():
            with cursor.cursor.copy(f"COPY {table} (contact_id, persona_id) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
            return count
        batch: list[tuple[int, int]] = []
        insert = f"INSERT INTO {table} (contact_id, persona_id) VALUES (%s, %s)"  # noqa: S608
        for row in rows:
            batch.append(row)
            if len(batch) >= 10_000:
                cursor.executemany(insert, batch)
                count += len(batch)
                batch = []
        if batch:
            cursor.executemany(insert, batch)
            count += len(batch)
    return count


def personas_lock() -> None:
    with connection.cursor() as cursor:
        _lock(cursor, _table(Persona))
