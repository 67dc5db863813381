"""Contact downloads. Same filters as the contacts list (its query string), marketer or owner only:
an export carries personal data out of the application, which is more than reading it on screen,
so a viewer (read-only role) may look at contacts but not take them away."""

from __future__ import annotations

from django.http import FileResponse, HttpRequest, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from fidele.contacts.selectors import contacts_filtered
from fidele.core.permissions import MARKETER, require_role
from fidele.imports import exports

FILTER_KEYS = ("q", "tag", "list", "status", "place", "has_email", "sort")


def _filters(request: HttpRequest) -> dict[str, str]:
    return {key: request.GET[key] for key in FILTER_KEYS if request.GET.get(key)}


def _filename(extension: str) -> str:
    return f"contacts-{timezone.localdate().isoformat()}.{extension}"


def _private(response):
    response["Cache-Control"] = "no-store"
    return response


@require_role(MARKETER)
@require_GET
def contacts_csv(request: HttpRequest) -> StreamingHttpResponse:
    stream = exports.contacts_export_csv_stream(
        queryset=contacts_filtered(params=request.GET),
        actor=request.user,
        filters=_filters(request),
        ip_address=request.META.get("REMOTE_ADDR"),
    )
    response = StreamingHttpResponse(stream, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename("csv")}"'
    return _private(response)


@require_role(MARKETER)
@require_GET
def contacts_xlsx(request: HttpRequest) -> FileResponse:
    handle = exports.contacts_export_xlsx_file(
        queryset=contacts_filtered(params=request.GET),
        actor=request.user,
        filters=_filters(request),
        ip_address=request.META.get("REMOTE_ADDR"),
    )
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=_filename("xlsx"),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    return _private(response)
