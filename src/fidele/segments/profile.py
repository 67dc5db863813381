"""Customers and revenue by product category and customer profile (RFM segment, persona, city,
age band), computed by the database from order lines: one grouped query per table."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fidele.commerce.models import Order, OrderLine
from fidele.contacts.models import Contact
from fidele.segments.models import ContactPersona, ContactRfm, Persona
from fidele.segments.rfm import GRID
from fidele.segments.rfm_segments import rfm_segment_label

PROFILES: dict[str, Any] = {
    "rfm": gettext_lazy("RFM segment"),
    "persona": gettext_lazy("Persona"),
    "city": gettext_lazy("City"),
    "age": gettext_lazy("Age"),
}
DEFAULT_PROFILE = "rfm"
# Periods offered: months back from today (0: every order).
PERIODS = (12, 24, 0)
DEFAULT_PERIOD = 12
# Cities beyond the largest ones (by revenue) are added up as "other cities".
TOP_CITIES = 10
# Age bands: (code, youngest age included); the last band has no upper bound.
AGE_BANDS = (("u25", 0), ("25", 25), ("35", 35), ("45", 45), ("55", 55), ("65", 65), ("75", 75))
OTHER = "__other__"
NONE = "__none__"


@dataclass(frozen=True)
class ProfileCell:
    customers: int
    revenue: Decimal
    share: float  # of the profile value's revenue


@dataclass(frozen=True)
class ProfileRow:
    key: str
    label: str
    customers: int
    revenue: Decimal
    cells: list[ProfileCell]  # one per category, in the table's order
    width: int  # the bar's length, percent of the largest row's revenue


@dataclass(frozen=True)
class ProfileTable:
    profile: str
    months: int
    categories: list[str]
    rows: list[ProfileRow]
    customers: int
    revenue: Decimal
    category_totals: list[ProfileCell]


def _years_ago(today: dt.date, years: int) -> dt.date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def _profile_sql(profile: str, today: dt.date) -> tuple[str, str, list[Any]]:
    """(the profile's SQL expression, the joins it needs, their parameters)."""
    if profile == "rfm":
        return "r.segment", f"LEFT JOIN {_t(ContactRfm)} r ON r.contact_id = c.id", []
    if profile == "persona":
        return (
            "CAST(p.persona_id AS VARCHAR(20))",
            f"LEFT JOIN {_t(ContactPersona)} p ON p.contact_id = c.id",
            [],
        )
    if profile == "city":
        return "c.city", "", []
    branches, params = ["WHEN c.birth_date IS NULL THEN NULL"], []
    # Youngest band first: born after the day one turned its upper bound.
    bounds = [age for _code, age in AGE_BANDS[1:]]
    for (code, _age), upper in zip(AGE_BANDS, bounds, strict=False):
        branches.append("WHEN c.birth_date > %s THEN %s")
        params += [_years_ago(today, upper), code]
    case = "CASE " + " ".join(branches) + " ELSE %s END"
    return case, "", [*params, AGE_BANDS[-1][0]]


def _t(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _rows(
    sql_profile: str, joins: str, params: list[Any], since: dt.datetime | None, by_category: bool
) -> list[tuple]:
    period = "AND o.ordered_at >= %s" if since else ""
    category = "ol.category, " if by_category else ""
    sql = f"""
        SELECT {category}{sql_profile} AS profile,
               COUNT(DISTINCT o.contact_id), SUM(ol.line_total)
        FROM {_t(OrderLine)} ol
        JOIN {_t(Order)} o ON o.id = ol.order_id
        JOIN {_t(Contact)} c ON c.id = o.contact_id
        {joins}
        WHERE c.status <> %s {period}
        GROUP BY {"1, 2" if by_category else "1"}
    """  # noqa: S608 - table names from the models, values as parameters
    values = [*params, Contact.Status.ERASED]
    if since:
        values.append(connection.ops.adapt_datetimefield_value(since))
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return cursor.fetchall()


def category_profile_table(*, profile: str, months: int) -> ProfileTable:
    """Revenue (order lines) and customers per category x profile value over the last
    `months` months (every order for 0)."""
    profile = profile if profile in PROFILES else DEFAULT_PROFILE
    today = timezone.localdate()
    since = timezone.now() - dt.timedelta(days=round(months * 365.25 / 12)) if months else None
    expression, joins, params = _profile_sql(profile, today)
    by_category = _rows(expression, joins, params, since, by_category=True)
    by_profile = _rows(expression, joins, params, since, by_category=False)

    category_revenue: dict[str, Decimal] = {}
    for category, _key, _customers, revenue in by_category:
        category_revenue[category or ""] = category_revenue.get(category or "", Decimal("0")) + (
            Decimal(str(revenue or 0))
        )
    categories = sorted(category_revenue, key=lambda c: (-category_revenue[c], c))

    keys = {key for key, _c, _r in by_profile}
    folded = _fold(profile, keys, by_profile)
    cells: dict[str, dict[str, list]] = {}
    for category, key, customers, revenue in by_category:
        target = folded.get(key, NONE if key is None else key)
        cell = cells.setdefault(target, {}).setdefault(category or "", [0, Decimal("0")])
        cell[0] += customers
        cell[1] += Decimal(str(revenue or 0))
    totals: dict[str, list] = {}
    for key, customers, revenue in by_profile:
        target = folded.get(key, NONE if key is None else key)
        total = totals.setdefault(target, [0, Decimal("0")])
        total[0] += customers
        total[1] += Decimal(str(revenue or 0))

    labels = _labels(profile)
    order = _order(profile, totals)
    peak = max((total[1] for total in totals.values()), default=Decimal("0"))
    rows = []
    for key in order:
        customers, revenue = totals[key]
        row_cells = []
        for category in categories:
            count, amount = cells.get(key, {}).get(category, [0, Decimal("0")])
            row_cells.append(
                ProfileCell(
                    customers=count,
                    revenue=amount.quantize(Decimal("0.01")),
                    share=float(amount / revenue) if revenue else 0.0,
                )
            )
        rows.append(
            ProfileRow(
                key=key,
                label=labels(key),
                customers=customers,
                revenue=revenue.quantize(Decimal("0.01")),
                cells=row_cells,
                width=round(100 * revenue / peak) if peak else 0,
            )
        )
    revenue_all = sum((total[1] for total in totals.values()), Decimal("0"))
    category_totals = [
        ProfileCell(
            customers=0,
            revenue=category_revenue[c].quantize(Decimal("0.01")),
            share=float(category_revenue[c] / revenue_all) if revenue_all else 0.0,
        )
        for c in categories
    ]
    return ProfileTable(
        profile=profile,
        months=months,
        categories=categories,
        rows=rows,
        customers=sum(total[0] for total in totals.values()),
        revenue=revenue_all.quantize(Decimal("0.01")),
        category_totals=category_totals,
    )


def _fold(profile: str, keys: set, by_profile: list[tuple]) -> dict[Any, str]:
    """Profile values shown under another key: the smaller cities as "other cities", the
    missing values (no score, no persona, no city, no birth date) as NONE."""
    folded: dict[Any, str] = {None: NONE, "": NONE}
    if profile == "city":
        ranked = sorted(
            ((key, Decimal(str(revenue or 0))) for key, _c, revenue in by_profile if key),
            key=lambda item: (-item[1], item[0]),
        )
        for key, _revenue in ranked[TOP_CITIES:]:
            folded[key] = OTHER
    return folded


def _labels(profile: str) -> Any:
    personas = {}
    if profile == "persona":
        from fidele.segments.personas import persona_describe

        personas = {
            str(p.pk): _("%(number)s. %(title)s")
            % {"number": p.number, "title": persona_describe(p).title}
            for p in Persona.objects.all()
        }
    ages = {
        "u25": _("under 25"),
        "25": _("25 to 34"),
        "35": _("35 to 44"),
        "45": _("45 to 54"),
        "55": _("55 to 64"),
        "65": _("65 to 74"),
        "75": _("75 and over"),
    }
    missing = {
        "rfm": _("no order"),
        "persona": _("no persona"),
        "city": _("no city"),
        "age": _("birth date unknown"),
    }[profile]

    def label(key: str) -> str:
        if key == NONE:
            return missing
        if key == OTHER:
            return _("other cities")
        if profile == "rfm":
            return rfm_segment_label(key)
        if profile == "persona":
            return personas.get(key, key)
        if profile == "age":
            return ages.get(key, key)
        return key

    return label


def _order(profile: str, totals: dict[str, list]) -> list[str]:
    """Rows in the profile's natural order: the grid's for RFM, personas' numbers, ages;
    cities by revenue. Missing values and "other" last."""
    present = [key for key in totals if key not in (NONE, OTHER)]
    if profile == "rfm":
        rank = {code: i for i, (code, *_rest) in enumerate(GRID)}
        present.sort(key=lambda k: rank.get(k, 99))
    elif profile == "persona":
        numbers = dict(Persona.objects.values_list("pk", "number"))
        present.sort(key=lambda k: numbers.get(int(k), 99) if k.isdigit() else 99)
    elif profile == "age":
        rank = {code: i for i, (code, _age) in enumerate(AGE_BANDS)}
        present.sort(key=lambda k: rank.get(k, 99))
    else:
        present.sort(key=lambda k: (-totals[k][1], k))
    return present + [key for key in (OTHER, NONE) if key in totals]
