"""Running an import to its end: read, normalise, write, summarise, audit.

The background task (fidele.imports.tasks) and the command line (services.import_file) both call
`importjob_run`; the services before it (upload, configure, start) live in
fidele.imports.services, which queues the task. Keeping the run here, below both, is what lets
the services queue the task without the task importing the services back.
"""

from __future__ import annotations

import getpass
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext_noop

from fidele.contacts.bulk_load import contacts_empty
from fidele.core.actors import Actor, System
from fidele.core.audit import audit_record
from fidele.core.claims import claimer_is_gone, claimer_name
from fidele.core.events import import_finished
from fidele.core.models import AuditLog
from fidele.imports import mapping as mapping_mod
from fidele.imports.contacts_engine import ContactImport
from fidele.imports.models import ImportJob
from fidele.imports.orders_engine import OrderImport
from fidele.imports.pipeline import Counters, ImportOptions, RejectWriter, WarningWriter
from fidele.imports.reader import FileShape, ImportFileError, open_table
from fidele.ui.texts import Text, text_render

logger = logging.getLogger(__name__)

# A running import renews its lease at least every few seconds while it writes (each batch); one
# not renewed for this long belongs to a worker that is gone, wherever it ran.
LEASE_SECONDS = 300


def _actor_name(actor: Actor) -> str:
    if getattr(actor, "is_authenticated", False):
        return actor.get_username()
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "cli"


