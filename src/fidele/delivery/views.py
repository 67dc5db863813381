"""The Outbox: messages kept by the capture transport, readable in the app (demo and tests); and
the bounce reports (what mail servers and providers told us about our messages), which
marketers read under /compliance/bounces/ (the pages were compliance's until they moved next to
their model)."""

from __future__ import annotations

import html as html_lib
import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any
from urllib.parse import unquote

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_safe

from fidele.compliance.models import Suppression
from fidele.core.permissions import MARKETER, VIEWER, require_role
from fidele.delivery import selectors
from fidele.delivery.models import BounceReport, CapturedMessage
from fidele.tracking.tokens import PURPOSES, BadToken, token_read
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


# --- live links out of the page --------------------------------------------------------------
#
# A captured message carries its recipient's live links (tracking/links.py): unsubscribe and
# preference pages, click redirects, the open pixel, and tokens in List-Unsubscribe's mailto and
# the VERP Return-Path. Shown as they are, reading the message in the app would record an open
# and let anyone who may read the Outbox act as the recipient (unsubscribe them, record clicks).
# The page shows them neutralised instead: a click link becomes its destination, the other links
# and the pixel go, and any remaining token (checked against its signature, so that nothing else
# is touched) is replaced. The raw .eml stays as it was sent, for the roles that may export.

_URL_CHARS = r"[^\s\"'<>]"
_CLICK_URL = re.compile(rf"https?://{_URL_CHARS}*?/t/c/[^/\s\"'<>]+/\?u=(?P<target>[^\s\"'<>&]*)")
_OPEN_PIXEL_URL = re.compile(rf"https?://{_URL_CHARS}*?/t/o/[^/\s\"'<>]+\.gif")
_RECIPIENT_PAGE_URL = re.compile(rf"https?://{_URL_CHARS}*?/t/[up]/[^/\s\"'<>]+/?")
_TOKEN_LIKE = re.compile(r"(?P<id>[0-9A-Za-z]+)\.(?P<signature>[A-Za-z0-9_-]{16})(?![A-Za-z0-9_-])")
_TOKEN_PURPOSES = sorted(PURPOSES - {"click"})  # a click token is only valid with its URL


def _token_hidden(match: re.Match[str]) -> str:
    """The match with the token in it replaced, if it holds one. The id may be glued to what
    precedes it (`subject=unsubscribe%20<token>`): each of its endings is tried."""
    encoded_id, signature = match["id"], match["signature"]
    for start in range(max(0, len(encoded_id) - 13), len(encoded_id)):
        candidate = f"{encoded_id[start:]}.{signature}"
        for purpose in _TOKEN_PURPOSES:
            try:
                token_read(purpose=purpose, token=candidate)
            except BadToken:
                continue
            return encoded_id[:start] + "[…]"
    return match.group()


def links_neutralise(content: str, *, html: bool) -> str:
    """`content` (an HTML part, a text part or a header) without a live link or token."""
    inactive = "#" if html else gettext("[link inactive in the Outbox]")

    def destination(match: re.Match[str]) -> str:
        target = unquote(match["target"])
        if not target.startswith(("http://", "https://")):
            return inactive
        return html_lib.escape(target) if html else target

    content = _CLICK_URL.sub(destination, content)
    content = _OPEN_PIXEL_URL.sub("" if html else inactive, content)
    content = _RECIPIENT_PAGE_URL.sub(inactive, content)
    return _TOKEN_LIKE.sub(_token_hidden, content)


@require_safe
@require_role(VIEWER)
def outbox_detail(request: HttpRequest, pk: int) -> HttpResponse:
    captured = get_object_or_404(CapturedMessage.objects.select_related("campaign"), pk=pk)
    message = _parsed(captured)
    html, text = _parts(message)
    html = links_neutralise(html, html=True)
    text = links_neutralise(text, html=False)
    headers = [(name, links_neutralise(str(value), html=False)) for name, value in message.items()]
    return render(
        request,
        "delivery/outbox_detail.html",
        {"captured": captured, "headers": headers, "html": html, "text": text},
    )


@require_safe
@require_role(MARKETER)  # an export, with the recipient's live links: not for the viewer role
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
