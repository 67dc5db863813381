"""RFM: each customer's recency, frequency and monetary value, their scores from 1 to 5, and the
named segment their scores fall in; refreshed as a whole, in the database, in one transaction.

Scores. A score is a fifth of the customers, counted from the worst: a customer's score is 1
plus the number of whole fifths of all customers who do strictly worse than them,
`1 + 5 * (customers strictly worse) // (customers)`, which SQL's RANK() gives directly
(`RANK() - 1` is the number of customers strictly worse, in the window's order). Equal values
always get equal scores, and a tie goes down to the score where it starts: when most customers
have ordered once, all of them have F = 1 (not a random split of identical customers between
1, 2 and 3, which is what NTILE would do), and the next score used is the fifth where the
two-order customers start. Without ties it is the usual quintile split. Worse means: more days
since the last order, fewer orders, less money spent.

Segments. The 5 x 5 grid of the recency score (R) by FM, the average of the frequency and
monetary scores rounded up, `(F + M + 1) // 2`. Its 11 named segments are those of the RFM map
most tools publish (Bloomreach Engagement's "RFM segmentation" guide, Putler's "RFM analysis":
champions, loyal, potential loyalists, new, promising, need attention, about to sleep, at risk,
cannot lose them, hibernating, lost), laid out as in their R x FM picture, each a rectangle of
cells:

    FM \\ R   1             2             3               4                    5
    5        cannot_lose   cannot_lose   loyal           loyal                champions
    4        at_risk       at_risk       loyal           loyal                champions
    3        at_risk       at_risk       need_attention  potential_loyalists  potential_loyalists
    2        lost          hibernating   about_to_sleep  potential_loyalists  potential_loyalists
    1        lost          hibernating   about_to_sleep  promising            new

Where the published score ranges overlap (Putler gives "lost" and "hibernating" the same low
scores), the lower recency goes to "lost".
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from fidele.segments import insight_sql

SCORES = (1, 2, 3, 4, 5)

# (code, R from, R to, FM from, FM to): the grid above, one rectangle per segment.
GRID: tuple[tuple[str, int, int, int, int], ...] = (
    ("champions", 5, 5, 4, 5),
    ("loyal", 3, 4, 4, 5),
    ("cannot_lose", 1, 2, 5, 5),
    ("at_risk", 1, 2, 3, 4),
    ("need_attention", 3, 3, 3, 3),
    ("potential_loyalists", 4, 5, 2, 3),
    ("about_to_sleep", 3, 3, 1, 2),
    ("promising", 4, 4, 1, 1),
    ("new", 5, 5, 1, 1),
    ("hibernating", 2, 2, 1, 2),
    ("lost", 1, 1, 1, 2),
)


def score_of_rank(*, worse: int, customers: int) -> int:
    """The score of a customer `worse` customers of `customers` do strictly worse than."""
    return 1 + 5 * worse // customers


def fm_of(f_score: int, m_score: int) -> int:
    """The grid's vertical axis: the average of F and M, a half rounded up."""
    return (f_score + m_score + 1) // 2


def rfm_segment_of(r_score: int, fm: int) -> str:
    for code, r_from, r_to, fm_from, fm_to in GRID:
        if r_from <= r_score <= r_to and fm_from <= fm <= fm_to:
            return code
    raise ValueError(f"no segment for R={r_score} FM={fm}")


@dataclass(frozen=True)
class RfmRefresh:
    customers: int
    computed_at: datetime
    seconds: float


def rfm_refresh(*, now: datetime | None = None) -> RfmRefresh:
    """Compute every customer's RFM again and replace the stored scores with them, in one
    transaction: a reader sees the previous scores or the new ones, never a mixture, and a
    refresh that fails leaves the previous ones. Running it twice in a row stores the same rows.

    One INSERT ... SELECT: the database aggregates the orders and ranks the customers, whatever
    their number (no row goes through Python)."""
    started = time.perf_counter()
    now = now or timezone.now()
    with transaction.atomic():
        customers = insight_sql.rfm_replace(now=now, grid=GRID)
    return RfmRefresh(
        customers=customers, computed_at=now, seconds=round(time.perf_counter() - started, 3)
    )


def sqlite_has_window_functions() -> bool:
    """SQLite has window functions from 3.25 (2018); Django 5.2 asks for 3.31 already, so no
    fallback is kept. A test keeps this true of the SQLite the tests run on."""
    if connection.vendor != "sqlite":
        return True
    import sqlite3

    return sqlite3.sqlite_version_info >= (3, 25)
