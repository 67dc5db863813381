"""Imports: the life of an ImportJob, from the uploaded file to its summary.

upload / from_path -> detect (encoding, delimiter, header, proposed mapping) -> configure (the
mapping and options the user chose) -> start (enqueue the task) -> run (read, normalise, write,
summarise, audit: fidele.imports.runner, which the task calls). The CLI goes through the same
steps without the queue.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils import translation
from django.utils.translation import gettext as _

from fidele.core.actors import Actor
from fidele.core.audit import audit_record
from fidele.core.models import AuditLog
from fidele.imports import mapping as mapping_mod
from fidele.imports.models import ImportJob
from fidele.imports.reader import ImportFileError, read_preview, sniff
from fidele.imports.runner import importjob_run, upload_forget, upload_kept, uploads_dir
from fidele.imports.tasks import run_import

logger = logging.getLogger(__name__)

ALLOWED_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx"}


def _header_chooser(kind: str) -> Callable[[list[list[str]]], int]:
    """Exports often start with a title ("Export clients du 12/03/2024") and a blank line: the
    header is the first of the opening rows with the most recognised column names."""

    def choose(candidates: list[list[str]]) -> int:
        scores = [
            sum(1 for cell in cells if mapping_mod.guess_field(kind, cell)) for cells in candidates
        ]
        best = max(range(len(scores)), key=lambda i: (scores[i], -i))
        return best if scores[best] > scores[0] else 0

    return choose


def _detect(job: ImportJob) -> ImportJob:
    """Fill `detected` and a proposed `mapping`; raises ImportFileError for unreadable files."""
    path = Path(job.stored_path)
    shape = sniff(path, name=job.original_name)
    header, _rows = read_preview(
        path, shape=shape, name=job.original_name, count=1, choose_header=_header_chooser(job.kind)
    )
    if not any(header):
        raise ImportFileError(_("%(file)s has no header row.") % {"file": job.original_name})
    detected = shape.as_dict()
    detected["header"] = header
    job.detected = detected
    job.mapping = {"targets": mapping_mod.propose_mapping(job.kind, header)}
    job.rows_total = (
        max((shape.rows_estimate or 1) - shape.header_row, 0) if shape.rows_estimate else None
    )
    return job


def importjob_upload(*, kind: str, uploaded_file: UploadedFile, actor: Actor) -> ImportJob:
    """Store an uploaded file under a generated name and detect its shape.

    The user's file name is kept for display only; the path on disk is ours, so a name like
    "../../settings.py" can do nothing.
    """
    if kind not in ImportJob.Kind.values:
        raise ImportFileError(_("Unknown import kind."))
    if uploaded_file.size and uploaded_file.size > settings.IMPORT_MAX_UPLOAD_BYTES:
        raise ImportFileError(
            _("The file is larger than %(size)s MB.")
            % {"size": settings.IMPORT_MAX_UPLOAD_BYTES // (1024 * 1024)}
        )
    original = os.path.basename(uploaded_file.name or "file")[:255]
    suffix = Path(original).suffix.lower()
    target = uploads_dir() / f"{uuid.uuid4().hex}{suffix if suffix in ALLOWED_SUFFIXES else ''}"
    size = 0
    with target.open("wb") as handle:
        for chunk in uploaded_file.chunks():
            size += len(chunk)
            if size > settings.IMPORT_MAX_UPLOAD_BYTES:
                handle.close()
                target.unlink(missing_ok=True)
                raise ImportFileError(
                    _("The file is larger than %(size)s MB.")
                    % {"size": settings.IMPORT_MAX_UPLOAD_BYTES // (1024 * 1024)}
                )
            handle.write(chunk)
    job = ImportJob(
        kind=kind,
        original_name=original,
        stored_path=str(target),
        size_bytes=size,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    try:
        _detect(job)
    except ImportFileError:
        target.unlink(missing_ok=True)
        raise
    job.save()
    return job


def importjob_from_path(*, kind: str, path: Path, actor: Actor = None) -> ImportJob:
    """A job for a file already on disk (the CLI): read in place, not copied."""
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(_("%(file)s does not exist.") % {"file": str(path)})
    job = ImportJob(
        kind=kind,
        original_name=path.name[:255],
        stored_path=str(path.resolve()),
        size_bytes=path.stat().st_size,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    _detect(job)
    job.save()
    return job


def importjob_configure(
    *,
    job: ImportJob,
    targets: list[str] | None = None,
    overrides: dict[str, str] | None = None,
    list_name: str = "",
    update: bool = False,
    consent_confirmed: bool = False,
    language: str = "",
) -> ImportJob:
    """Record the mapping and options chosen. Raises ValueError with a message on bad input.

    `language` is the one the summary's reasons and warnings are written in (the task runs
    without the user's request)."""
    header = job.detected.get("header", [])
    current = job.mapping.get("targets") or mapping_mod.propose_mapping(job.kind, header)
    if targets is not None:
        current = mapping_mod.validate_mapping(job.kind, header, targets)
    if overrides:
        current = mapping_mod.apply_overrides(job.kind, header, current, overrides)
    job.mapping = {"targets": current}
    job.options = {
        "list": (list_name or "").strip()[:120] if job.kind == ImportJob.Kind.CONTACTS else "",
        "update": bool(update),
        "consent_confirmed": bool(consent_confirmed),
        "language": language or translation.get_language() or settings.LANGUAGE_CODE,
    }
    job.save(update_fields=["mapping", "options"])
    return job


