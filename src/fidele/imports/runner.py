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
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from fidele.core.actors import Actor, System
from fidele.core.audit import audit_record
from fidele.core.models import AuditLog
from fidele.imports import mapping as mapping_mod
from fidele.imports.contacts_engine import ContactImport
from fidele.imports.models import ImportJob
from fidele.imports.orders_engine import OrderImport
from fidele.imports.pipeline import Counters, ImportOptions, RejectWriter
from fidele.imports.reader import FileShape, ImportFileError, open_table

logger = logging.getLogger(__name__)


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
    job.status = ImportJob.Status.RUNNING
    job.started_at = timezone.now()
    job.rows_done = 0
    job.save(update_fields=["status", "started_at", "rows_done"])
    actor = job.created_by
    options = job.options or {}
    last_saved = [0.0]

    def report(rows: int) -> None:
        now = time.perf_counter()
        if now - last_saved[0] >= 0.5:
            last_saved[0] = now
            ImportJob.objects.filter(pk=job.pk).update(rows_done=rows)
        if progress:
            progress(rows)

    counters = Counters()
    rejects: RejectWriter | None = None
    error: str | None = None
    engine: ContactImport | OrderImport | None = None
    try:
        shape = FileShape.from_dict(job.detected)
        table = open_table(Path(job.stored_path), shape=shape, name=job.original_name)
        header = table.header
        if header != job.detected.get("header"):
            raise ImportFileError(
                _("%(file)s changed since it was checked: upload it again.")
                % {"file": job.original_name}
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
        )
        rejects = RejectWriter(header, prefix=f"import-{job.pk}")
        engine_class = OrderImport if job.kind == ImportJob.Kind.ORDERS else ContactImport
        engine = engine_class(options=run_options, header=header, rejects=rejects)
        counters = engine.run(table.rows)
    except ImportFileError as exc:
        error = str(exc)
        if engine is not None:
            counters = engine.counters
    except Exception:
        logger.exception("import %s failed", job.pk)
        if engine is not None:
            counters = engine.counters
        error = _("The import stopped on an unexpected error; the rows saved before it are kept.")
    finally:
        if rejects is not None:
            rejects.close()

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
        "invalid_phones": counters.invalid_phones,
        "import_id": job.pk,
        "kind": job.kind,
        "file": job.original_name,
        "format": job.detected.get("format"),
        "encoding": job.detected.get("encoding"),
        "delimiter": job.detected.get("delimiter"),
        "error": error,
        "warning_groups": counters.grouped_warnings(),
        "warnings_sample": counters.warnings_sample,
    }
    if job.kind == ImportJob.Kind.CONTACTS:
        summary["list"] = options.get("list") or None
        summary["subscribed"] = counters.subscribed
    else:
        summary["lines"] = counters.lines
        summary["products_created"] = counters.products_created
    job.summary = summary
    job.rows_done = counters.rows
    job.rejected_path = rejected_file or ""
    job.error = error or ""
    job.status = ImportJob.Status.FAILED if error else ImportJob.Status.DONE
    job.finished_at = timezone.now()
    job.save()
    _forget_upload(job)
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
            k: v for k, v in summary.items() if k not in ("warnings_sample", "warning_groups")
        },
    )
    return summary


def _forget_upload(job: ImportJob) -> None:
    """An uploaded file holds personal data: once imported, only the rejected rows are kept
    (the user downloads them). Files given on the command line are the user's, left alone."""
    path = Path(job.stored_path)
    if uploads_dir().resolve() in path.resolve().parents:
        path.unlink(missing_ok=True)


def run_actor_label(options: dict[str, Any]) -> str:
    return options.get("actor_name") or _actor_name(None)
