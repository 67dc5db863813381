"""The audit: the whole base measured by the database, stored as a dated snapshot.

Every figure is an aggregate: no contact is loaded into Python. The addresses are grouped by
domain in SQL (a million contacts hold a few thousand domains), each distinct domain is judged
in Python (fidele.quality.domains), and the counts are added up per verdict. The other findings
are filtered counts over the contacts table, anti-joins (no current subscription, no recent
order) and two histograms of the orders (log of the total, log of the quantity) from which the
outlier bounds are read.

`contact_conditions` gives, for a snapshot, the condition that selects the contacts of each
finding: the counts above and the contacts list's `?quality=CODE` filter agree by construction.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Length
from django.utils import timezone

from fidele.commerce.models import Order, OrderLine
from fidele.contacts.models import Contact, Subscription
from fidele.quality.domains import ROLE_LOCAL_PARTS, domains_judge
from fidele.quality.duplicates import duplicate_contact_count
from fidele.quality.expressions import EmailDomain, EmailLocalPart
from fidele.quality.findings import (
    BY_CODE,
    CODES,
    CONTACTS,
    EMAILS,
    ORDERS,
    PHONES,
    score_components,
    score_of,
)
from fidele.quality.models import AuditSnapshot, DomainCheck

# A well-formed address, whatever its domain: one @, no space, none of the characters an address
# holds only between quotes (which Fidèle never stores), no dot at either end of the local part.
# Written for both Python's re (SQLite) and PostgreSQL's regular expressions (\A and \Z: a
# trailing newline is not an end). No bounded repetition ({0,62}): PostgreSQL's engine unrolls
# it and runs sixteen times slower, so the local part's length is checked apart.
_C = r'[^]\[@\s<>(),;:"\\]'
_CD = r'[^]\[@\s<>(),;:"\\.]'
_WELL_FORMED = rf"\A{_CD}({_C}*{_CD})?@{_C}+\Z"
LOCAL_PART_MAX = 64
# Birth dates: younger than this or older than that is implausible for a customer.
AGE_MIN, AGE_MAX = 15, 110
# An order dated later than now by more than this is in the future (a till in another time
# zone, an import of today's orders, are not).
FUTURE_MARGIN = dt.timedelta(days=1)
# Order outliers: modified z-score of the log amount beyond this (Iglewicz and Hoaglin's 3.5),
# and never within MIN_RATIO of the typical order either way; judged from MIN_ORDERS orders.
# A fixed z flags a fixed share of any shop's ordinary tail (3.5 flags about 5 orders in 10,000
# of a perfectly log-normal basket, 500 of a million: a list nobody reviews). So the bar rises
# with the number of orders (Chauvenet's criterion): an amount is unusual when a log-normal shop
# of that size would produce one that far from its median less than OUTLIER_EXPECTED times.
OUTLIER_Z = 3.5
OUTLIER_EXPECTED = 0.5
OUTLIER_MIN_RATIO = 10.0
OUTLIER_MIN_ORDERS = 30
# Histogram buckets per unit of natural log: 5 % wide, finer than anything the bounds need.
_BUCKETS = 20


def audited_contacts() -> QuerySet[Contact]:
    """The contacts the audit is about: everyone but the erased (who are only a trace)."""
    return Contact.objects.exclude(status=Contact.Status.ERASED)


def _with_email_parts(queryset: QuerySet[Contact]) -> QuerySet[Contact]:
    return queryset.alias(email_domain=EmailDomain("email"), email_local=EmailLocalPart("email"))


def _malformed() -> Q:
    """Addresses wrong whatever their domain (see _WELL_FORMED), with two dots in a row, or a
    local part too long. Needs the aliases of `annotate_for_conditions`."""
    return (
        ~Q(email__regex=_WELL_FORMED)
        | Q(email__contains="..")
        | Q(email_local_length__gt=LOCAL_PART_MAX)
    )


def _subscribed() -> Exists:
    return Exists(
        Subscription.objects.filter(
            contact_id=OuterRef("pk"), status=Subscription.Status.SUBSCRIBED
        )
    )


def _months_before(moment: dt.datetime, months: int) -> dt.datetime:
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, 28)
    return moment.replace(year=year, month=month + 1, day=day)


@dataclass(frozen=True)
class Moment:
    """The dates the time-bound findings are judged against."""

    now: dt.datetime
    stale_months: int

    @property
    def today(self) -> dt.date:
        return timezone.localdate(self.now)

    @property
    def stale_cutoff(self) -> dt.datetime:
        return _months_before(self.now, self.stale_months)

    def years_ago(self, years: int) -> dt.date:
        today = self.today
        try:
            return today.replace(year=today.year - years)
        except ValueError:  # 29 February
            return today.replace(year=today.year - years, day=28)


def moment_now() -> Moment:
    return Moment(now=timezone.now(), stale_months=settings.QUALITY_STALE_MONTHS)


# --- which contacts each finding is about --------------------------------------------------


def contact_conditions(*, domains: Mapping[str, Any], moment: Moment) -> dict[str, Q | Exists]:
    """{code: condition} over `audited_contacts()` annotated by `annotate_for_conditions`, for
    the findings that concern contacts one by one (not `order_outlier`, not `duplicate`)."""
    cutoff = moment.stale_cutoff
    typos = list(domains.get("typos", {}))
    no_mx = list(domains.get("no_mx", []))
    return {
        "email_invalid": Q(email__isnull=False)
        & (Q(email_domain__in=list(domains.get("invalid", []))) | _malformed()),
        "email_domain_typo": Q(email__isnull=False, email_domain__in=typos),
        "email_disposable": Q(
            email__isnull=False,
            status=Contact.Status.ACTIVE,
            email_domain__in=list(domains.get("disposable", [])),
        ),
        "email_role": Q(email__isnull=False, email_local__in=ROLE_LOCAL_PARTS),
        "email_no_mx": Q(email__isnull=False, email_domain__in=no_mx),
        "phone_invalid": ~Q(phone_invalid=""),
        "consent_missing": Q(email__isnull=False) & ~_subscribed(),
        "stale": (
            (Q(joined_on__lt=cutoff.date()) | Q(joined_on__isnull=True, created_at__lt=cutoff))
            & (Q(last_engaged_at__isnull=True) | Q(last_engaged_at__lt=cutoff))
            & ~Exists(Order.objects.filter(contact_id=OuterRef("pk"), ordered_at__gte=cutoff))
            & ~Exists(
                Subscription.objects.filter(contact_id=OuterRef("pk"), consent_at__gte=cutoff)
            )
        ),
        "birth_date_outlier": Q(birth_date__lte=moment.today)
        & (
            Q(birth_date__gt=moment.years_ago(AGE_MIN))
            | Q(birth_date__lt=moment.years_ago(AGE_MAX))
        ),
        "date_in_future": Q(birth_date__gt=moment.today)
        | Q(joined_on__gt=moment.today)
        | Q(
            pk__in=Order.objects.filter(ordered_at__gt=moment.now + FUTURE_MARGIN).values(
                "contact_id"
            )
        ),
    }


def annotate_for_conditions(queryset: QuerySet[Contact]) -> QuerySet[Contact]:
    return _with_email_parts(queryset).alias(email_local_length=Length("email_local"))


# --- orders ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bounds:
    """What is usual: from `low` to `high` (None: too few to judge)."""

    median: float
    low: float
    high: float
    sample: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "median": round(self.median, 2),
            "low": round(self.low, 2),
            "high": round(self.high, 2),
            "sample": self.sample,
        }


def _weighted_median(pairs: list[tuple[float, int]]) -> float:
    pairs.sort()
    half = sum(n for _v, n in pairs) / 2
    seen = 0
    for value, n in pairs:
        seen += n
        if seen >= half:
            return value
    return pairs[-1][0] if pairs else 0.0


def value_counts(queryset: QuerySet, field: str) -> list[tuple[float, int]]:
    """(value, rows) for each distinct value of `field`: a few thousand amounts whatever the
    number of rows, which the database counts in one pass."""
    rows = queryset.order_by().values_list(field).annotate(n=Count("pk")).values_list(field, "n")
    return [(float(value), n) for value, n in rows if value is not None]


def outlier_z(sample: int) -> float:
    """How many robust deviations from the median make an amount unusual among `sample`: the
    z that a normal variable passes, either way, OUTLIER_EXPECTED times in `sample` draws, and
    never less than OUTLIER_Z."""
    tail = OUTLIER_EXPECTED / (2 * max(sample, 1))
    return max(OUTLIER_Z, NormalDist().inv_cdf(1 - tail))


def robust_bounds(counts: list[tuple[float, int]]) -> Bounds | None:
    """Median and MAD of the log of the positive values; the usual range is the median give or
    take `outlier_z(sample)` robust deviations, and at least OUTLIER_MIN_RATIO either way. None
    below OUTLIER_MIN_ORDERS values."""
    logs = [(math.log(value), n) for value, n in counts if value > 0]
    sample = sum(n for _v, n in logs)
    if sample < OUTLIER_MIN_ORDERS:
        return None
    median = _weighted_median(list(logs))
    mad = _weighted_median([(abs(v - median), n) for v, n in logs])
    spread = max(outlier_z(sample) * 1.4826 * mad, math.log(OUTLIER_MIN_RATIO))
    return Bounds(
        median=math.exp(median),
        low=math.exp(median - spread),
        high=math.exp(median + spread),
        sample=sample,
    )


def _unusual(value: float, bounds: Bounds | None, *, low_side: bool) -> bool:
    if value < 0:
        return True
    if bounds is None or value == 0:
        return False
    return value > round(bounds.high, 2) or (low_side and value < round(bounds.low, 2))


def orders_unusual_count(details: Mapping[str, Any], totals: list[tuple[float, int]]) -> int:
    """The orders `outlier_orders` lists, counted from the totals' value counts plus the orders
    of usual total holding an unusual line (few: one pass over the lines)."""
    bounds = Bounds(**details["totals"]) if details.get("totals") else None
    by_total = sum(n for value, n in totals if _unusual(value, bounds, low_side=True))
    usual_total = ~_orders_unusual_by_total(details)
    by_line = Order.objects.filter(usual_total, pk__in=_lines_unusual(details)).count()
    return by_total + by_line


def _orders_unusual_by_total(details: Mapping[str, Any]) -> Q:
    condition = Q(total__lt=0)
    totals = details.get("totals")
    if totals:
        condition |= Q(total__gt=0, total__lt=totals["low"]) | Q(total__gt=totals["high"])
    return condition


def _lines_unusual(details: Mapping[str, Any]) -> QuerySet:
    condition = Q(quantity__lt=0)
    quantities = details.get("quantities")
    if quantities:
        condition |= Q(quantity__gt=quantities["high"])
    return OrderLine.objects.filter(condition).values("order_id")


def outlier_orders(details: Mapping[str, Any]) -> QuerySet[Order]:
    """The orders a snapshot judged unusual ({"totals": Bounds, "quantities": Bounds}, as
    stored, rounded to the cent); a negative total or quantity always is."""
    return Order.objects.filter(
        _orders_unusual_by_total(details) | Q(pk__in=_lines_unusual(details))
    )


# --- the run ---------------------------------------------------------------------------------


def _domain_counts(base: QuerySet[Contact]) -> list[dict[str, Any]]:
    """Per distinct domain: the addresses, and the active ones."""
    return list(
        annotate_for_conditions(base.filter(email__isnull=False))
        .annotate(domain=EmailDomain("email"))
        .values("domain")
        .annotate(n=Count("pk"), active=Count("pk", filter=Q(status=Contact.Status.ACTIVE)))
        .order_by()
    )


def _no_mx_domains(domains: list[str]) -> tuple[bool, list[str]]:
    """(whether any look-up is on record, the domains found without a mail server), from the
    checks still valid (QUALITY_MX_CACHE_DAYS)."""
    since = timezone.now() - dt.timedelta(days=settings.QUALITY_MX_CACHE_DAYS)
    checks = DomainCheck.objects.filter(checked_at__gte=since)
    if not checks.exists():
        return False, []
    wanted = set(domains)
    return True, sorted(
        d
        for d in checks.filter(receives_mail=False).values_list("domain", flat=True)
        if d in wanted
    )


class _Laps:
    """Seconds per step of a run, for the benchmark (benchmarks/quality.py) and the curious."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self.last, 3)
        self.last = now

    @property
    def total(self) -> float:
        return round(time.perf_counter() - self.started, 3)


