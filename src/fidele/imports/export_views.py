"""Contact downloads. Same filters as the contacts list (its query string), marketer or owner only:
an export carries personal data out of the application, which is more than reading it on screen,
so a viewer (read-only role) may look at contacts but not take them away.

The contacts list links to the export page, where the user picks a format (Excel (France) for a
French user by default); the page's form downloads from `contacts_download`."""

from __future__ import annotations

from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from fidele.contacts.selectors import contact_filters_active, contacts_filtered
from fidele.core.http import client_ip
from fidele.core.permissions import MARKETER, require_role
from fidele.imports import exports
from fidele.imports.forms import ExportForm, export_choice_default
from fidele.ui.pagination import bounded_count

FILTER_KEYS = ("q", "tag", "list", "status", "place", "has_email", "sort")


def _filters(request: HttpRequest) -> dict[str, str]:
    """The list's filters, its own and those apps above contacts hand down (?quality=...),
    carried from the page to the export it posts."""
    filters = {key: request.GET[key] for key in FILTER_KEYS if request.GET.get(key)}
    filters.update((param, value) for param, value, _text in contact_filters_active(request.GET))
    return filters


def _filename(extension: str) -> str:
    return f"contacts-{timezone.localdate().isoformat()}.{extension}"


def _private(response):
    response["Cache-Control"] = "no-store"
    return response


@require_role(MARKETER)
@require_GET
def contacts_export_page(request: HttpRequest) -> HttpResponse:
    filters = _filters(request)
    count, capped = bounded_count(contacts_filtered(params=request.GET))
    context = {
        "form": ExportForm(initial={"format": export_choice_default()}),
        "filters": filters,
        "filters_active": any(key != "sort" for key in filters),
        "count": count,
        "capped": capped,
    }
    return render(request, "imports/export.html", context)


@require_role(MARKETER)
@require_GET
def contacts_download(request: HttpRequest, choice: str | None = None) -> HttpResponse:
    form = ExportForm({"format": choice or request.GET.get("format") or export_choice_default()})
    if not form.is_valid():
        return HttpResponseBadRequest(_("Unknown export format."))
    picked = form.choice()
    arguments = {
        "queryset": contacts_filtered(params=request.GET),
        "dialect": picked.dialect,
        "actor": request.user,
        "filters": _filters(request),
        "ip_address": client_ip(request),
    }
    if picked.fmt == "csv":
        response = StreamingHttpResponse(
            exports.contacts_export_csv_stream(**arguments),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="{_filename("csv")}"'
        return _private(response)
    response = FileResponse(
        exports.contacts_export_xlsx_file(**arguments),
        as_attachment=True,
        filename=_filename("xlsx"),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    return _private(response)
