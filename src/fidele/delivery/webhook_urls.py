"""ESP webhooks, mounted at /delivery/webhooks/ (public: no login).

    /delivery/webhooks/anymail/<esp>/tracking/   e.g. brevo, mailgun, amazon_ses, postmark,
                                                 sendgrid, sparkpost, mailjet, postal, resend

anymail checks the basic auth in ANYMAIL["WEBHOOK_SECRET"] (and the ESP's signature where it has
one), but when no secret is set it only warns and accepts anything: anyone could then post a
fake complaint and get a customer suppressed. So every anymail view is wrapped to answer 403
until WEBHOOK_SECRET is set.
"""

from __future__ import annotations

from functools import wraps
from typing import Any

from anymail import urls as anymail_urls
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.urls import include, path
from django.urls.resolvers import URLPattern

from fidele.delivery import webhooks  # noqa: F401  (connects the tracking signal receiver)


def webhook_secret_configured() -> bool:
    return bool((getattr(settings, "ANYMAIL", None) or {}).get("WEBHOOK_SECRET"))


def _require_secret(view: Any) -> Any:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not webhook_secret_configured():
            return HttpResponseForbidden(
                "Webhooks are disabled until ANYMAIL WEBHOOK_SECRET is configured.\n",
                content_type="text/plain",
            )
        return view(request, *args, **kwargs)

    return wrapped


_guarded = [
    URLPattern(p.pattern, _require_secret(p.callback), p.default_args, p.name)
    for p in anymail_urls.urlpatterns
    if isinstance(p, URLPattern)
]

urlpatterns = [
    path("anymail/", include((_guarded, anymail_urls.app_name))),
]