def uploads_dir() -> Path:
    directory = Path(settings.IMPORTS_DIR) / "uploads"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def importjob_run(*, job_id: int, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Run an import to the end and return its summary (the contract in ARCHITECTURE.md, plus
    extras)."""
    job = ImportJob.objects.select_related("created_by").get(pk=job_id)
    if job.status not in (ImportJob.Status.UPLOADED, ImportJob.Status.QUEUED):
        # A task delivered twice: the import already ran (or is running).
        return job.summary
    with translation.override((job.options or {}).get("language") or settings.LANGUAGE_CODE):
        return _run(job, progress)


def _run(job: ImportJob, progress: Callable[[int], None] | None) -> dict[str, Any]:
    started = time.perf_counter()
    now = timezone.now()
    claimer = claimer_name()
    # Claimed with one conditional UPDATE: a task delivered twice runs the import once.
    claimed = ImportJob.objects.filter(
        pk=job.pk, status__in=(ImportJob.Status.UPLOADED, ImportJob.Status.QUEUED)
    ).update(
        status=ImportJob.Status.RUNNING,
        started_at=now,
        rows_done=0,
        claimed_by=claimer,
        heartbeat_at=now,
        summary={},
    )
    if not claimed:
        job.refresh_from_db()
        return job.summary
    job.refresh_from_db()
    actor = job.created_by
    options = job.options or {}
    last_saved = [0.0]
    engine: ContactImport | OrderImport | None = None

    def report(rows: int, *, now_or_never: bool = False) -> None:
        # The heartbeat: progress, the counts so far (what an interrupted import reports) and the
        # renewed lease, at most twice a second.
        now = time.perf_counter()
        if now - last_saved[0] >= 0.5 or now_or_never:
            last_saved[0] = now
            partial = _counts(engine.counters) if engine is not None else {}
            ImportJob.objects.filter(pk=job.pk, claimed_by=claimer).update(
                rows_done=rows, heartbeat_at=timezone.now(), summary=partial
            )
        if progress:
            progress(rows)

    counters = Counters()
    rejects: RejectWriter | None = None
    warnings: WarningWriter | None = None
    error: str | None = None
    try:
        shape = FileShape.from_dict(job.detected)
        table = open_table(Path(job.stored_path), shape=shape, name=job.original_name)
        header = table.header
        if header != job.detected.get("header"):
            raise ImportFileError(
                Text(
                    gettext_noop("%(file)s changed since it was checked: upload it again."),
                    file=job.original_name,
                )
            )
        run_options = ImportOptions(
            kind=job.kind,
            mapping=list(
                job.mapping.get("targets") or mapping_mod.propose_mapping(job.kind, header)
            ),
            list_name=options.get("list", ""),
            update=bool(options.get("update")),
            consent_confirmed=bool(options.get("consent_confirmed")),
            actor=actor,
            actor_name=options.get("actor_name") or _actor_name(actor),
            file_name=job.original_name,
            job_id=job.pk,
            progress=report,
            heartbeat=lambda: report(
                engine.counters.rows if engine is not None else 0, now_or_never=True
            ),
        )
        rejects = RejectWriter(header, prefix=f"import-{job.pk}")
        warnings = WarningWriter(prefix=f"import-{job.pk}")
        engine_class = OrderImport if job.kind == ImportJob.Kind.ORDERS else ContactImport
        engine = engine_class(
            options=run_options, header=header, rejects=rejects, warnings=warnings
        )
        counters = engine.run(table.rows)
    except ImportFileError as exc:
        error = exc.args[0] if exc.args and isinstance(exc.args[0], Text) else str(exc)
        if engine is not None:
            counters = engine.counters
    except Exception:
        logger.exception("import %s failed", job.pk)
        if engine is not None:
            counters = engine.counters
        error = Text(
            gettext_noop(
                "The import stopped on an unexpected error; nothing was saved: the contacts "
                "are as they were before it."
            )
            if counters.rolled_back
            else gettext_noop(
                "The import stopped on an unexpected error; the rows saved before it are kept."
            )
        )
    finally:
        for written in (rejects, warnings):
            if written is not None:
                written.close()

    rejected_file = str(rejects.path) if rejects is not None and rejects.path else None
    summary: dict[str, Any] = {
        "rows": counters.rows,
        "created": counters.created,
        "updated": counters.updated,
        "merged": counters.merged,
        "rejected": counters.rejected,
        "rejected_file": rejected_file,
        "seconds": round(time.perf_counter() - started, 3),
        "skipped": counters.skipped,
        "warnings": counters.warnings,
        # Every warning with the cell's full original value (the summary keeps the first ones).
        "warnings_file": str(warnings.path) if warnings is not None and warnings.path else None,
        "invalid_phones": counters.invalid_phones,
        "import_id": job.pk,
        "kind": job.kind,
        "file": job.original_name,
        "format": job.detected.get("format"),
        "encoding": job.detected.get("encoding"),
        "delimiter": job.detected.get("delimiter"),
        "error": error,
        "error_text": error_source(error),
        "warning_groups": counters.grouped_warnings(),
        "warnings_sample": counters.warnings_sample,
    }
    if job.kind == ImportJob.Kind.CONTACTS:
        summary["list"] = options.get("list") or None
        summary["subscribed"] = counters.subscribed
        summary["merges_to_review"] = counters.merges_review
        summary["merges_to_review_sample"] = counters.merges_review_sample
        if counters.search_indexes_seconds is not None:
            summary["search_indexes_seconds"] = counters.search_indexes_seconds
    else:
        summary["lines"] = counters.lines
        summary["products_created"] = counters.products_created
    job.summary = summary
    job.rows_done = counters.rows
    job.rejected_path = rejected_file or ""
    job.error = error or ""
    job.status = ImportJob.Status.FAILED if error else ImportJob.Status.DONE
    job.finished_at = timezone.now()
    job.claimed_by = ""
    job.heartbeat_at = None
    if not error:
        # Kept after a failure, so that the user can retry (until the retention job deletes it).
        upload_forget(job)
    job.save()
    audit_record(
        # Run by a command or a task: the audit names it as the import did ("cli:<login>").
        actor=actor
        if getattr(actor, "is_authenticated", False)
        else System(name=run_actor_label(options)),
        action=AuditLog.Action.IMPORT,
        object_type="imports.importjob",
        object_id=job.pk,
        object_repr=str(job)[:200],
        changes={
            k: v
            for k, v in summary.items()
            if k not in ("warnings_sample", "warning_groups", "merges_to_review_sample")
        },
    )
    if counters.created or counters.updated or counters.merged:
        # The data-quality audit (a sibling app) reruns on what the import changed. The import
        # is done and recorded: a listener's failure is logged, never the import's.
        for receiver, result in import_finished.send_robust(
            sender=ImportJob, kind=job.kind, job_id=job.pk
        ):
            if isinstance(result, Exception):
                logger.error("after import %s, %r failed: %r", job.pk, receiver, result)
    return summary


def error_source(error: str | None) -> dict[str, Any] | None:
    """What an import's error is made of, for its page to say it in the reader's language;
    `error` (and `ImportJob.error`) keep the text in the importer's (fidele.ui.texts)."""
    return error.data if isinstance(error, Text) else None


def error_shown(job: ImportJob) -> str:
    """The job's error in the active language when its source was kept, else as stored."""
    return text_render((job.summary or {}).get("error_text") or job.error)


def _counts(counters: Counters) -> dict[str, int]:
    return {
        "rows": counters.rows,
        "created": counters.created,
        "updated": counters.updated,
        "merged": counters.merged,
        "rejected": counters.rejected,
        "skipped": counters.skipped,
        "all_or_nothing": counters.all_or_nothing,
    }


def is_upload(job: ImportJob) -> bool:
    """Whether the job's file is ours (uploaded through the web) rather than the user's own file
    given on the command line, which is never deleted."""
    return uploads_dir().resolve() in Path(job.stored_path).resolve().parents


def upload_kept(job: ImportJob) -> bool:
    return is_upload(job) and job.upload_deleted_at is None and Path(job.stored_path).is_file()


def upload_forget(job: ImportJob, *, now: datetime | None = None) -> bool:
    """An uploaded file holds personal data: once imported, only the rejected rows are kept
    (the user downloads them). Files given on the command line are the user's, left alone.
    Sets (does not save) `upload_deleted_at`; returns whether a file of ours was deleted."""
    if not is_upload(job):
        return False
    Path(job.stored_path).unlink(missing_ok=True)
    job.upload_deleted_at = now or timezone.now()
    return True


# ---------------------------------------------------------------------------------------------
# Recovery: imports whose worker is gone


def importjobs_recover() -> list[int]:
    """Mark failed the running imports whose worker is gone: a process on this machine that no
    longer runs, or a lease not renewed for LEASE_SECONDS. Their rows so far are saved (each
    batch is committed); the summary says how many, an audit entry records it, and the
    uploaded file is kept so that the user can import it again (or discard it). Returns the
    ids of the jobs marked."""
    expired = timezone.now() - timedelta(seconds=LEASE_SECONDS)
    marked = []
    for job in ImportJob.objects.filter(status=ImportJob.Status.RUNNING).select_related(
        "created_by"
    ):
        stale = job.heartbeat_at is None or job.heartbeat_at < expired
        if (stale or claimer_is_gone(job.claimed_by)) and _interrupted_record(job):
            marked.append(job.pk)
    if marked:
        logger.warning("imports %s: interrupted (their worker stopped), marked failed", marked)
    return marked


def _interrupted_record(job: ImportJob) -> bool:
    options = job.options or {}
    partial = job.summary or {}
    rows = max(int(partial.get("rows") or 0), job.rows_done)
    # A first import keeps all its rows at once, at its end (fidele.contacts.bulk_load): killed
    # before that, it saved none (unless it was killed after its commit and before its next
    # heartbeat, which the rows themselves tell).
    saved_nothing = bool(partial.get("all_or_nothing")) and contacts_empty()
    if saved_nothing:
        partial = {"rejected": partial.get("rejected", 0)}
    with translation.override(options.get("language") or settings.LANGUAGE_CODE):
        error = _nothing_saved() if saved_nothing else _rows_before_saved(rows)
    finished = timezone.now()
    summary: dict[str, Any] = {
        "rows": rows,
        "created": partial.get("created", 0),
        "updated": partial.get("updated", 0),
        "merged": partial.get("merged", 0),
        "rejected": partial.get("rejected", 0),
        "rejected_file": None,
        "seconds": round((finished - job.started_at).total_seconds(), 3)
        if job.started_at
        else None,
        "skipped": partial.get("skipped", 0),
        "import_id": job.pk,
        "kind": job.kind,
        "file": job.original_name,
        "error": error,
        "error_text": error_source(error),
        "interrupted": True,
    }
    # Conditional on the claim it judged: a recovery running at the same time, or the import
    # renewing its lease in between, leaves the job alone.
    updated = ImportJob.objects.filter(
        pk=job.pk, status=ImportJob.Status.RUNNING, claimed_by=job.claimed_by
    ).update(
        status=ImportJob.Status.FAILED,
        error=error,
        summary=summary,
        rows_done=rows,
        finished_at=finished,
        claimed_by="",
        heartbeat_at=None,
    )
    if not updated:
        return False
    audit_record(
        actor=System(name="import recovery"),
        action=AuditLog.Action.IMPORT,
        object_type="imports.importjob",
        object_id=job.pk,
        object_repr=str(job)[:200],
        changes={**summary, "claimed_by": job.claimed_by},
    )
    return True


def run_actor_label(options: dict[str, Any]) -> str:
    return options.get("actor_name") or _actor_name(None)


# ---------------------------------------------------------------------------------------------
# Retention: uploaded files hold personal data


# The source of this error before it agreed in number: jobs stored with it render it again
# (ui.texts.text_render), so it stays in the catalogue.
_STORED_SOURCES = (
    gettext_noop(
        "Not started within %(days)s days of its upload: the file was deleted (it holds "
        "personal data). Upload it again to import it."
    ),
)


def uploads_retention(*, now: datetime | None = None) -> list[int]:
    """Delete the uploaded files of jobs never started within IMPORT_UPLOAD_RETENTION_DAYS of
    their upload (awaiting confirmation, or queued with no worker: such a job is marked failed,
    it can no longer run), and those of failed jobs that many days after they ended (kept until
    then for a retry). Each deletion is audited. Returns the ids of the jobs concerned."""
    now = now or timezone.now()
    days = settings.IMPORT_UPLOAD_RETENTION_DAYS
    cutoff = now - timedelta(days=days)
    Status = ImportJob.Status
    done = []
    never_started = ImportJob.objects.filter(
        status__in=(Status.UPLOADED, Status.QUEUED), started_at__isnull=True, created_at__lt=cutoff
    )
    for job in never_started:
        with translation.override((job.options or {}).get("language") or settings.LANGUAGE_CODE):
            error = Text(
                gettext_noop(
                    "Not started within %(count)s day of its upload: the file was deleted (it "
                    "holds personal data). Upload it again to import it."
                ),
                plural=gettext_noop(
                    "Not started within %(count)s days of its upload: the file was deleted (it "
                    "holds personal data). Upload it again to import it."
                ),
                count=days,
            )
        # Conditional on the status read: a job started meanwhile is left alone.
        if not ImportJob.objects.filter(pk=job.pk, status=job.status).update(
            status=Status.FAILED,
            error=error,
            finished_at=now,
            summary={**(job.summary or {}), "error_text": error_source(error)},
        ):
            continue
        job.status, job.error = Status.FAILED, error
        upload_forget(job, now=now)
        job.save(update_fields=["upload_deleted_at"])
        _retention_audit(job, reason="not started")
        done.append(job.pk)
    ended = ImportJob.objects.filter(
        status=Status.FAILED, upload_deleted_at__isnull=True, finished_at__lt=cutoff
    )
    for job in ended:
        if upload_forget(job, now=now):
            job.save(update_fields=["upload_deleted_at"])
            _retention_audit(job, reason="failed")
            done.append(job.pk)
    if done:
        logger.info("imports %s: uploaded files deleted after %s days", done, days)
    return done + import_files_retention(now=now)


def import_files_retention(*, now: datetime) -> list[int]:
    """Delete the rejected-rows and warnings files of imports ended more than
    IMPORT_REPORT_RETENTION_DAYS ago; the summary keeps its counts and says when the files went.
    Returns the ids of the jobs concerned."""
    cutoff = now - timedelta(days=settings.IMPORT_REPORT_RETENTION_DAYS)
    done = []
    ended = ImportJob.objects.filter(
        finished_at__lt=cutoff, status__in=(ImportJob.Status.DONE, ImportJob.Status.FAILED)
    ).exclude(summary__has_key="files_deleted_on")
    for job in ended.iterator():
        summary = dict(job.summary or {})
        paths = [job.rejected_path, summary.get("rejected_file"), summary.get("warnings_file")]
        for path in {p for p in paths if p}:
            Path(path).unlink(missing_ok=True)
        summary.update(
            rejected_file=None, warnings_file=None, files_deleted_on=now.date().isoformat()
        )
        ImportJob.objects.filter(pk=job.pk).update(summary=summary, rejected_path="")
        audit_record(
            actor=System(name="import retention"),
            action=AuditLog.Action.DELETE,
            object_type="imports.importjob",
            object_id=job.pk,
            object_repr=str(job)[:200],
            changes={"files_deleted": "rejected rows, warnings", "reason": "retention"},
        )
        done.append(job.pk)
    return done


def _retention_audit(job: ImportJob, *, reason: str) -> None:
    audit_record(
        actor=System(name="import retention"),
        action=AuditLog.Action.DELETE,
        object_type="imports.importjob",
        object_id=job.pk,
        object_repr=str(job)[:200],
        changes={"upload_deleted": job.original_name, "reason": reason},
    )


def upload_deleted_on(job: ImportJob) -> datetime | None:
    """When the retention job will delete this job's uploaded file (None: it will not)."""
    if not upload_kept(job):
        return None
    days = timedelta(days=settings.IMPORT_UPLOAD_RETENTION_DAYS)
    if job.status == ImportJob.Status.FAILED and job.finished_at:
        return job.finished_at + days
    if job.started_at is None:
        return job.created_at + days
    return None


def _nothing_saved() -> Text:
    return Text(
        gettext_noop(
            "Interrupted before its end (the import's worker stopped). A first import saves "
            "its rows all at once at its end: none was saved. Import the file again."
        )
    )


def _rows_before_saved(rows: int) -> Text:
    return Text(
        gettext_noop(
            "Interrupted after %(count)s row (the import's worker stopped): the rows before "
            "are saved; import the file again to complete it: rows already imported are "
            "recognised and updated or skipped."
        ),
        plural=gettext_noop(
            "Interrupted after %(count)s rows (the import's worker stopped): the rows before "
            "are saved; import the file again to complete it: rows already imported are "
            "recognised and updated or skipped."
        ),
        count=rows,
    )
