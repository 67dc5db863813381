"""Reads of the suppression list (the send engine checks it at snapshot and at send time)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import QuerySet

from fidele.compliance.models import Suppression

# SQLite limits bound parameters per statement; PostgreSQL plans big IN lists badly.
_CHUNK = 500


def is_suppressed(email: str | None) -> bool:
    if not email:
        return False
    return Suppression.objects.filter(email=email.strip().lower()).exists()


def suppressed_among(emails: Iterable[str]) -> set[str]:
    """The addresses in `emails` (normalised, lower-case) that are on the suppression list."""
    wanted = sorted({e.strip().lower() for e in emails if e})
    found: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found.update(Suppression.objects.filter(email__in=chunk).values_list("email", flat=True))
    return found


def suppressions_filtered(*, params: Mapping[str, Any]) -> QuerySet[Suppression]:
    queryset = Suppression.objects.all()
    q = (params.get("q") or "").strip()
    if q:
        queryset = queryset.filter(email__icontains=q.lower())
    reason = params.get("reason") or ""
    if reason in Suppression.Reason.values:
        queryset = queryset.filter(reason=reason)
    return queryset


def suppression_counts() -> dict[str, int]:
    from django.db.models import Count

    rows = Suppression.objects.values("reason").annotate(n=Count("id")).order_by()
    return {row["reason"]: row["n"] for row in rows}