def importjob_start(*, job: ImportJob) -> ImportJob:
    """Queue the import. The task only takes the job's id."""
    if job.status != ImportJob.Status.UPLOADED:
        return job
    job.status = ImportJob.Status.QUEUED
    job.save(update_fields=["status"])
    run_import.enqueue(job.pk)
    job.refresh_from_db()
    return job


def import_file(
    *,
    kind: str,
    path: Path,
    actor: Actor = None,
    overrides: dict[str, str] | None = None,
    list_name: str = "",
    update: bool = False,
    consent_confirmed: bool = False,
    progress: Callable[[int], None] | None = None,
    on_job: Callable[[ImportJob], None] | None = None,
) -> dict[str, Any]:
    """Import a file on disk in this process (the CLI, the benchmark). Raises ImportFileError
    for a file that cannot be opened and ValueError for a bad mapping; problems found while
    importing are in the summary's `error`."""
    job = importjob_from_path(kind=kind, path=path, actor=actor)
    importjob_configure(
        job=job,
        overrides=overrides,
        list_name=list_name,
        update=update,
        consent_confirmed=consent_confirmed,
    )
    if on_job:
        on_job(job)
    return importjob_run(job_id=job.pk, progress=progress)


def importjob_retry(*, job: ImportJob, actor: Actor) -> ImportJob:
    """Queue a failed import again with the same file, mapping and options. Rows it already
    imported are recognised (same email, external id or order id) and updated or skipped."""
    if job.status != ImportJob.Status.FAILED or not upload_kept(job):
        return job
    if not ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.FAILED).update(
        status=ImportJob.Status.QUEUED, error="", finished_at=None, rows_done=0
    ):
        return job
    audit_record(
        actor=actor,
        action=AuditLog.Action.OTHER,
        object_type="imports.importjob",
        object_id=job.pk,
        object_repr=str(job)[:200],
        changes={"retried": job.original_name, "previous_error": job.error[:500]},
    )
    run_import.enqueue(job.pk)
    job.refresh_from_db()
    return job


def importjob_discard(*, job: ImportJob, actor: Actor) -> None:
    """Drop an uploaded file that the user decided not to import (the job goes too), or the
    file a failed import kept for a retry (the job stays, as the record of what happened)."""
    if job.status not in (ImportJob.Status.UPLOADED, ImportJob.Status.FAILED):
        return
    upload_forget(job)
    audit_record(
        actor=actor,
        action=AuditLog.Action.DELETE,
        object_type="imports.importjob",
        object_id=job.pk,
        object_repr=str(job)[:200],
        changes={"discarded": job.original_name},
    )
    if job.status == ImportJob.Status.UPLOADED:
        job.delete()
    else:
        job.save(update_fields=["upload_deleted_at"])
