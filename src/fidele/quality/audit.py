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
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, FloatField, OuterRef, Q, QuerySet
from django.db.models.functions import Cast, Floor, Length, Ln
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

# Characters an address may not hold outside quotes (which Fidèle never stores).
_FORBIDDEN_CHARACTERS = '<>()[],;:"\\'
# Birth dates: younger than this or older than that is implausible for a customer.
AGE_MIN, AGE_MAX = 15, 110
# An order dated later than now by more than this is in the future (a till in another time
# zone, an import of today's orders, are not).
FUTURE_MARGIN = dt.timedelta(days=1)
# Order outliers: modified z-score of the log amount beyond this (Iglewicz and Hoaglin's 3.5),
# and never within MIN_RATIO of the typical order either way; judged from MIN_ORDERS orders.
OUTLIER_Z = 3.5
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
    """Addresses wrong whatever their domain: not one @, a space, a forbidden character, a dot
    at either end of the local part or two in a row, a local part over 64 characters. Needs
    the aliases of `_with_email_parts` and `email_local_length`."""
    condition = ~Q(email__regex=r"^[^@\s]+@[^@\s]+$")
    condition |= Q(email_local__startswith=".") | Q(email_local__endswith=".")
    condition |= Q(email_local__contains="..") | Q(email_local_length__gt=64)
    for character in _FORBIDDEN_CHARACTERS:
        condition |= Q(email__contains=character)
    return condition


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


def robust_bounds(queryset: QuerySet, field: str) -> Bounds | None:
    """Median and MAD of log(field) over the positive values, from a histogram the database
    counts (a few hundred buckets whatever the number of rows); the usual range is the median
    give or take OUTLIER_Z robust deviations, and at least OUTLIER_MIN_RATIO either way."""
    rows = (
        queryset.filter(**{f"{field}__gt": 0})
        .annotate(bucket=Floor(Ln(Cast(field, FloatField())) * _BUCKETS))
        .order_by()
        .values("bucket")
        .annotate(n=Count("pk"))
        .values_list("bucket", "n")
    )
    buckets = [((float(bucket) + 0.5) / _BUCKETS, n) for bucket, n in rows]
    sample = sum(n for _v, n in buckets)
    if sample < OUTLIER_MIN_ORDERS:
        return None
    median = _weighted_median(list(buckets))
    mad = _weighted_median([(abs(v - median), n) for v, n in buckets])
    spread = max(OUTLIER_Z * 1.4826 * mad, math.log(OUTLIER_MIN_RATIO))
    return Bounds(
        median=math.exp(median),
        low=math.exp(median - spread),
        high=math.exp(median + spread),
        sample=sample,
    )


def outlier_orders(details: Mapping[str, Any]) -> QuerySet[Order]:
    """The orders a snapshot judged unusual ({"totals": Bounds, "quantities": Bounds}); a
    negative total or quantity always is."""
    condition = Q(total__lt=0)
    totals = details.get("totals")
    if totals:
        condition |= Q(total__gt=0, total__lt=totals["low"]) | Q(total__gt=totals["high"])
    line_condition = Q(quantity__lt=0)
    quantities = details.get("quantities")
    if quantities:
        line_condition |= Q(quantity__gt=quantities["high"])
    lines = OrderLine.objects.filter(line_condition).values("order_id")
    return Order.objects.filter(condition | Q(pk__in=lines))


# --- the run ---------------------------------------------------------------------------------


