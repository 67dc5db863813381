from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse

# Paths anyone may reach without logging in: unsubscribe and tracking links (/t/, signed
# tokens) and ESP webhooks (checked by anymail's basic auth).
PUBLIC_PREFIXES = ("/login/", "/static/", "/i18n/", "/healthz", "/t/", "/delivery/webhooks/")


class LoginRequiredMiddleware:
    """Deny by default: every page needs a logged-in user unless its path is listed public."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The path first: a public tracking hit must not load the session and user (2 queries)
        # just because the browser carries the app's cookie.
        if not request.path.startswith(PUBLIC_PREFIXES) and not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        return self.get_response(request)


class SiteLanguageMiddleware:
    """French (LANGUAGE_CODE) unless the user picked a language with the switch.

    Placed before LocaleMiddleware. The shop's staff share browsers set to whatever language the
    machine came with; the product's language should be the business's, not the browser's. Set
    FIDELE_FOLLOW_BROWSER_LANGUAGE=1 to let Accept-Language decide instead.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not settings.FOLLOW_BROWSER_LANGUAGE:
            request.META.pop("HTTP_ACCEPT_LANGUAGE", None)
        return self.get_response(request)
