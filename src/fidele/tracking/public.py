"""What every page a recipient reaches from an email shares (the click redirect's error page
here, the unsubscribe and preference pages in compliance): the contact's language, no caching
and no indexing, the shop's name, and a short message page for a link that cannot be followed.

These pages are seen by customers, not by users of the app: they speak the contact's language,
carry the shop's name, and never show an error page inside a mail client.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.http import http_date
from django.utils.translation import gettext_lazy

from fidele.tracking.messages import Sender, message_lookup


def page_language(request: HttpRequest, contact: Any = None) -> str:
    """The contact's language, unless the page was switched by hand (?lang=)."""
    for candidate in (request.GET.get("lang"), getattr(contact, "language", None)):
        if not candidate:
            continue
        try:
            return translation.get_supported_language_variant(candidate)
        except LookupError:
            continue
    return settings.LANGUAGE_CODE


# What django.utils.cache.add_never_cache_headers writes, written out: these responses are
# built here without caching headers of their own, and merging into none (parsing, sorting)
# costs a click redirect more than the rest of its work.
NEVER_CACHE = "max-age=0, no-cache, no-store, must-revalidate, private"


def no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = NEVER_CACHE
    response["Expires"] = http_date()
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def shop_context(sender: Sender) -> dict[str, str]:
    """The shop as the public pages' templates read it."""
    return {"name": sender.name, "address": sender.postal_address}


def shop_default() -> dict[str, str]:
    return shop_context(message_lookup().default_sender())


def message_page(request: HttpRequest, *, title: str, text: str, status: int = 200) -> HttpResponse:
    """A short page that no contact is known for: in the language asked for (?lang=) or the
    site's. `title` and `text` are lazy, translated inside that language."""
    with translation.override(page_language(request, None)):
        response = render(
            request,
            "tracking/message.html",
            {"title": title, "text": text, "shop": shop_default()},
            status=status,
        )
        response["Content-Language"] = translation.get_language()
    return no_store(response)


def bad_link(request: HttpRequest) -> HttpResponse:
    return message_page(
        request,
        title=gettext_lazy("This link does not work"),
        text=gettext_lazy(
            "The link you followed is incomplete or was changed. Open the email again and "
            "use the link it contains, or copy the whole address into your browser."
        ),
        status=400,
    )
