"""Public endpoints reached from inside an email: unsubscribe page and one-click POST, preference
centre, open pixel, click redirect. No login; every URL carries a signed token (tracking/tokens.py).

These pages are seen by customers, not by users of the app: they speak the contact's language,
carry the shop's name, and never show an error page inside a mail client (the open pixel always
answers with an image).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import render
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from fidele.compliance import services as compliance
from fidele.compliance.models import Suppression
from fidele.contacts.models import Contact, Subscription
from fidele.tracking.models import EmailEvent
from fidele.tracking.services import event_record, outbox_ref
from fidele.tracking.tokens import BadToken, token_read

# The smallest transparent GIF (1x1, 43 bytes).
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")

ACTIONS = ("unsubscribe", "preferences", "all")


# --- helpers -------------------------------------------------------------------------------


def _client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is whatever the client wants it to be.
    return request.META.get("REMOTE_ADDR") or None


def _language(request: HttpRequest, contact: Contact | None) -> str:
    """The contact's language, unless the page was switched by hand (?lang=)."""
    for candidate in (request.GET.get("lang"), getattr(contact, "language", None)):
        if not candidate:
            continue
        try:
            return translation.get_supported_language_variant(candidate)
        except LookupError:
            continue
    return settings.LANGUAGE_CODE


def _no_store(response: HttpResponse) -> HttpResponse:
    add_never_cache_headers(response)
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _message_page(
    request: HttpRequest, *, title: str, text: str, status: int = 200
) -> HttpResponse:
    """A short page that no contact is known for: in the language asked for (?lang=) or the
    site's. `title` and `text` are lazy, translated inside that language."""
    with translation.override(_language(request, None)):
        response = render(
            request,
            "tracking/message.html",
            {"title": title, "text": text, "shop": _shop_default()},
            status=status,
        )
        response["Content-Language"] = translation.get_language()
    return _no_store(response)


def _bad_link(request: HttpRequest) -> HttpResponse:
    return _message_page(
        request,
        title=gettext_lazy("This link does not work"),
        text=gettext_lazy(
            "The link you followed is incomplete or was changed. Open the email again and "
            "use the link it contains, or copy the whole address into your browser."
        ),
        status=400,
    )


def mask_email(email: str) -> str:
    """marie.dupont@example.fr -> ma•••@example.fr: enough to recognise one's own address."""
    local, at, domain = (email or "").partition("@")
    if not at:
        return "•••"
    keep = 1 if len(local) <= 3 else 2
    return f"{local[:keep]}•••@{domain}"


def _shop_from_campaign(campaign: Any) -> dict[str, str]:
    layout = getattr(campaign, "layout", None)
    name = (getattr(layout, "sender_name", "") or campaign.from_name or "").strip()
    if not name:
        name = (campaign.from_email or "").partition("@")[2]
    return {
        "name": name,
        "address": (getattr(layout, "sender_postal_address", "") or "").strip(),
    }


def _shop_default() -> dict[str, str]:
    from fidele.campaigns.models import Campaign, Layout

    layout = Layout.objects.filter(is_default=True).first()
    if layout is not None:
        return {"name": layout.sender_name, "address": layout.sender_postal_address}
    campaign = Campaign.objects.exclude(from_name="").order_by("-created_at").first()
    if campaign is not None:
        return _shop_from_campaign(campaign)
    return {"name": "", "address": ""}


@dataclass
class _Recipient:
    contact: Contact | None
    email: str
    outbox: Any  # OutboxMessage or None (contact-level preference link)


def _csrf_failure(request: HttpRequest) -> HttpResponse | None:
    """The CSRF check for the page's own form (the view is exempt for the one-click POST)."""
    check = CsrfViewMiddleware(lambda req: HttpResponse())
    check.process_request(request)
    return check.process_view(request, None, (), {})