@dataclass
class _EmailFigures:
    counts: dict[str, int]
    domains: dict[str, Any]
    invalid: set[str]
    mx_checked: bool
    distinct: int


def _email_figures(base: QuerySet[Contact], lap: _Laps) -> _EmailFigures:
    """The findings judged by domain: grouped in SQL, each distinct domain judged in Python."""
    per_domain = _domain_counts(base)
    lap("domains_grouped")
    counts = {row["domain"]: row["n"] for row in per_domain}
    verdicts = domains_judge(counts)
    lap("domains_judged")
    mx_checked, no_mx = _no_mx_domains(list(counts))

    def addresses(domains: Any, key: str = "n") -> int:
        return sum(row[key] for row in per_domain if row["domain"] in domains)

    return _EmailFigures(
        counts={
            # The malformed addresses at other domains are added with the contacts' figures.
            "email_invalid": addresses(verdicts.invalid),
            "email_domain_typo": addresses(verdicts.typos),
            "email_disposable": addresses(verdicts.disposable, "active"),
            "email_no_mx": addresses(set(no_mx)),
        },
        domains={
            "typos": dict(sorted(verdicts.typos.items())),
            "disposable": sorted(verdicts.disposable),
            "invalid": sorted(verdicts.invalid),
            "no_mx": no_mx,
        },
        invalid=verdicts.invalid,
        mx_checked=mx_checked,
        distinct=len(counts),
    )


