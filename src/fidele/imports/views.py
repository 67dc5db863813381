"""Import pages: list and upload, preview and mapping, progress, summary, rejected rows and
warnings files."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fidele.core.permissions import MARKETER, VIEWER, require_role
from fidele.imports import selectors, services
from fidele.imports.forms import MappingForm, UploadForm
from fidele.imports.models import ImportJob
from fidele.imports.pipeline import warnings_shown
from fidele.imports.reader import DELIMITER_NAMES, FileShape, ImportFileError, read_preview
from fidele.imports.runner import error_shown, upload_deleted_on, upload_kept

RUNNING = (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)
# Warnings listed one by one on the summary; all of them are in the warnings file.
WARNINGS_SHOWN = 100


@require_role(VIEWER)
@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "imports/list.html",
        {"jobs": selectors.importjobs_recent(), "form": UploadForm()},
    )


@require_role(MARKETER)
@require_POST
def upload(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            job = services.importjob_upload(
                kind=form.cleaned_data["kind"],
                uploaded_file=form.cleaned_data["file"],
                actor=request.user,
            )
        except ImportFileError as exc:
            form.add_error("file", str(exc))
        else:
            return redirect("imports:preview", pk=job.pk)
    return render(
        request,
        "imports/list.html",
        {"jobs": selectors.importjobs_recent(), "form": form},
        status=400,
    )


def _preview_rows(job: ImportJob) -> tuple[list[tuple[int, list[str]]], str]:
    try:
        _header, rows = read_preview(
            Path(job.stored_path), shape=FileShape.from_dict(job.detected), name=job.original_name
        )
    except ImportFileError as exc:
        return [], str(exc)
    width = len(job.detected.get("header", []))
    return [(n, (cells + [""] * width)[:width]) for n, cells in rows], ""


@require_role(VIEWER)
@require_http_methods(["GET", "POST"])
def preview(request: HttpRequest, pk: int) -> HttpResponse:
    # Viewers may look at the preview; starting the import is a marketer's write.
    if request.method == "POST" and not request.user.can_edit:
        raise PermissionDenied
    job = get_object_or_404(ImportJob, pk=pk)
    if job.status != ImportJob.Status.UPLOADED:
        return redirect("imports:detail", pk=job.pk)
    if request.method == "POST":
        form = MappingForm(request.POST, job=job)
        if form.is_valid():
            try:
                services.importjob_configure(
                    job=job,
                    targets=form.targets(),
                    list_name=form.cleaned_data.get("list_name", ""),
                    update=form.cleaned_data.get("update", False),
                    consent_confirmed=form.cleaned_data.get("consent_confirmed", False),
                    language=request.LANGUAGE_CODE,
                )
            except ValueError as exc:
                form.add_error(None, str(exc))
            else:
                services.importjob_start(job=job)
                return redirect("imports:detail", pk=job.pk)
    else:
        form = MappingForm(job=job)
    rows, preview_error = _preview_rows(job)
    detected = job.detected
    return render(
        request,
        "imports/preview.html",
        {
            "job": job,
            "form": form,
            "rows": rows,
            "preview_error": preview_error,
            "delimiter_name": {
                "comma": _("comma ( , )"),
                "semicolon": _("semicolon ( ; )"),
                "tab": _("tab"),
                "pipe": _("vertical bar ( | )"),
            }.get(DELIMITER_NAMES.get(detected.get("delimiter", ""), ""), ""),
            "list_names": selectors.mailing_list_names(),
            "upload_deleted_on": upload_deleted_on(job),
        },
        status=400 if request.method == "POST" else 200,
    )


def _job_context(job: ImportJob) -> dict:
    summary = job.summary or {}
    return {
        "job": job,
        "summary": summary,
        "running": job.status in RUNNING,
        "error": error_shown(job),
        "upload_kept": job.status == ImportJob.Status.FAILED and upload_kept(job),
        "upload_deleted_on": upload_deleted_on(job),
        "retention_days": settings.IMPORT_UPLOAD_RETENTION_DAYS,
        **warnings_shown(summary, sample=WARNINGS_SHOWN),
    }


@require_role(VIEWER)
@require_GET
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob.objects.select_related("created_by"), pk=pk)
    if job.status == ImportJob.Status.UPLOADED:
        return redirect("imports:preview", pk=job.pk)
    return render(request, "imports/detail.html", _job_context(job))


@require_role(VIEWER)
@require_GET
def progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The htmx-polled fragment; it stops asking once the job is finished."""
    job = get_object_or_404(ImportJob.objects.select_related("created_by"), pk=pk)
    return render(request, "imports/_status.html", _job_context(job))


def _import_file(job: ImportJob, stored: str | None, suffix: str) -> FileResponse:
    """A file the import wrote (rejected rows, warnings): personal data, so marketers only
    (the decorators of the views below), never cached, and only ever a file under the imports
    directory whatever the job says."""
    if not stored:
        raise Http404
    path = Path(stored).resolve()
    if Path(settings.IMPORTS_DIR).resolve() not in path.parents or not path.is_file():
        raise Http404
    stem = Path(job.original_name).stem or "import"
    response = FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"{stem}-{suffix}.csv",
        content_type="text/csv",
    )
    response["Cache-Control"] = "private, no-store"
    return response


@require_role(MARKETER)
@require_GET
def rejected(request: HttpRequest, pk: int) -> FileResponse:
    job = get_object_or_404(ImportJob, pk=pk)
    return _import_file(job, job.rejected_path, "rejected")


@require_role(MARKETER)
@require_GET
def warnings(request: HttpRequest, pk: int) -> FileResponse:
    job = get_object_or_404(ImportJob, pk=pk)
    return _import_file(job, (job.summary or {}).get("warnings_file"), "warnings")


@require_role(MARKETER)
@require_POST
def discard(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(
        ImportJob, pk=pk, status__in=(ImportJob.Status.UPLOADED, ImportJob.Status.FAILED)
    )
    if job.status == ImportJob.Status.FAILED:
        services.importjob_discard(job=job, actor=request.user)
        messages.info(request, _("The file was deleted; the rows already imported are kept."))
        return redirect("imports:detail", pk=job.pk)
    services.importjob_discard(job=job, actor=request.user)
    messages.info(request, _("The file was discarded; nothing was imported."))
    return redirect("imports:list")


@require_role(MARKETER)
@require_POST
def retry(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob, pk=pk, status=ImportJob.Status.FAILED)
    if not upload_kept(job):
        messages.error(request, _("The file is no longer kept: upload it again to import it."))
        return redirect("imports:detail", pk=job.pk)
    services.importjob_retry(job=job, actor=request.user)
    return redirect("imports:detail", pk=job.pk)
