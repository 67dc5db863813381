"""The Outbox: messages kept by the capture transport, readable in the app (demo and tests)."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from fidele.core.permissions import VIEWER, require_role
from fidele.delivery.models import CapturedMessage
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
