from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST, require_safe

from fidele.compliance import selectors, services
from fidele.compliance.forms import SuppressionAddForm
from fidele.compliance.models import Suppression
from fidele.contacts.normalize import normalise_email
from fidele.core.permissions import MARKETER, OWNER, VIEWER, require_role
from fidele.ui.pagination import listing_page

REASON_HELP = {
    Suppression.Reason.HARD_BOUNCE: gettext_lazy(
        "The mail server said this address does not exist."
    ),
    Suppression.Reason.SOFT_BOUNCES: gettext_lazy(
        "Temporary failures kept repeating (mailbox full, server down)."
    ),
    Suppression.Reason.COMPLAINT: gettext_lazy("The person marked one of your emails as spam."),
    Suppression.Reason.UNSUBSCRIBED_ALL: gettext_lazy(
        "The person asked to receive no email at all."
    ),
    Suppression.Reason.ERASED: gettext_lazy("The person's data was erased on request (GDPR)."),
    Suppression.Reason.MANUAL: gettext_lazy("Someone on your team blocked the address."),
    Suppression.Reason.DISPOSABLE: gettext_lazy(
        "A throwaway inbox nobody reads, suppressed from the data-quality plan (the correction "
        "can be undone there)."
    ),
}


@require_safe
@require_role(VIEWER)
def suppression_list(request: HttpRequest) -> HttpResponse:
    params = request.GET
    queryset = selectors.suppressions_filtered(params=params)
    listing = listing_page(queryset, params, fields=["created_at", "id"])
    counts = selectors.suppression_counts()
    reasons = [
        {"value": value, "label": label, "count": counts.get(value, 0), "help": REASON_HELP[value]}
        for value, label in Suppression.Reason.choices
    ]
    return render(
        request,
        "compliance/suppressions.html",
        {
            **listing,
            "reasons": reasons,
            "filters_active": bool(params.get("q") or params.get("reason")),
            "form": SuppressionAddForm(),
        },
    )


@require_role(MARKETER)
@require_POST
def suppression_add(request: HttpRequest) -> HttpResponse:
    form = SuppressionAddForm(request.POST)
    if form.is_valid():
        email = form.cleaned_data["email"]
        # Looked up under the stored spelling, which only the shared normalisation knows.
        existing = Suppression.objects.filter(email=normalise_email(email)[0] or "").first()
        try:
            suppression = services.suppression_add(
                email=email,
                reason=Suppression.Reason.MANUAL,
                details={"source": "manual", "note": form.cleaned_data["note"]},
                actor=request.user,
            )
        except services.InvalidValue as exc:
            messages.error(request, str(exc))
        else:
            if existing is not None:
                messages.info(
                    request,
                    _("%(email)s was already on the suppression list (%(reason)s).")
                    % {"email": suppression.email, "reason": suppression.get_reason_display()},
                )
            else:
                messages.success(
                    request,
                    _("%(email)s will not receive any more emails.") % {"email": suppression.email},
                )
    else:
        messages.error(request, _("Enter a valid email address, e.g. marie.dupont@example.fr."))
    return redirect("compliance:suppressions")


@require_role(OWNER)
def suppression_remove(request: HttpRequest, pk: int) -> HttpResponse:
    suppression = get_object_or_404(Suppression, pk=pk)
    if request.method == "POST":
        services.suppression_remove(suppression=suppression, actor=request.user)
        messages.success(
            request,
            _("%(email)s is no longer blocked. Lists it was unsubscribed from stay unsubscribed.")
            % {"email": suppression.email},
        )
        return redirect("compliance:suppressions")
    return render(
        request,
        "compliance/suppression_remove.html",
        {"suppression": suppression, "help": REASON_HELP.get(suppression.reason, "")},
    )
