"""Base dynamics: how the customer base grows, keeps and loses its customers, month by month.

Definitions (written on the page too). A *customer* is a contact with at least one order whose
total is above zero; refunds (negative totals), orders of zero and orders dated in the future
are left out of every figure here. Months are calendar months in the shop's time zone. For a
month M, a customer whose first order is on or before M is, at the end of M:
- *new* in M: their first order is in M (a new customer is also active);
- *active*: they ordered in the ACTIVE_MONTHS months ending with M (M included);
- *lapsing*: their last order is ACTIVE_MONTHS to LOST_MONTHS - 1 months before M;
- *lost*: their last order is LOST_MONTHS or more months before M.
Every customer is in exactly one of active, lapsing and lost each month from their first order.

A *cohort* is the customers whose first order is in one month; its retention in month +k is the
share of them who ordered in the k-th month after it (the heat map). A customer with a single
order counts in their cohort's size and in month +0 only: that is what retention measures.

Everything is computed by the database, set-based: the orders grouped per customer and month
(one row per customer-month), a window function for each row's next month, and each row's
active, lapsing and lost spans turned into +1/-1 steps summed per month; Python only adds up
the few hundred monthly steps. `dynamics_refresh` replaces every table in one transaction; the
worker runs it nightly and after imports, never a page view.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F, Sum, Window
from django.db.models.functions import ExtractMonth, ExtractYear, Lag, TruncMonth
from django.utils import timezone

from fidele.analytics.daily import daily_fill, shop_zone
from fidele.analytics.models import (
    AcquisitionCost,
    CohortMonth,
    DailyCount,
    MonthlyBreakdown,
    MonthlyCustomers,
)
from fidele.commerce.models import Order
from fidele.core.actors import Actor
from fidele.core.audit import audit_record
from fidele.core.models import AuditLog
from fidele.segments.dashboard_selectors import RFM_SEGMENT_LOOKUP, rfm_segment_counts

ACTIVE_MONTHS = 12
LOST_MONTHS = 24
# Orders less than this far apart are one purchase for the time between orders.
SAME_PURCHASE_DAYS = 1.0


def month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def month_of(index: int) -> dt.date:
    return dt.date(index // 12, index % 12 + 1, 1)


def _sales(now: dt.datetime) -> Any:
    """The orders every figure here counts: a total above zero, not dated in the future."""
    return Order.objects.filter(total__gt=0, ordered_at__lte=now)


def _month_expression() -> Any:
    zone = shop_zone()
    return ExtractYear("ordered_at", tzinfo=zone) * 12 + ExtractMonth("ordered_at", tzinfo=zone) - 1


def _least(a: str, b: str) -> str:
    return f"(CASE WHEN {a} < {b} THEN {a} ELSE {b} END)"


def _customer_months_sql(now: dt.datetime) -> tuple[str, list[Any]]:
    """One row per customer and month with orders: (contact_id, m, n, s), m a month index."""
    rows = (
        _sales(now)
        .annotate(m=_month_expression())
        .values("contact_id", "m")
        .annotate(n=Count("id"), s=Sum("total"))
        .order_by()
    )
    sql, params = rows.query.sql_with_params()
    return sql, list(params)


@dataclass
class DynamicsResult:
    months: int = 0
    cohorts: int = 0
    seconds: float = 0.0


def _steps(cursor: Any, cm_sql: str, params: list[Any], current: int) -> dict[str, dict[int, int]]:
    """{state: {month: +n or -n}}: each customer-month row starts an active span, then a lapsing
    one, then a lost one, each cut short by the customer's next month with an order (`cap`)."""
    # The spans' lengths are the module's constants, written into the statement as integers.
    a, lost = int(ACTIVE_MONTHS), int(LOST_MONTHS)
    # The statements wrap the ORM's own SQL (parameterised) and constants; no user text.
    sql = f"""
        WITH cm AS ({cm_sql}),
        seq AS (
            SELECT m,
                   COALESCE(LEAD(m) OVER (PARTITION BY contact_id ORDER BY m) - 1, %s) AS cap
            FROM cm
        )
        SELECT st, mo, SUM(d) FROM (
            SELECT 'active' AS st, m AS mo, 1 AS d FROM seq
            UNION ALL SELECT 'active', {_least(f"m + {a - 1}", "cap")} + 1, -1 FROM seq
            UNION ALL SELECT 'lapsing', m + {a}, 1 FROM seq WHERE m + {a} <= cap
            UNION ALL SELECT 'lapsing', {_least(f"m + {lost - 1}", "cap")} + 1, -1 FROM seq
                WHERE m + {a} <= cap
            UNION ALL SELECT 'lost', m + {lost}, 1 FROM seq WHERE m + {lost} <= cap
            UNION ALL SELECT 'lost', cap + 1, -1 FROM seq WHERE m + {lost} <= cap
        ) steps
        GROUP BY st, mo
    """  # noqa: S608
    cursor.execute(sql, [*params, current])
    steps: dict[str, dict[int, int]] = defaultdict(dict)
    for state, month, delta in cursor.fetchall():
        steps[state][int(month)] = int(delta)
    return steps


