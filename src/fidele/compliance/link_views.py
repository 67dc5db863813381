"""The unsubscribe page (with the one-click POST of RFC 8058) and the preference centre, reached
from a link in an email under /t/ (compliance/link_urls.py). No login; every URL carries a signed
token (tracking/tokens.py). The message a link names is read through tracking's message lookup
port, never from the send engine's tables.

These pages are seen by customers, not by users of the app: they speak the contact's language,
carry the shop's name, and never show an error page inside a mail client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from fidele.compliance import services as compliance
from fidele.compliance.models import Suppression
from fidele.compliance.privacy import mask_email
from fidele.contacts.models import Contact, Subscription
from fidele.core.http import client_ip
from fidele.tracking.messages import SentMessage, message_lookup
from fidele.tracking.public import (
    bad_link,
    message_page,
    no_store,
    page_language,
    shop_context,
    shop_default,
)
from fidele.tracking.tokens import BadToken, token_read

ACTIONS = ("unsubscribe", "preferences", "all")


@dataclass
class _Recipient:
    contact: Contact | None
    email: str
    message: SentMessage | None  # None: a contact-level preference link


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
        return bad_link(request)
    if outbox_id == 0:
        return _test_message(request)
    message = message_lookup().sent_message(outbox_id)
    if message is None:
        return _gone(request)

    if request.method == "POST" and _is_one_click(request):
        # RFC 8058: sent by the mailbox provider, without cookies or CSRF token; it only needs
        # a quick 2xx. Anything else in the body is a form post and gets the CSRF check.
        compliance.recipient_unsubscribe(
            outbox=message,
            source=compliance.UnsubscribeSource.ONE_CLICK,
            ip_address=client_ip(request),
        )
        return no_store(HttpResponse("Unsubscribed.\n", content_type="text/plain"))
    contact = Contact.objects.filter(pk=message.contact_id).first() if message.contact_id else None
    return _preference_page(
        request, _Recipient(contact=contact, email=message.email, message=message)
    )


# Not csrf_exempt: only the one-click POST (on the unsubscribe URL) comes without a token.
@require_http_methods(["GET", "HEAD", "POST"])
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    try:
        contact_id = token_read(purpose="preferences", token=token)
    except BadToken:
        return bad_link(request)
    if contact_id == 0:
        return _test_message(request)
    contact = Contact.objects.filter(pk=contact_id).first()
    if contact is None or not contact.email:
        return _gone(request)
    return _preference_page(request, _Recipient(contact=contact, email=contact.email, message=None))


def _test_message(request: HttpRequest) -> HttpResponse:
    return message_page(
        request,
        title=gettext_lazy("This was a test message"),
        text=gettext_lazy(
            "This link comes from a test send of a campaign. Nothing was changed: in the "
            "real campaign, this link lets each recipient unsubscribe."
        ),
    )


def _gone(request: HttpRequest) -> HttpResponse:
    return message_page(
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
    with translation.override(page_language(request, contact)):
        if request.method == "POST":
            failure = _csrf_failure(request)
            if failure is not None:
                return failure
            action = request.POST.get("action")
            if action not in ACTIONS or (action == "unsubscribe" and recipient.message is None):
                return bad_link(request)
            _apply(request, recipient, action)
            target = request.path + f"?done={action}"
            if request.GET.get("lang"):
                target += f"&lang={page_language(request, contact)}"
            return no_store(HttpResponseRedirect(target, status=303))

        response = render(request, "compliance/preferences.html", _page_context(request, recipient))
        response["Content-Language"] = translation.get_language()
        return no_store(response)


def _apply(request: HttpRequest, recipient: _Recipient, action: str) -> None:
    ip = client_ip(request)
    if action == "unsubscribe":
        compliance.recipient_unsubscribe(
            outbox=recipient.message, source=compliance.UnsubscribeSource.PAGE, ip_address=ip
        )
    elif action == "all":
        compliance.recipient_unsubscribe_all(
            outbox=recipient.message, contact=recipient.contact, ip_address=ip
        )
    elif recipient.contact is not None:
        ids = []
        for value in request.POST.getlist("list"):
            if value.isdigit():
                ids.append(int(value))
        compliance.recipient_preferences_save(
            contact=recipient.contact,
            subscribed_list_ids=ids,
            outbox=recipient.message,
            ip_address=ip,
        )


def _page_context(request: HttpRequest, recipient: _Recipient) -> dict[str, Any]:
    contact, message = recipient.contact, recipient.message
    shop = shop_context(message.sender) if message is not None else shop_default()
    subscriptions: list[Subscription] = []
    if contact is not None:
        subscriptions = list(
            Subscription.objects.select_related("mailing_list")
            .filter(contact=contact)
            .exclude(status=Subscription.Status.UNCONFIRMED)
            .order_by("mailing_list__name")
        )
    campaign_list_ids = set(message.list_ids) if message is not None else set()
    campaign_subscriptions = [s for s in subscriptions if s.mailing_list_id in campaign_list_ids]
    campaign_lists_active = [
        s.mailing_list.name
        for s in campaign_subscriptions
        if s.status == Subscription.Status.SUBSCRIBED
    ]
    suppression = Suppression.objects.filter(email=(recipient.email or "").lower()).first()
    done = request.GET.get("done")
    lang = page_language(request, contact)
    other_languages = [(code, name) for code, name in settings.LANGUAGES if code != lang]
    return {
        "shop": shop,
        "masked_email": mask_email(recipient.email),
        "outbox": message,
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
