"""The Customer value page (lifetime value and churn) and its refresh button."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from fidele.analytics.clv_selectors import customer_value_page, holdout_sentence
from fidele.analytics.clv_tasks import clv_refresh_pending, clv_refresh_queue
from fidele.core.permissions import MARKETER, VIEWER, require_role


@require_safe
@require_role(VIEWER)
def customer_value(request: HttpRequest) -> HttpResponse:
    context = customer_value_page()
    fit = context["fit"]
    context["holdout_text"] = holdout_sentence(fit) if fit else ""
    context["pending"] = clv_refresh_pending()
    return render(request, "analytics/customer_value.html", context)


@require_POST
@require_role(MARKETER)
def customer_value_refresh(request: HttpRequest) -> HttpResponse:
    if clv_refresh_queue():
        messages.success(
            request, _("The figures are being computed again; reload this page in a minute.")
        )
    else:
        messages.info(request, _("A computation is already waiting."))
    return redirect("analytics:customer_value")