# The findings counted with the fields in one pass over the contacts, and those counted apart:
# each of these is one (anti-)join the database plans well, where a filter inside the one pass
# would probe the other table once per contact.
_IN_THE_PASS = ("phone_invalid", "birth_date_outlier", "email_role")
_APART = ("consent_missing", "stale", "date_in_future")


def _contact_figures(
    base: QuerySet[Contact], conditions: Mapping[str, Any], invalid_domains: set[str], lap: _Laps
) -> dict[str, int]:
    """Fields filled and the findings about contacts one by one."""
    # The aggregates' names may not be the fields' own (an alias would hide the column).
    aggregated = annotate_for_conditions(base).aggregate(
        n_contacts=Count("pk"),
        n_email=Count("pk", filter=Q(email__isnull=False)),
        n_phone=Count("pk", filter=~Q(phone="")),
        n_phones=Count("pk", filter=~Q(phone="") | ~Q(phone_invalid="")),
        n_name=Count("pk", filter=~Q(first_name="") | ~Q(last_name="")),
        n_address=Count("pk", filter=~Q(address="")),
        n_postal_code=Count("pk", filter=~Q(postal_code="")),
        n_birth_date=Count("pk", filter=Q(birth_date__isnull=False)),
        **{f"n_{code}": Count("pk", filter=conditions[code]) for code in _IN_THE_PASS},
        n_malformed=Count(
            "pk",
            filter=Q(email__isnull=False)
            & _malformed()
            & ~Q(email_domain__in=sorted(invalid_domains)),
        ),
    )
    figures = {key.removeprefix("n_"): value for key, value in aggregated.items()}
    lap("contacts_aggregated")
    # Contacts on a list, counted from the subscriptions alone (an erasure withdraws them).
    figures["consent"] = (
        Subscription.objects.filter(status=Subscription.Status.SUBSCRIBED)
        # The erased are few (an index finds them): no join with every contact.
        .exclude(contact_id__in=Contact.objects.filter(status=Contact.Status.ERASED).values("pk"))
        .values("contact_id")
        .distinct()
        .count()
    )
    for code in _APART:
        figures[code] = annotate_for_conditions(base).filter(conditions[code]).count()
        lap(code)
    return figures