def _is_one_click(request: HttpRequest) -> bool:
    """RFC 8058 body `List-Unsubscribe=One-Click`, form-encoded or multipart; also accepted
    when a client forgets the content type."""
    if (
        request.content_type != "multipart/form-data"
        and request.body[:100].strip() == b"List-Unsubscribe=One-Click"
    ):
        return True
    return request.POST.get("List-Unsubscribe") == "One-Click"


# --- unsubscribe and preference centre -----------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        outbox_id = token_read(purpose="unsubscribe", token=token)
    except BadToken:
        return _bad_link(request)
    if outbox_id == 0:
        return _test_message(request)
    from fidele.delivery.models import OutboxMessage

    outbox = (
        OutboxMessage.objects.select_related("campaign", "campaign__layout", "contact")
        .filter(pk=outbox_id)
        .first()
    )
    if outbox is None:
        return _gone(request)
    recipient = _Recipient(contact=outbox.contact, email=outbox.email, outbox=outbox)

    if request.method == "POST" and _is_one_click(request):
        # RFC 8058: sent by the mailbox provider, without cookies or CSRF token; it only needs
        # a quick 2xx. Anything else in the body is a form post and gets the CSRF check.
        compliance.recipient_unsubscribe(
            outbox=outbox,
            source=compliance.UnsubscribeSource.ONE_CLICK,
            ip_address=_client_ip(request),
        )
        return _no_store(HttpResponse("Unsubscribed.\n", content_type="text/plain"))
    return _preference_page(request, recipient)


# Not csrf_exempt: only the one-click POST (on the unsubscribe URL) comes without a token.
@require_http_methods(["GET", "HEAD", "POST"])
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    try:
        contact_id = token_read(purpose="preferences", token=token)
    except BadToken:
        return _bad_link(request)
    if contact_id == 0:
        return _test_message(request)
    contact = Contact.objects.filter(pk=contact_id).first()
    if contact is None or not contact.email:
        return _gone(request)
    return _preference_page(request, _Recipient(contact=contact, email=contact.email, outbox=None))


def _test_message(request: HttpRequest) -> HttpResponse:
    return _message_page(
        request,
        title=gettext_lazy("This was a test message"),
        text=gettext_lazy(
            "This link comes from a test send of a campaign. Nothing was changed: in the "
            "real campaign, this link lets each recipient unsubscribe."
        ),
    )


def _gone(request: HttpRequest) -> HttpResponse:
    return _message_page(
        request,
        title=gettext_lazy("This link is no longer valid"),
        text=gettext_lazy(
            "The message this link came from no longer exists. To stop receiving our "
            "emails, use the unsubscribe link of a more recent message, or reply to it."
        ),
        status=404,
    )


def _preference_page(request: HttpRequest, recipient: _Recipient) -> HttpResponse:
    contact = recipient.contact
    with translation.override(_language(request, contact)):
        if request.method == "POST":
            failure = _csrf_failure(request)
            if failure is not None:
                return failure
            action = request.POST.get("action")
            if action not in ACTIONS or (action == "unsubscribe" and recipient.outbox is None):
                return _bad_link(request)
            _apply(request, recipient, action)
            target = request.path + f"?done={action}"
            if request.GET.get("lang"):
                target += f"&lang={_language(request, contact)}"
            return _no_store(HttpResponseRedirect(target, status=303))

        response = render(request, "tracking/preferences.html", _page_context(request, recipient))
        response["Content-Language"] = translation.get_language()
        return _no_store(response)


def _apply(request: HttpRequest, recipient: _Recipient, action: str) -> None:
    ip = _client_ip(request)
    if action == "unsubscribe":
        compliance.recipient_unsubscribe(
            outbox=recipient.outbox, source=compliance.UnsubscribeSource.PAGE, ip_address=ip
        )
    elif action == "all":
        compliance.recipient_unsubscribe_all(
            outbox=recipient.outbox, contact=recipient.contact, ip_address=ip
        )
    elif recipient.contact is not None:
        ids = []
        for value in request.POST.getlist("list"):
            if value.isdigit():
                ids.append(int(value))
        compliance.recipient_preferences_save(
            contact=recipient.contact,
            subscribed_list_ids=ids,
            outbox=recipient.outbox,
            ip_address=ip,
        )


