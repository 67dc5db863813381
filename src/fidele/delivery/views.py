"""The Outbox: messages kept by the capture transport, readable in the app (demo and tests); and
the bounce reports (what mail servers and providers told us about our messages), which
marketers read under /compliance/bounces/ (the pages were compliance's until they moved next to
their model)."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_safe

from fidele.compliance.models import Suppression
from fidele.core.permissions import MARKETER, VIEWER, require_role
from fidele.delivery import selectors
from fidele.delivery.models import BounceReport, CapturedMessage
from fidele.ui.pagination import listing_page


def _parsed(captured: CapturedMessage) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(bytes(captured.raw))


@require_safe
@require_role(VIEWER)
def outbox_list(request: HttpRequest) -> HttpResponse:
    params = request.GET
    queryset = CapturedMessage.objects.all()
    q = (params.get("q") or "").strip()[:200]
    if q:
        queryset = queryset.filter(Q(subject__icontains=q) | Q(recipients__icontains=q))
    campaign_id = params.get("campaign", "")
    campaign = None
    if campaign_id.isdigit():
        queryset = queryset.filter(campaign_id=int(campaign_id))
        # The campaign's name through the outbox's relation to it (delivery does not import the
        # campaigns app that sits above it); shown also when it has no captured message.
        campaigns = CapturedMessage._meta.get_field("campaign").related_model._default_manager
        campaign = campaigns.filter(pk=int(campaign_id)).values("pk", "name").first()
    # Paged on the id alone: the outbox can hold a whole campaign's messages, and the id order
    # is the order they were captured in.
    listing = listing_page(
        queryset,
        params,
        fields=["id"],
        page_queryset=queryset.select_related("campaign").defer("raw"),
    )
    context: dict[str, Any] = {
        **listing,
        "q": q,
        "campaign_id": campaign_id if campaign_id.isdigit() else "",
        "campaign": campaign,
        "filters_active": bool(q or campaign_id.isdigit()),
    }
    return render(request, "delivery/outbox_list.html", context)


def _parts(message: EmailMessage) -> tuple[str, str]:
    html_part = message.get_body(preferencelist=("html",))
    text_part = message.get_body(preferencelist=("plain",))
    html = html_part.get_content() if html_part is not None else ""
    text = text_part.get_content() if text_part is not None else ""
    return html, text


@require_safe
@require_role(VIEWER)
def outbox_detail(request: HttpRequest, pk: int) -> HttpResponse:
    captured = get_object_or_404(CapturedMessage.objects.select_related("campaign"), pk=pk)
    message = _parsed(captured)
    html, text = _parts(message)
    headers = [(name, str(value)) for name, value in message.items()]
    return render(
        request,
        "delivery/outbox_detail.html",
        {"captured": captured, "headers": headers, "html": html, "text": text},
    )


@require_safe
@require_role(VIEWER)
def outbox_raw(request: HttpRequest, pk: int) -> HttpResponse:
    captured = get_object_or_404(CapturedMessage, pk=pk)
    response = HttpResponse(bytes(captured.raw), content_type="message/rfc822")
    response["Content-Disposition"] = f'attachment; filename="message-{captured.pk}.eml"'
    return response


# Labels of the report's kind and source, as shown on these pages.
KIND_LABELS = {
    BounceReport.Kind.HARD: gettext_lazy("Hard bounce"),
    BounceReport.Kind.SOFT: gettext_lazy("Soft bounce"),
    BounceReport.Kind.COMPLAINT: gettext_lazy("Spam complaint"),
    BounceReport.Kind.AUTO_REPLY: gettext_lazy("Automatic reply"),
    BounceReport.Kind.UNKNOWN: gettext_lazy("Not understood"),
}
SOURCE_LABELS = {
    BounceReport.Source.MAILBOX: gettext_lazy("Bounce mailbox"),
    BounceReport.Source.WEBHOOK: gettext_lazy("Email provider"),
    BounceReport.Source.SMTP: gettext_lazy("SMTP reply"),
}


def _label(report: BounceReport) -> BounceReport:
    report.kind_label = KIND_LABELS.get(report.kind, report.kind)  # type: ignore[attr-defined]
    report.source_label = SOURCE_LABELS.get(report.source, report.source)  # type: ignore[attr-defined]
    return report


@require_safe
@require_role(MARKETER)
def bounce_list(request: HttpRequest) -> HttpResponse:
    params = request.GET
    queryset = selectors.bounce_reports_filtered(params=params)
    listing = listing_page(queryset, params, fields=["received_at", "id"])
    for report in listing["page"].rows:
        _label(report)
    return render(
        request,
        "delivery/bounces.html",
        {
            **listing,
            "kinds": list(KIND_LABELS.items()),
            "filters_active": bool(params.get("q") or params.get("kind")),
        },
    )


@require_safe
@require_role(MARKETER)
def bounce_detail(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(BounceReport.objects.select_related("outbox__campaign"), pk=pk)
    suppression = Suppression.objects.filter(email=report.email).first() if report.email else None
    return render(
        request,
        "delivery/bounce_detail.html",
        {"report": _label(report), "suppression": suppression},
    )
