"""The customer insight pages: the RFM grid, the personas, and customers and revenue by product
category and profile. They read what the refresh stored; the refresh itself runs as a task."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from fidele.core.permissions import MARKETER, VIEWER, require_role
from fidele.segments.insight_selectors import personas_list, rfm_grid
from fidele.segments.profile import (
    DEFAULT_PERIOD,
    DEFAULT_PROFILE,
    PERIODS,
    PROFILES,
    category_profile_table,
)
from fidele.segments.tasks import insights_refresh_queue, task_is_waiting


def _refresh_waiting() -> bool:
    from fidele.segments.tasks import insights_refresh

    return task_is_waiting(insights_refresh)


@require_safe
@require_role(VIEWER)
def rfm_page(request: HttpRequest) -> HttpResponse:
    grid = rfm_grid()
    return render(
        request,
        "segments/rfm.html",
        {"grid": grid, "tab": "rfm", "refreshing": _refresh_waiting()},
    )


@require_safe
@require_role(VIEWER)
def personas_page(request: HttpRequest) -> HttpResponse:
    personas = personas_list()
    grid = rfm_grid()
    return render(
        request,
        "segments/personas.html",
        {
            "personas": personas,
            "grid": grid,
            "tab": "personas",
            "refreshing": _refresh_waiting(),
            "silhouette": personas[0].persona.figures.get("silhouette") if personas else None,
        },
    )


@require_safe
@require_role(VIEWER)
def profile_page(request: HttpRequest) -> HttpResponse:
    profile = request.GET.get("by", DEFAULT_PROFILE)
    profile = profile if profile in PROFILES else DEFAULT_PROFILE
    months_param = request.GET.get("months", "")
    months = int(months_param) if months_param.isdigit() else DEFAULT_PERIOD
    months = months if months in PERIODS else DEFAULT_PERIOD
    table = category_profile_table(profile=profile, months=months)
    return render(
        request,
        "segments/profile.html",
        {
            "table": table,
            "profiles": [(key, str(label)) for key, label in PROFILES.items()],
            "periods": PERIODS,
            "profile_label": PROFILES[profile],
            "tab": "profile",
        },
    )


@require_POST
@require_role(MARKETER)
def refresh(request: HttpRequest) -> HttpResponse:
    if insights_refresh_queue():
        messages.success(
            request,
            _("The scores and personas are being computed again; reload the page in a minute."),
        )
    else:
        messages.info(request, _("A computation is already waiting to run."))
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = ""
    return redirect(back or "insights:rfm")
