"""The base dynamics page and the acquisition costs it divides by new customers. The overview
(web.views.home) reads the same selectors (fidele.analytics.dashboard)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from fidele.analytics.dashboard import Period, cohort_heatmap, data_notes, dynamics_charts
from fidele.analytics.dashboard_forms import AcquisitionCostForm
from fidele.analytics.dynamics import (
    ACTIVE_MONTHS,
    LOST_MONTHS,
    acquisition_cost_delete,
    acquisition_cost_save,
    cac_figures,
    cohort_table,
)
from fidele.analytics.models import AcquisitionCost
from fidele.core.permissions import MARKETER, VIEWER, require_role

# The months shown, offered in one click.
MONTH_CHOICES = (12, 24, 36)


@require_safe
@require_role(VIEWER)
def dynamics(request: HttpRequest) -> HttpResponse:
    try:
        months = int(request.GET.get("months", 24))
    except ValueError:
        months = 24
    if months not in MONTH_CHOICES:
        months = 24
    today = timezone.localdate()
    data = dynamics_charts(last=today, months=months)
    table = cohort_table(last=12, offsets=12)
    period: Period = data["period"]
    context = {
        **data,
        "months": months,
        "month_choices": MONTH_CHOICES,
        "cohorts": table,
        "cohort_chart": cohort_heatmap(table=table),
        "cac": cac_figures(start=period.first, end=period.last),
        "active_months": ACTIVE_MONTHS,
        "lost_months": LOST_MONTHS,
        "notes": data_notes(period=period),
        "currency": settings.DEFAULT_CURRENCY,
    }
    return render(request, "analytics/dynamics.html", context)


@require_http_methods(["GET", "POST"])
@require_role(MARKETER)
def acquisition_costs(request: HttpRequest) -> HttpResponse:
    form = AcquisitionCostForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        acquisition_cost_save(
            actor=request.user,
            month=form.cleaned_data["month"],
            amount=form.cleaned_data["amount"],
            channel=form.cleaned_data["channel"].strip(),
            note=form.cleaned_data["note"].strip(),
        )
        messages.success(request, _("The acquisition cost is saved."))
        return redirect("analytics:acquisition_costs")
    costs = list(AcquisitionCost.objects.order_by("-month", "channel")[:120])
    return render(request, "analytics/dynamics_costs.html", {"form": form, "costs": costs})


@require_POST
@require_role(MARKETER)
def acquisition_cost_remove(request: HttpRequest, pk: int) -> HttpResponse:
    acquisition_cost_delete(actor=request.user, cost=get_object_or_404(AcquisitionCost, pk=pk))
    messages.success(request, _("The acquisition cost is deleted."))
    return redirect("analytics:acquisition_costs")
