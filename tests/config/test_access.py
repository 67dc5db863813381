from __future__ import annotations

import pytest

from fidele.core import permissions
from tests.factories import make_user


@pytest.mark.django_db
def test_an_anonymous_visitor_is_sent_to_the_login_page(client):
    response = client.get("/contacts/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/contacts/")


@pytest.mark.django_db
def test_the_health_check_answers_without_login(client):
    assert client.get("/healthz").json() == {"ok": True}


@pytest.mark.django_db
def test_the_login_redirect_refuses_an_open_redirect(client, owner):
    response = client.post(
        "/login/?next=https://evil.example/steal",
        {"username": owner.username, "password": "correct horse battery"},
    )
    assert response.status_code == 302
    assert "evil.example" not in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
def test_the_language_switch_refuses_an_open_redirect(viewer_client, target):
    response = viewer_client.post("/i18n/setlang/", {"language": "en", "next": target})
    assert response.status_code == 302
    assert "evil.example" not in response["Location"]


@pytest.mark.parametrize(
    ("role", "minimum", "allowed"),
    [
        (permissions.VIEWER, permissions.VIEWER, True),
        (permissions.VIEWER, permissions.MARKETER, False),
        (permissions.MARKETER, permissions.MARKETER, True),
        (permissions.MARKETER, permissions.OWNER, False),
        (permissions.OWNER, permissions.OWNER, True),
    ],
)
@pytest.mark.django_db
def test_roles_are_ordered_viewer_marketer_owner(db, role, minimum, allowed):
    assert permissions.has_role(make_user(role), minimum) is allowed


@pytest.mark.django_db
def test_a_deactivated_owner_has_no_role(owner):
    owner.is_active = False
    assert not permissions.has_role(owner, permissions.VIEWER)


@pytest.mark.django_db
def test_pages_are_in_french_even_when_the_browser_asks_for_english(owner_client):
    response = owner_client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert response.headers["Content-Language"] == "fr"


@pytest.mark.django_db
def test_the_language_switch_wins_over_the_default(owner_client):
    owner_client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert owner_client.get("/").headers["Content-Language"] == "en"


@pytest.mark.django_db
def test_the_browser_language_can_be_followed_when_configured(owner_client, settings):
    settings.FOLLOW_BROWSER_LANGUAGE = True
    response = owner_client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert response.headers["Content-Language"] == "en"
