"""The audit in the background: a few minutes after an import (announced by imports through
fidele.core.events), every night, and the mail-server look-ups asked for from the page.

After an import and at night the duplicate search runs first, in the same task, and the audit
counts the pairs it just found: two tasks queued side by side would leave the audit counting
the previous search's pairs whenever it ran first (always with the immediate backend, and
whenever the search outlasts the audit's delay).

The tasks' paths (fidele.quality.tasks.*) are stored with every queued run: keep them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from django_tasks import task

from fidele.core.tasks import task_is_waiting, task_queue_soon, task_schedule_next
from fidele.quality.audit import audit_run
from fidele.quality.duplicates import duplicates_search
from fidele.quality.models import AuditSnapshot
from fidele.quality.mx import domains_mx_check

# After an import, the audit waits this long, so that an import of contacts followed by one of
# orders is audited once.
AFTER_IMPORT_DELAY = timedelta(minutes=2)
# The nightly audit runs at this local hour, after the day's imports and before the day's work.
NIGHTLY_HOUR = 3
# A worker that starts when no audit ran for this long audits soon instead of waiting for night.
CATCH_UP_AFTER = timedelta(hours=24)


def audit_with_fresh_duplicates(*, trigger: str) -> AuditSnapshot:
    """Search the base for duplicates, then audit it: the snapshot's `duplicate` counts the
    contacts of the pairs just found."""
    duplicates_search()
    return audit_run(trigger=trigger)


@task()
def audit_after_import() -> int:
    return audit_with_fresh_duplicates(trigger=AuditSnapshot.Trigger.IMPORT).pk


def audit_after_import_queue(*, sender: Any = None, **kwargs: Any) -> bool:
    """The receiver of fidele.core.events.import_finished: queue one duplicate search and audit,
    unless one waits."""
    return task_queue_soon(audit_after_import, delay=AFTER_IMPORT_DELAY)


@task()
def audit_nightly() -> int:
    try:
        return audit_with_fresh_duplicates(trigger=AuditSnapshot.Trigger.NIGHTLY).pk
    finally:
        audit_nightly_schedule()


def audit_nightly_schedule(*, delay: timedelta | None = None) -> bool:
    """Queue the next nightly audit unless one is waiting: at NIGHTLY_HOUR tonight or tomorrow
    night, local time. A worker starting (which passes its `delay`) runs it sooner only when no
    audit ran for a day: a restart in the afternoon does not add a "nightly" audit that finds
    nothing changed since the morning's."""
    if delay is None or _audited_within(CATCH_UP_AFTER):
        now = timezone.localtime()
        next_run = now.replace(hour=NIGHTLY_HOUR, minute=0, second=0, microsecond=0)
        if next_run <= now:
            next_run += timedelta(days=1)
        delay = next_run - now
    return task_schedule_next(audit_nightly, delay=delay)


def _audited_within(period: timedelta) -> bool:
    return AuditSnapshot.objects.filter(created_at__gte=timezone.now() - period).exists()


@task()
def mx_check() -> int:
    """Look the base's domains up, then audit again so that the finding shows them."""
    checked = domains_mx_check()
    audit_run(trigger=AuditSnapshot.Trigger.MANUAL)
    return checked


def mx_check_queue() -> bool:
    """Queue the look-ups unless they are waiting already; False when nothing was queued."""
    if task_is_waiting(mx_check):
        return False
    mx_check.enqueue()
    return True
