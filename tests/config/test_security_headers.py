"""Security headers: a Content-Security-Policy on every page, HSTS and secure cookies behind
https, the proxy's X-Forwarded-Proto trusted only when told; and `check --deploy` agrees."""

from __future__ import annotations

import secrets
from io import StringIO

import pytest
from django.core.management import call_command

from tests.config.settings_env import settings_from_env

pytestmark = pytest.mark.django_db

PRODUCTION = {
    "FIDELE_BASE_URL": "https://clients.cave-de-lea.fr",
    "FIDELE_ALLOWED_HOSTS": "clients.cave-de-lea.fr",
    "FIDELE_HSTS_SECONDS": "31536000",
    "FIDELE_TRUST_X_FORWARDED_PROTO": "1",
}
SECURITY_SETTINGS = (
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_PROXY_SSL_HEADER",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "LANGUAGE_COOKIE_SECURE",
)


def csp(response) -> dict[str, list[str]]:
    policy = {}
    for directive in response["Content-Security-Policy"].split(";"):
        name, *values = directive.split()
        policy[name] = values
    return policy


def test_every_page_has_a_content_security_policy_without_inline_scripts(owner_client):
    response = owner_client.get("/")
    policy = csp(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]


def test_the_login_page_and_the_public_link_pages_have_it_too(client):
    assert "Content-Security-Policy" in client.get("/login/")
    assert "Content-Security-Policy" in client.get("/t/u/1.AAAAAAAAAAAAAAAA/")


def test_by_default_no_hsts_no_proxy_header_and_cookies_follow_the_base_url(monkeypatch, tmp_path):
    for name in PRODUCTION:
        monkeypatch.delenv(name, raising=False)
    values = settings_from_env(monkeypatch, tmp_path)
    assert values["SECURE_HSTS_SECONDS"] == 0
    assert values["SECURE_PROXY_SSL_HEADER"] is None
    assert values["SESSION_COOKIE_SECURE"] is False  # http://127.0.0.1:8000 (make run)


def test_production_settings_come_from_the_environment(monkeypatch, tmp_path):
    values = settings_from_env(monkeypatch, tmp_path, **PRODUCTION)
    assert values["SECURE_HSTS_SECONDS"] == 31536000
    assert values["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"]
    assert values["LANGUAGE_COOKIE_SECURE"]


def test_hsts_is_sent_over_https_only(client, settings):
    settings.SECURE_HSTS_SECONDS = 3600
    assert "Strict-Transport-Security" not in client.get("/login/")
    response = client.get("/login/", secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=3600")


def test_behind_a_trusted_proxy_https_is_read_from_x_forwarded_proto(client, settings):
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = client.get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert "Strict-Transport-Security" in response


def test_the_header_of_an_untrusted_proxy_is_ignored(client, settings):
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_PROXY_SSL_HEADER = None
    response = client.get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert "Strict-Transport-Security" not in response


def test_check_deploy_does_not_warn_about_hsts_or_cookies_in_production(
    monkeypatch, tmp_path, settings
):
    values = settings_from_env(monkeypatch, tmp_path, **PRODUCTION)
    for name in SECURITY_SETTINGS:
        setattr(settings, name, values[name])
    settings.SECRET_KEY = secrets.token_urlsafe(50)
    # Set by the browser tests' plugin for this process; not part of a deployment.
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE", raising=False)
    output = StringIO()
    call_command("check", deploy=True, stdout=output, stderr=output)
    report = output.getvalue()
    for check_id in ("security.W004", "security.W012", "security.W016"):
        assert check_id not in report, report