def _page_context(request: HttpRequest, recipient: _Recipient) -> dict[str, Any]:
    contact, outbox = recipient.contact, recipient.outbox
    shop = _shop_from_campaign(outbox.campaign) if outbox is not None else _shop_default()
    subscriptions: list[Subscription] = []
    if contact is not None:
        subscriptions = list(
            Subscription.objects.select_related("mailing_list")
            .filter(contact=contact)
            .exclude(status=Subscription.Status.UNCONFIRMED)
            .order_by("mailing_list__name")
        )
    campaign_list_ids: set[int] = set()
    if outbox is not None:
        campaign_list_ids = set(outbox.campaign.lists.values_list("id", flat=True))
    campaign_subscriptions = [s for s in subscriptions if s.mailing_list_id in campaign_list_ids]
    campaign_lists_active = [
        s.mailing_list.name
        for s in campaign_subscriptions
        if s.status == Subscription.Status.SUBSCRIBED
    ]
    suppression = Suppression.objects.filter(email=(recipient.email or "").lower()).first()
    done = request.GET.get("done")
    lang = _language(request, contact)
    other_languages = [(code, name) for code, name in settings.LANGUAGES if code != lang]
    return {
        "shop": shop,
        "masked_email": mask_email(recipient.email),
        "outbox": outbox,
        "subscriptions": subscriptions,
        "campaign_lists_active": campaign_lists_active,
        # The campaign went to lists this contact is on: the main button names them.
        "campaign_has_lists": bool(campaign_subscriptions),
        "suppression": suppression,
        "blocked": suppression is not None
        and suppression.reason != Suppression.Reason.UNSUBSCRIBED_ALL,
        "unsubscribed_all": suppression is not None
        and suppression.reason == Suppression.Reason.UNSUBSCRIBED_ALL,
        "done": done if done in ACTIONS else None,
        "other_languages": other_languages,
    }


# --- open pixel and click redirect ---------------------------------------------------------


def _event(request: HttpRequest, outbox_id: int, type: str, url: str = "") -> None:
    """Record an open or a click of a message that still exists; the user agent is what the
    machine-open filter reads."""
    ref = outbox_ref(outbox_id)
    if ref is not None:
        event_record(
            type=type,
            outbox=ref,
            url=url,
            details={"user_agent": request.META.get("HTTP_USER_AGENT", "")[:300]},
        )


def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    try:
        outbox_id = token_read(purpose="open", token=token)
    except BadToken:
        outbox_id = 0
    if outbox_id and request.method == "GET":
        _event(request, outbox_id, EmailEvent.Type.OPEN)
    response = HttpResponse(PIXEL_GIF, content_type="image/gif")
    response["Cache-Control"] = "no-store, no-cache, must-revalidate, private, max-age=0"
    response["Pragma"] = "no-cache"
    response["Expires"] = "0"
    return response


def safe_redirect_url(url: str) -> bool:
    """Only absolute http(s) URLs with a host, without characters browsers reinterpret."""
    if not url or len(url) > 4000:
        return False
    if any(ch in url for ch in "\\\r\n\t\x00") or url != url.strip():
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def click(request: HttpRequest, token: str) -> HttpResponse:
    url = request.GET.get("u", "")
    try:
        outbox_id = token_read(purpose="click", token=token, extra=url)
    except BadToken:
        return _bad_link(request)
    if not safe_redirect_url(url):
        return _bad_link(request)
    # HEAD comes from link checkers, never from a person following the link.
    if outbox_id and request.method == "GET":
        _event(request, outbox_id, EmailEvent.Type.CLICK, url=url)
    return _no_store(HttpResponseRedirect(url))
