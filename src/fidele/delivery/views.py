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

PAGE_SIZE = 50


def _parsed(captured: CapturedMessage) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(bytes(captured.raw))


@require_safe
@require_role(VIEWER)
def outbox_list(request: HttpRequest) -> HttpResponse:
    # Keyset pagination on the id: the outbox can hold a whole campaign's messages.
    queryset = CapturedMessage.objects.select_related("campaign").order_by("-id")
    q = (request.GET.get("q") or "").strip()[:200]
    if q:
        queryset = queryset.filter(Q(subject__icontains=q) | Q(recipients__icontains=q))
    campaign_id = request.GET.get("campaign", "")
    if campaign_id.isdigit():
        queryset = queryset.filter(campaign_id=int(campaign_id))
    before = request.GET.get("before", "")
    if before.isdigit():
        queryset = queryset.filter(id__lt=int(before))
    page = list(queryset.defer("raw")[: PAGE_SIZE + 1])
    has_more = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE]
    context: dict[str, Any] = {
        "messages_page": page,
        "q": q,
        "campaign_id": campaign_id if campaign_id.isdigit() else "",
        "next_before": page[-1].id if has_more and page else None,
        "is_first_page": not before,
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
