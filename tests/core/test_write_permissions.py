"""Every page of the app, posted to by a viewer: refused, never written.

Walks the URL configuration rather than a hand-kept list, so that a view added tomorrow without
its role check fails here.
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from fidele.core.models import AuditLog

pytestmark = pytest.mark.django_db

# Public endpoints: token-protected pages for email recipients, login, language, health, webhooks.
PUBLIC = ("t/", "login/", "logout/", "i18n/", "healthz", "delivery/webhooks/", "static/")


def _patterns(resolver: URLResolver, prefix: str = "") -> list[str]:
    found = []
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found.extend(_patterns(entry, route))
        elif isinstance(entry, URLPattern):
            found.append(route)
    return found


def _concrete(route: str) -> str:
    for converter, value in (("<int:", "1"), ("<str:", "x"), ("<slug:", "x"), ("<path:", "x")):
        while converter in route:
            start = route.index(converter)
            route = route[:start] + value + route[route.index(">", start) + 1 :]
    return "/" + route.lstrip("^").rstrip("$")


INTERNAL = sorted(
    {
        _concrete(route)
        for route in _patterns(get_resolver())
        if not route.startswith(PUBLIC) and "(?P" not in route
    }
)


def test_the_walk_finds_the_write_views():
    assert "/contacts/new/" in INTERNAL
    assert "/accounts/users/1/deactivate/" in INTERNAL
    assert len(INTERNAL) > 40


@pytest.mark.parametrize("url", INTERNAL)
def test_a_viewer_posting_anywhere_is_refused_and_nothing_is_written(viewer_client, url):
    response = viewer_client.post(url, {"name": "x", "email": "a@b.fr"})
    assert response.status_code in (403, 405), (url, response.status_code)
    assert not AuditLog.objects.exists()