def _per_month_and_cohorts(
    cursor: Any, cm_sql: str, params: list[Any]
) -> tuple[list[tuple], list[tuple]]:
    base = f"""
        WITH cm AS ({cm_sql}),
        seq AS (SELECT m, n, s, MIN(m) OVER (PARTITION BY contact_id) AS first FROM cm)
    """  # noqa: S608
    cursor.execute(
        base  # noqa: S608
        + """
        SELECT m, COUNT(*), SUM(CASE WHEN m = first THEN 1 ELSE 0 END), SUM(n), SUM(s)
        FROM seq GROUP BY m
        """,
        params,
    )
    months = cursor.fetchall()
    cursor.execute(
        base + "SELECT first, m - first, COUNT(*), SUM(s) FROM seq GROUP BY first, m - first",  # noqa: S608
        params,
    )
    return months, cursor.fetchall()


def _gaps(cursor: Any, now: dt.datetime) -> dict[int, tuple[int, float]]:
    """{month: (repeat purchases, days since the customer's previous one, summed)}."""
    rows = (
        _sales(now)
        .annotate(
            m=_month_expression(),
            prev=Window(Lag("ordered_at"), partition_by=[F("contact_id")], order_by="ordered_at"),
        )
        .values("m", "ordered_at", "prev")
        .order_by()
    )
    sql, params = rows.query.sql_with_params()
    if connection.vendor == "postgresql":
        days = "EXTRACT(EPOCH FROM (ordered_at - prev)) / 86400.0"
    else:
        days = "(julianday(ordered_at) - julianday(prev))"
    cursor.execute(
        f"""
        SELECT m, COUNT(*), SUM(gap) FROM (
            SELECT m, {days} AS gap FROM ({sql}) o WHERE prev IS NOT NULL
        ) g WHERE gap >= %s GROUP BY m
        """,  # noqa: S608
        [*params, SAME_PURCHASE_DAYS],
    )
    return {int(m): (int(n), float(total or 0)) for m, n, total in cursor.fetchall()}


