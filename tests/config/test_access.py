from __future__ import annotations

import pytest

from fidele.core import permissions


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
def test_roles_are_ordered_viewer_marketer_owner(make_user, role, minimum, allowed):
    assert permissions.has_role(make_user(role), minimum) is allowed


@pytest.mark.django_db
def test_a_deactivated_owner_has_no_role(owner):
    owner.is_active = False
    assert not permissions.has_role(owner, permissions.VIEWER)
