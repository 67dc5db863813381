"""Reads of the audit: the latest snapshot and its history, the report (the CLI contract and the
page share it), the contacts and orders behind each finding."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from fidele.commerce.models import Order
from fidele.contacts.models import Contact
from fidele.quality.audit import (
    Moment,
    annotate_for_conditions,
    contact_conditions,
    outlier_orders,
)
from fidele.quality.findings import (
    BY_CODE,
    CONTACTS,
    EMAILS,
    FIELDS,
    FINDINGS,
    ORDERS,
    PHONES,
    change_lines,
    plan_of,
    score_components,
    score_sentence,
)
from fidele.quality.models import AuditSnapshot, FixBatch

# The contacts list's query parameter that shows a finding's contacts (?quality=CODE).
FILTER_PARAM = "quality"


def snapshot_latest() -> AuditSnapshot | None:
    return AuditSnapshot.objects.order_by("-created_at", "-id").first()


def snapshot_before(snapshot: AuditSnapshot) -> AuditSnapshot | None:
    return (
        AuditSnapshot.objects.filter(created_at__lte=snapshot.created_at)
        .exclude(pk=snapshot.pk)
        .order_by("-created_at", "-id")
        .first()
    )


def snapshots_history(*, days: int = 90) -> list[AuditSnapshot]:
    """The last audit of each day over the last `days` days, oldest first (the chart's bars)."""
    since = timezone.now() - dt.timedelta(days=days)
    per_day: dict[dt.date, AuditSnapshot] = {}
    for snapshot in AuditSnapshot.objects.filter(created_at__gte=since).order_by(
        "created_at", "id"
    ):
        per_day[timezone.localdate(snapshot.created_at)] = snapshot
    return [per_day[day] for day in sorted(per_day)]


def _populations(snapshot: AuditSnapshot) -> dict[str, int]:
    return {
        CONTACTS: snapshot.contacts,
        EMAILS: snapshot.emails,
        PHONES: int((snapshot.details or {}).get("phones") or 0),
        ORDERS: snapshot.orders,
    }


def finding_contacts_url(code: str) -> str | None:
    """The page that lists exactly what a finding counts."""
    if code == "duplicate":
        return reverse("quality:duplicates")
    if code == "order_outlier":
        return reverse("quality:order_outliers")
    if BY_CODE[code].listable:
        return f"{reverse('contacts:list')}?{FILTER_PARAM}={code}"
    return None


def finding_fix_url(code: str) -> str | None:
    """The preview of a safe bulk correction, for the findings that have one."""
    return {
        "email_domain_typo": reverse("quality:fix_typos"),
        "email_disposable": reverse("quality:fix_disposable"),
    }.get(code)


def report_of(snapshot: AuditSnapshot) -> dict[str, Any]:
    """The audit as `fidele quality report --json` prints it (a contract: keys may be added,
    never removed) and as the page shows it, in the active language."""
    components = score_components(findings=snapshot.findings, populations=_populations(snapshot))
    points = {c.code: c.points_lost for c in components}
    findings = []
    for row in snapshot.findings:
        finding = BY_CODE.get(row.get("code", ""))
        if finding is None:
            continue
        findings.append(
            {
                **row,
                "label": str(finding.label),
                "explanation": str(finding.explanation),
                "weight": finding.weight,
                "points": round(points.get(finding.code, 0.0), 1),
                "measured": row.get("measured", True),
                "url": finding_contacts_url(finding.code),
            }
        )
    plan = [
        {
            "code": action.code,
            "count": action.count,
            "action": action.action,
            "points": action.points,
            "url": finding_contacts_url(action.code),
            "fix_url": finding_fix_url(action.code),
        }
        for action in plan_of(findings=snapshot.findings, components=components)
    ]
    labels = dict(FIELDS)
    return {
        "score": snapshot.score,
        "contacts": snapshot.contacts,
        "emails": snapshot.emails,
        "orders": snapshot.orders,
        "audited_at": snapshot.created_at.isoformat(),
        "seconds": snapshot.seconds,
        "sentence": score_sentence(snapshot.score, components, snapshot.contacts),
        "weights": [
            {
                "code": c.code,
                "label": c.label,
                "weight": c.weight,
                "points_lost": round(c.points_lost, 1),
            }
            for c in components
        ],
        "fields": {
            name: {**values, "label": str(labels.get(name, name))}
            for name, values in snapshot.fields.items()
        },
        "findings": findings,
        "plan": plan,
    }


def _figures(snapshot: AuditSnapshot) -> dict[str, Any]:
    return {
        "score": snapshot.score,
        "contacts": snapshot.contacts,
        "counts": {
            row["code"]: row["count"] for row in snapshot.findings if row.get("measured", True)
        },
    }


def snapshot_changes(snapshot: AuditSnapshot) -> tuple[AuditSnapshot | None, list[dict]]:
    """The audit before this one and what moved since (score, contacts, each finding)."""
    previous = snapshot_before(snapshot)
    if previous is None:
        return None, []
    return previous, change_lines(_figures(snapshot), _figures(previous))


# --- what a finding concerns -----------------------------------------------------------------


def _moment_of(snapshot: AuditSnapshot | None) -> Moment:
    from django.conf import settings

    months = (snapshot.details or {}).get("stale_months") if snapshot else None
    return Moment(now=timezone.now(), stale_months=months or settings.QUALITY_STALE_MONTHS)


def contacts_with_finding(queryset: QuerySet[Contact], code: str) -> QuerySet[Contact]:
    """Narrow `queryset` to the contacts of a finding, as the latest audit judged their domains
    (a domain it called a typo stays one until the next audit). Unknown codes, and findings
    that are not about contacts one by one, leave no contact."""
    snapshot = snapshot_latest()
    conditions = contact_conditions(
        domains=snapshot.domains if snapshot else {}, moment=_moment_of(snapshot)
    )
    if code not in conditions:
        return queryset.none()
    return (
        annotate_for_conditions(queryset)
        .exclude(status=Contact.Status.ERASED)
        .filter(conditions[code])
    )


def finding_filter_describe(code: str) -> str:
    finding = BY_CODE.get(code)
    if finding is None or not finding.listable:
        return ""
    return _("Data quality: %(finding)s. %(explanation)s") % {
        "finding": finding.label,
        "explanation": finding.explanation,
    }


def orders_outlying(snapshot: AuditSnapshot | None) -> QuerySet[Order]:
    """The orders the latest audit found unusual, largest first."""
    if snapshot is None:
        return Order.objects.none()
    return (
        outlier_orders(snapshot.details or {}).select_related("contact").order_by("-total", "-id")
    )


def fix_batches_recent(*, limit: int = 10) -> list[FixBatch]:
    return list(FixBatch.objects.order_by("-created_at", "-id")[:limit])


def finding_codes() -> list[str]:
    return [finding.code for finding in FINDINGS]