def _money(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def _segment_rows(now: dt.datetime) -> list[MonthlyBreakdown]:
    """Revenue per month and current RFM segment (a join through contacts; no per-row loop)."""
    rows = (
        _sales(now)
        .annotate(month=TruncMonth("ordered_at", tzinfo=shop_zone()))
        .values("month", segment=F(f"contact__{RFM_SEGMENT_LOOKUP}"))
        .annotate(
            customers=Count("contact_id", distinct=True), orders=Count("id"), revenue=Sum("total")
        )
        .order_by()
    )
    breakdown = [
        MonthlyBreakdown(
            dimension="segment",
            key=row["segment"] or "",
            month=row["month"].date() if isinstance(row["month"], dt.datetime) else row["month"],
            customers=row["customers"],
            orders=row["orders"],
            revenue=_money(row["revenue"]),
        )
        for row in rows
    ]
    breakdown += [
        MonthlyBreakdown(dimension="segment", key=code, month=None, customers=n)
        for code, n in rfm_segment_counts().items()
    ]
    return breakdown


def _category_rows() -> list[MonthlyBreakdown]:
    """Order lines per month and category, summed from the daily rollup."""
    rows = (
        DailyCount.objects.filter(metric="lines", dimension="category")
        .annotate(month=TruncMonth("day"))
        .values("month", "key")
        .annotate(n=Sum("count"), s=Sum("amount"))
        .order_by()
    )
    return [
        MonthlyBreakdown(
            dimension="category",
            key=row["key"],
            month=row["month"],
            orders=row["n"] or 0,
            revenue=_money(row["s"]),
        )
        for row in rows
    ]


def dynamics_refresh(*, now: dt.datetime | None = None) -> DynamicsResult:
    """Recompute every monthly table from the orders (and the daily rollup's categories)."""
    started = timezone.now()
    now = now or started
    current = month_index(now.astimezone(shop_zone()).date())
    cm_sql, params = _customer_months_sql(now)
    with connection.cursor() as cursor:
        steps = _steps(cursor, cm_sql, params, current)
        months, cohorts = _per_month_and_cohorts(cursor, cm_sql, params)
        gaps = _gaps(cursor, now)
    per_month = {int(m): (buyers, new, n, s) for m, buyers, new, n, s in months}
    rows: list[MonthlyCustomers] = []
    if per_month:
        level = {"active": 0, "lapsing": 0, "lost": 0}
        for index in range(min(per_month), current + 1):
            for state in level:
                level[state] += steps.get(state, {}).get(index, 0)
            buyers, new, n, s = per_month.get(index, (0, 0, 0, 0))
            repeat, gap_days = gaps.get(index, (0, 0.0))
            rows.append(
                MonthlyCustomers(
                    month=month_of(index),
                    new=new or 0,
                    active=level["active"],
                    lapsing=level["lapsing"],
                    lost=level["lost"],
                    buyers=buyers or 0,
                    orders=n or 0,
                    revenue=_money(s),
                    repeat_orders=repeat,
                    gap_days=gap_days,
                )
            )
    cohort_rows = [
        CohortMonth(
            cohort=month_of(int(first)), offset=int(offset), customers=int(n), revenue=_money(s)
        )
        for first, offset, n, s in cohorts
    ]
    breakdown = _segment_rows(now) + _category_rows()
    with transaction.atomic():
        MonthlyCustomers.objects.all().delete()
        CohortMonth.objects.all().delete()
        MonthlyBreakdown.objects.all().delete()
        MonthlyCustomers.objects.bulk_create(rows, batch_size=1000)
        CohortMonth.objects.bulk_create(cohort_rows, batch_size=1000)
        MonthlyBreakdown.objects.bulk_create(breakdown, batch_size=1000)
    return DynamicsResult(
        months=len(rows),
        cohorts=len({row.cohort for row in cohort_rows}),
        seconds=(timezone.now() - started).total_seconds(),
    )


# -- reads -------------------------------------------------------------------------------------


def months_between(start: dt.date, end: dt.date) -> list[MonthlyCustomers]:
    return list(
        MonthlyCustomers.objects.filter(month__gte=start.replace(day=1), month__lte=end).order_by(
            "month"
        )
    )


def month_latest(*, on_or_before: dt.date | None = None) -> MonthlyCustomers | None:
    rows = MonthlyCustomers.objects.all()
    if on_or_before is not None:
        rows = rows.filter(month__lte=on_or_before)
    return rows.order_by("-month").first()


def cohort_table(*, last: int = 12, offsets: int = 12) -> list[dict[str, Any]]:
    """The `last` cohorts (oldest first), each with its size and its share ordering again in
    months +1 .. +offsets (None for months not reached yet)."""
    cohorts = list(
        CohortMonth.objects.filter(offset=0)
        .order_by("-cohort")
        .values_list("cohort", "customers")[:last]
    )
    if not cohorts:
        return []
    cohorts.reverse()
    first = cohorts[0][0]
    cells: dict[tuple[dt.date, int], int] = {
        (c, o): n
        for c, o, n in CohortMonth.objects.filter(
            cohort__gte=first, offset__gte=1, offset__lte=offsets
        ).values_list("cohort", "offset", "customers")
    }
    # Months after a cohort up to the month of the last refresh are reached; later ones are not.
    last_month = MonthlyCustomers.objects.order_by("-month").values_list("month", flat=True)
    latest = month_index(last_month.first() or max(c for c, _n in cohorts))
    table = []
    for cohort, size in cohorts:
        reached = latest - month_index(cohort)
        shares = [
            (round(cells.get((cohort, k), 0) / size, 4) if size else 0.0) if k <= reached else None
            for k in range(1, offsets + 1)
        ]
        table.append({"cohort": cohort, "size": size, "shares": shares})
    return table


def breakdown(
    *, dimension: str, start: dt.date, end: dt.date, key: str | None = None
) -> dict[str, dict[str, Any]]:
    """{key: {customers, orders, revenue}} over the months that overlap [start, end]."""
    rows = MonthlyBreakdown.objects.filter(
        dimension=dimension, month__gte=start.replace(day=1), month__lte=end
    )
    if key is not None:
        rows = rows.filter(key=key)
    totals = rows.values("key").annotate(
        customers=Sum("customers"), orders=Sum("orders"), revenue=Sum("revenue")
    )
    return {
        row["key"]: {
            "customers": row["customers"] or 0,
            "orders": row["orders"] or 0,
            "revenue": row["revenue"] or Decimal(0),
        }
        for row in totals.order_by()
    }


def segment_sizes() -> dict[str, int]:
    """Customers per current RFM segment, as of the last refresh."""
    return dict(
        MonthlyBreakdown.objects.filter(dimension="segment", month__isnull=True).values_list(
            "key", "customers"
        )
    )


@dataclass(frozen=True)
class CacFigures:
    cost: Decimal
    new_customers: int
    cac: Decimal | None
    value_12m: Decimal | None
    ratio: float | None


def cac_figures(*, start: dt.date, end: dt.date) -> CacFigures | None:
    """Acquisition cost per new customer over the months of [start, end], beside the revenue a
    new customer brought in their first 12 months (cohorts old enough to have had them); None
    when no cost was entered for those months."""
    costs = AcquisitionCost.objects.filter(month__gte=start.replace(day=1), month__lte=end)
    cost = costs.aggregate(total=Sum("amount"))["total"]
    if cost is None:
        return None
    months = MonthlyCustomers.objects.filter(month__in=costs.values("month").distinct()).aggregate(
        new=Sum("new")
    )
    new = months["new"] or 0
    cac = (cost / new).quantize(Decimal("0.01")) if new else None
    mature = month_of(month_index(timezone.localdate()) - ACTIVE_MONTHS)
    cohorts = CohortMonth.objects.filter(cohort__lte=mature)
    size = cohorts.filter(offset=0).aggregate(n=Sum("customers"))["n"] or 0
    spent = cohorts.filter(offset__lt=ACTIVE_MONTHS).aggregate(s=Sum("revenue"))["s"]
    value = (spent / size).quantize(Decimal("0.01")) if size and spent is not None else None
    ratio = round(float(value / cac), 2) if value is not None and cac else None
    return CacFigures(cost=cost, new_customers=new, cac=cac, value_12m=value, ratio=ratio)


def acquisition_cost_save(
    *, actor: Actor, month: dt.date, amount: Decimal, channel: str = "", note: str = ""
) -> AcquisitionCost:
    """Enter (or correct) the acquisition cost of a month and channel, audited."""
    cost, created = AcquisitionCost.objects.update_or_create(
        month=month.replace(day=1),
        channel=channel,
        defaults={"amount": amount, "note": note},
    )
    audit_record(
        actor=actor,
        action=AuditLog.Action.CREATE if created else AuditLog.Action.UPDATE,
        obj=cost,
        changes={"amount": str(amount), "channel": channel, "note": note},
    )
    return cost


def acquisition_cost_delete(*, actor: Actor, cost: AcquisitionCost) -> None:
    audit_record(actor=actor, action=AuditLog.Action.DELETE, obj=cost)
    cost.delete()


def dashboard_data_refresh(*, now: dt.datetime | None = None) -> DynamicsResult:
    """Everything the dashboards read: the daily rollup, then the monthly tables (which read
    the rollup's categories). Run nightly, after imports and when the demo loads."""
    daily_fill(now=now)
    return dynamics_refresh(now=now)