def _domain_counts(base: QuerySet[Contact]) -> list[dict[str, Any]]:
    """Per distinct domain: the addresses, the active ones, the malformed ones, the generic."""
    return list(
        annotate_for_conditions(base.filter(email__isnull=False))
        .annotate(domain=EmailDomain("email"))
        .values("domain")
        .annotate(
            n=Count("pk"),
            active=Count("pk", filter=Q(status=Contact.Status.ACTIVE)),
            malformed=Count("pk", filter=_malformed()),
            role=Count("pk", filter=Q(email_local__in=ROLE_LOCAL_PARTS)),
        )
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


def audit_run(*, trigger: str, moment: Moment | None = None) -> AuditSnapshot:
    """Measure the base and store the snapshot."""
    started = time.perf_counter()
    moment = moment or moment_now()
    base = audited_contacts()

    per_domain = _domain_counts(base)
    counts = {row["domain"]: row["n"] for row in per_domain}
    verdicts = domains_judge(counts)
    mx_checked, no_mx = _no_mx_domains(list(counts))
    domains = {
        "typos": dict(sorted(verdicts.typos.items())),
        "disposable": sorted(verdicts.disposable),
        "invalid": sorted(verdicts.invalid),
        "no_mx": no_mx,
    }
    email_counts = {
        "email_invalid": sum(
            row["n"] if row["domain"] in verdicts.invalid else row["malformed"]
            for row in per_domain
        ),
        "email_domain_typo": sum(row["n"] for row in per_domain if row["domain"] in verdicts.typos),
        "email_disposable": sum(
            row["active"] for row in per_domain if row["domain"] in verdicts.disposable
        ),
        "email_role": sum(row["role"] for row in per_domain),
        "email_no_mx": sum(row["n"] for row in per_domain if row["domain"] in no_mx),
    }

    conditions = contact_conditions(domains=domains, moment=moment)
    simple = ("phone_invalid", "birth_date_outlier")
    # The aggregates' names may not be the fields' own (an alias would hide the column).
    row = annotate_for_conditions(base).aggregate(
        n_contacts=Count("pk"),
        n_email=Count("pk", filter=Q(email__isnull=False)),
        n_phone=Count("pk", filter=~Q(phone="")),
        n_phones=Count("pk", filter=~Q(phone="") | ~Q(phone_invalid="")),
        n_name=Count("pk", filter=~Q(first_name="") | ~Q(last_name="")),
        n_address=Count("pk", filter=~Q(address="")),
        n_postal_code=Count("pk", filter=~Q(postal_code="")),
        n_birth_date=Count("pk", filter=Q(birth_date__isnull=False)),
        **{f"n_{code}": Count("pk", filter=conditions[code]) for code in simple},
    )
    figures = {key.removeprefix("n_"): value for key, value in row.items()}
    # The findings that join another table are counted on their own: each is then one
    # (anti-)join the database plans well, where a filter inside one aggregate would probe the
    # other table once per contact.
    figures["consent"] = base.filter(_subscribed()).count()
    separate = ("consent_missing", "stale", "date_in_future")
    for code in separate:
        figures[code] = annotate_for_conditions(base).filter(conditions[code]).count()

    orders = Order.objects.count()
    totals = robust_bounds(Order.objects.all(), "total")
    quantities = robust_bounds(OrderLine.objects.all(), "quantity")
    outlier_details = {
        "totals": totals.as_dict() if totals else None,
        "quantities": quantities.as_dict() if quantities else None,
    }
    order_outliers = outlier_orders(outlier_details).count()
    duplicates = duplicate_contact_count()

    contacts = figures["contacts"]
    findings: list[dict[str, Any]] = []
    all_counts = {
        **email_counts,
        **{code: figures[code] for code in (*simple, *separate)},
        "order_outlier": order_outliers,
        "duplicate": duplicates,
    }
    populations = {
        CONTACTS: contacts,
        EMAILS: figures["email"],
        PHONES: figures["phones"],
        ORDERS: orders,
    }
    for code in CODES:
        count = all_counts[code]
        population = populations[BY_CODE[code].population]
        row: dict[str, Any] = {
            "code": code,
            "count": count,
            "share": round(count / population, 4) if population else 0.0,
        }
        if code == "email_no_mx":
            row["measured"] = mx_checked
        findings.append(row)
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
        domains=domains,
        details={
            **outlier_details,
            "stale_months": moment.stale_months,
            "stale_cutoff": moment.stale_cutoff.isoformat(),
            "phones": figures["phones"],
            "mx_checked": mx_checked,
            "domains_distinct": len(counts),
        },
        seconds=round(time.perf_counter() - started, 3),
    )