def _order_figures(lap: _Laps) -> tuple[int, int, dict[str, Any]]:
    """(orders, unusual orders, the bounds of what is usual)."""
    total_counts = value_counts(Order.objects.all(), "total")
    totals = robust_bounds(total_counts)
    quantities = robust_bounds(value_counts(OrderLine.objects.all(), "quantity"))
    details = {
        "totals": totals.as_dict() if totals else None,
        "quantities": quantities.as_dict() if quantities else None,
    }
    unusual = orders_unusual_count(details, total_counts)
    lap("orders")
    return sum(n for _value, n in total_counts), unusual, details


def audit_run(*, trigger: str, moment: Moment | None = None) -> AuditSnapshot:
    """Measure the base and store the snapshot."""
    lap = _Laps()
    moment = moment or moment_now()
    base = audited_contacts()
    emails = _email_figures(base, lap)
    conditions = contact_conditions(domains=emails.domains, moment=moment)
    figures = _contact_figures(base, conditions, emails.invalid, lap)
    orders, unusual_orders, order_details = _order_figures(lap)
    duplicates = duplicate_contact_count()
    lap("duplicates")

    counts = {
        **emails.counts,
        **{code: figures[code] for code in (*_IN_THE_PASS, *_APART)},
        "email_invalid": emails.counts["email_invalid"] + figures["malformed"],
        "order_outlier": unusual_orders,
        "duplicate": duplicates,
    }
    contacts = figures["contacts"]
    populations = {
        CONTACTS: contacts,
        EMAILS: figures["email"],
        PHONES: figures["phones"],
        ORDERS: orders,
    }
    findings: list[dict[str, Any]] = []
    for code in CODES:
        population = populations[BY_CODE[code].population]
        finding: dict[str, Any] = {
            "code": code,
            "count": counts[code],
            "share": round(counts[code] / population, 4) if population else 0.0,
        }
        if code == "email_no_mx":
            finding["measured"] = emails.mx_checked
        findings.append(finding)
    components = score_components(findings=findings, populations=populations)
    fields = {
        name: {
            "filled": figures[name],
            "share": round(figures[name] / contacts, 4) if contacts else 0.0,
        }
        for name in ("email", "consent", "name", "phone", "address", "postal_code", "birth_date")
    }
    return AuditSnapshot.objects.create(
        trigger=trigger,
        score=score_of(components),
        contacts=contacts,
        emails=figures["email"],
        orders=orders,
        fields=fields,
        findings=findings,
        domains=emails.domains,
        details={
            **order_details,
            "stale_months": moment.stale_months,
            "stale_cutoff": moment.stale_cutoff.isoformat(),
            "phones": figures["phones"],
            "mx_checked": emails.mx_checked,
            "domains_distinct": emails.distinct,
            "timings": lap.seconds,
        },
        seconds=lap.total,
    )
