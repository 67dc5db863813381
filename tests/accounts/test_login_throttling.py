"""Login throttling (django-axes) and the audit of failed logins.

After FIDELE_LOGIN_FAILURE_LIMIT failures from one address, or for one account, the login page
refuses that address, or that account, for FIDELE_LOGIN_LOCKOUT_MINUTES. The two counts are
separate: a flood from one address does not keep an owner out from elsewhere.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings

from fidele.config.env import ConfigError
from fidele.core.models import AuditLog
from tests.config.settings_env import settings_from_env
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.7"
ELSEWHERE = "198.51.100.20"


def attempt(client, username, password="wrong-password-123", address=ATTACKER):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def flood(client, address=ATTACKER, usernames=None):
    limit = django_settings.AXES_FAILURE_LIMIT
    for number in range(limit):
        username = usernames[number] if usernames else f"guess{number}"
        response = attempt(client, username, address=address)
        # The login form again with its error, until the last failure, which locks.
        assert response.status_code == (429 if number == limit - 1 else 200)
    return limit


def test_a_flood_of_failed_logins_locks_the_address_out_with_a_message_in_french(client):
    owner = make_user(username="lea")
    flood(client)
    response = attempt(client, owner.username, password=PASSWORD)
    assert response.status_code == 429
    page = response.content.decode()
    assert "Trop de tentatives de connexion" in page
    assert f"{django_settings.AXES_COOLOFF_TIME.seconds // 60} minutes" in page
    assert '<form method="post"' in page  # still the login page
    assert "_auth_user_id" not in client.session


def test_the_lockout_message_follows_the_language_switch(client):
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    flood(client)
    response = attempt(client, "anyone")
    assert response.status_code == 429
    assert "Too many failed login attempts" in response.content.decode()


def test_an_owner_still_logs_in_from_elsewhere_while_the_flooding_address_is_locked(client):
    owner = make_user(username="lea")
    flood(client)
    assert attempt(client, owner.username, password=PASSWORD).status_code == 429
    response = attempt(client, owner.username, password=PASSWORD, address=ELSEWHERE)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(owner.pk)


def test_one_account_tried_from_many_addresses_is_locked_for_every_address(client):
    make_user(username="lea")
    marc = make_user(username="marc")
    limit = django_settings.AXES_FAILURE_LIMIT
    for number in range(limit):
        attempt(client, "lea", address=f"192.0.2.{number + 1}")
    assert attempt(client, "lea", password=PASSWORD, address=ELSEWHERE).status_code == 429
    # Another account from that same fresh address is not affected.
    response = attempt(client, marc.username, password=PASSWORD, address=ELSEWHERE)
    assert response.status_code == 302


def test_a_successful_login_before_the_limit_starts_the_count_again(client):
    owner = make_user(username="lea")
    limit = django_settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        attempt(client, owner.username)
    assert attempt(client, owner.username, password=PASSWORD).status_code == 302
    client.logout()
    for _ in range(limit - 1):
        attempt(client, owner.username)
    assert attempt(client, owner.username, password=PASSWORD).status_code == 302


def test_the_limit_and_the_lockout_time_are_settings(client, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(minutes=1)
    attempt(client, "a")
    attempt(client, "b")
    response = attempt(client, "c")
    assert response.status_code == 429
    assert "1 minute" in response.content.decode()


# --- the audit log -----------------------------------------------------------------------------


def test_a_failed_login_is_in_the_audit_log_without_the_password(client):
    make_user(username="lea")
    attempt(client, "lea", password="Sup3r-secret-guess")
    entry = AuditLog.objects.get(action=AuditLog.Action.LOGIN_FAILED)
    assert entry.actor is None
    assert entry.actor_label == "lea" and entry.object_repr == "lea"
    assert entry.ip_address == ATTACKER
    stored = " ".join(
        str(value) for value in AuditLog.objects.filter(pk=entry.pk).values().get().values()
    )
    assert "Sup3r-secret-guess" not in stored and "********" not in stored


def test_the_owner_reads_failed_logins_in_the_audit_log_page(client, owner):
    lea = make_user(username="lea")
    attempt(client, "lea")
    entry = AuditLog.objects.get(action=AuditLog.Action.LOGIN_FAILED)
    assert (entry.object_type, entry.object_id) == ("accounts.user", str(lea.pk))
    client.force_login(owner)
    page = client.get("/audit/").content.decode()
    assert "A échoué à se connecter" in page and ATTACKER in page and "lea" in page


def test_an_unknown_username_is_recorded_as_typed_and_cut_to_the_columns_size(client):
    # 400 characters overflowed axes' own column (a 500 on PostgreSQL).
    response = attempt(client, "x" * 400)
    assert response.status_code == 200
    entry = AuditLog.objects.get(action=AuditLog.Action.LOGIN_FAILED)
    assert entry.actor_label == "x" * 150


def test_long_usernames_are_still_counted_against_one_account(client):
    limit = django_settings.AXES_FAILURE_LIMIT
    for number in range(limit):
        attempt(client, "y" * 400, address=f"192.0.2.{number + 1}")
    assert attempt(client, "y" * 400, address=ELSEWHERE).status_code == 429


def test_a_successful_login_is_not_a_failed_one(client):
    make_user(username="lea")
    attempt(client, "lea", password=PASSWORD)
    assert not AuditLog.objects.filter(action=AuditLog.Action.LOGIN_FAILED).exists()
    assert AuditLog.objects.filter(action=AuditLog.Action.LOGIN).exists()


# --- settings from the environment ------------------------------------------------------------


def test_the_throttling_defaults_are_five_failures_and_fifteen_minutes(monkeypatch, tmp_path):
    monkeypatch.delenv("FIDELE_LOGIN_FAILURE_LIMIT", raising=False)
    monkeypatch.delenv("FIDELE_LOGIN_LOCKOUT_MINUTES", raising=False)
    values = settings_from_env(monkeypatch, tmp_path)
    assert values["AXES_FAILURE_LIMIT"] == 5
    assert values["AXES_COOLOFF_TIME"] == timedelta(minutes=15)


def test_the_throttling_comes_from_the_environment(monkeypatch, tmp_path):
    values = settings_from_env(
        monkeypatch,
        tmp_path,
        FIDELE_LOGIN_FAILURE_LIMIT="10",
        FIDELE_LOGIN_LOCKOUT_MINUTES="60",
    )
    assert values["AXES_FAILURE_LIMIT"] == 10
    assert values["AXES_COOLOFF_TIME"] == timedelta(hours=1)


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_a_nonsensical_limit_fails_loudly(monkeypatch, tmp_path, value):
    with pytest.raises(ConfigError, match="FIDELE_LOGIN_FAILURE_LIMIT"):
        settings_from_env(monkeypatch, tmp_path, FIDELE_LOGIN_FAILURE_LIMIT=value)


def test_behind_a_proxy_a_flood_locks_the_client_address_not_everybody(client, settings):
    settings.TRUSTED_PROXIES = 1
    proxy = "10.0.0.1"
    owner = make_user(username="lea")
    limit = django_settings.AXES_FAILURE_LIMIT
    for number in range(limit):
        client.post(
            "/login/",
            {"username": f"guess{number}", "password": "wrong-password-123"},
            REMOTE_ADDR=proxy,
            HTTP_X_FORWARDED_FOR=ATTACKER,
        )
    locked = client.post(
        "/login/",
        {"username": owner.username, "password": PASSWORD},
        REMOTE_ADDR=proxy,
        HTTP_X_FORWARDED_FOR=ATTACKER,
    )
    assert locked.status_code == 429
    # The owner, through the same proxy from another address, still gets in.
    client.cookies.clear()
    response = client.post(
        "/login/",
        {"username": owner.username, "password": PASSWORD},
        REMOTE_ADDR=proxy,
        HTTP_X_FORWARDED_FOR=ELSEWHERE,
    )
    assert response.status_code == 302
    failures = AuditLog.objects.filter(action=AuditLog.Action.LOGIN_FAILED)
    assert set(failures.values_list("ip_address", flat=True)) == {ATTACKER}
