"""Background runs of the duplicate search on demand from the duplicates page, followed by an
audit so that the quality page counts the pairs the duplicates page shows. After each import
and at night the search runs in the audit's own task (fidele.quality.tasks), before it.

The task's path is stored with every queued run: keep it."""

from __future__ import annotations

from django_tasks import task

from fidele.core.tasks import task_is_waiting
from fidele.quality.audit import audit_run
from fidele.quality.duplicates import duplicates_search
from fidele.quality.models import AuditSnapshot


@task()
def duplicates_search_run() -> int:
    """Search now, then audit; returns how many pairs are proposed."""
    found = len(duplicates_search().pairs)
    audit_run(trigger=AuditSnapshot.Trigger.MANUAL)
    return found


@task()
def duplicates_search_nightly() -> int:
    """A nightly search queued before the nightly audit took it over: it runs once and queues
    no other (kept because queued runs name this task's path)."""
    return len(duplicates_search().pairs)


def duplicates_search_queue() -> bool:
    """Queue a search now, unless one is waiting already; False when none was queued."""
    if task_is_waiting(duplicates_search_run):
        return False
    duplicates_search_run.enqueue()
    return True


def duplicates_search_pending() -> bool:
    """Whether a search asked for from the page is waiting or running (database backend)."""
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(
        task_path=duplicates_search_run.module_path,
        status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
    ).exists()
