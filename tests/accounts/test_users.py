from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from fidele.accounts import services
from fidele.accounts.models import User
from fidele.core import permissions
from fidele.core.models import AuditLog
from tests.factories import make_user

STRONG = "Vendanges-tardives-2024"


def user_urls(pk: int) -> list[tuple[str, str]]:
    return [
        ("get", "/accounts/users/"),
        ("get", "/accounts/users/new/"),
        ("post", "/accounts/users/new/"),
        ("get", f"/accounts/users/{pk}/edit/"),
        ("post", f"/accounts/users/{pk}/edit/"),
        ("get", f"/accounts/users/{pk}/password/"),
        ("post", f"/accounts/users/{pk}/password/"),
        ("post", f"/accounts/users/{pk}/deactivate/"),
        ("post", f"/accounts/users/{pk}/reactivate/"),
    ]


# --- access ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [permissions.VIEWER, permissions.MARKETER])
def test_only_an_owner_reaches_any_user_management_url(client, db, role):
    target = make_user(permissions.VIEWER, username="cible")
    client.force_login(make_user(role))
    for method, url in user_urls(target.pk):
        response = getattr(client, method)(url, {"role": "owner", "password1": STRONG})
        assert response.status_code == 403, (method, url)
    target.refresh_from_db()
    assert target.role == permissions.VIEWER and target.is_active
    assert not AuditLog.objects.filter(object_type="accounts.user").exists()


def test_an_anonymous_visitor_is_sent_to_the_login_page(client, db):
    target = make_user(permissions.VIEWER, username="cible")
    for method, url in user_urls(target.pk):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url


def test_the_owner_sees_every_user_with_role_and_last_login(owner_client):
    make_user(permissions.MARKETER, username="claire")
    response = owner_client.get("/accounts/users/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "claire" in body and "owner-user" in body
    assert "Jamais" in body or "Never" in body


# --- create -------------------------------------------------------------------------------


def test_a_new_user_is_offered_the_viewer_role_by_default(owner_client):
    form = owner_client.get("/accounts/users/new/").context["form"]
    assert form["role"].value() == "viewer"


def test_the_owner_creates_a_user_who_can_then_log_in(owner_client, owner, client):
    response = owner_client.post(
        "/accounts/users/new/",
        {
            "username": "julien",
            "first_name": "Julien",
            "last_name": "Lachaud",
            "email": "Julien@Example.com",
            "role": "marketer",
            "password1": STRONG,
            "password2": STRONG,
        },
    )
    assert response.status_code == 302
    user = User.objects.get(username="julien")
    assert user.role == "marketer" and user.email == "julien@example.com"
    assert user.check_password(STRONG)
    entry = AuditLog.objects.get(object_type="accounts.user", action="create")
    assert entry.actor == owner and entry.object_id == str(user.pk)
    assert "password" not in entry.changes and STRONG not in str(entry.changes)


@pytest.mark.parametrize(
    ("field", "value", "expected_error_field"),
    [
        ("password2", "autre-chose-2024", "password2"),
        ("password1", "123", "password1"),
        ("username", "owner-USER", "username"),
        ("username", "a b", "username"),
        ("role", "superadmin", "role"),
    ],
)
def test_a_bad_new_user_is_refused_with_a_message_on_the_field(
    owner_client, field, value, expected_error_field
):
    data = {"username": "julien", "role": "viewer", "password1": STRONG, "password2": STRONG}
    data[field] = value
    if field == "password1":
        data["password2"] = value
    response = owner_client.post("/accounts/users/new/", data)
    assert response.status_code == 200
    assert response.context["form"].errors.get(expected_error_field)
    assert not User.objects.filter(username="julien").exists()


# --- edit / role -------------------------------------------------------------------------


def test_the_owner_changes_a_role_and_the_change_is_audited(owner_client, owner):
    claire = make_user(permissions.VIEWER, username="claire")
    response = owner_client.post(
        f"/accounts/users/{claire.pk}/edit/",
        {"first_name": "Claire", "last_name": "Delmas", "email": "", "role": "marketer"},
    )
    assert response.status_code == 302
    claire.refresh_from_db()
    assert claire.role == "marketer" and claire.first_name == "Claire"
    entry = AuditLog.objects.get(object_type="accounts.user", action="update")
    assert entry.changes["role"] == ["viewer", "marketer"]
    assert entry.actor == owner


def test_the_last_active_owner_cannot_demote_themselves(owner_client, owner):
    response = owner_client.post(
        f"/accounts/users/{owner.pk}/edit/", {"first_name": "", "last_name": "", "role": "viewer"}
    )
    assert response.status_code == 200
    assert "last active owner" in str(response.context["form"].non_field_errors()) or (
        "dernier propriétaire" in str(response.context["form"].non_field_errors())
    )
    owner.refresh_from_db()
    assert owner.role == "owner"


def test_an_owner_may_step_down_when_another_owner_remains(owner_client, owner):
    make_user(permissions.OWNER, username="associee")
    response = owner_client.post(
        f"/accounts/users/{owner.pk}/edit/", {"first_name": "", "last_name": "", "role": "marketer"}
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.role == "marketer"


def test_an_inactive_owner_does_not_count_as_a_remaining_owner(db):
    active = make_user(permissions.OWNER, username="active")
    sleeping = make_user(permissions.OWNER, username="sleeping")
    sleeping.is_active = False
    sleeping.save()
    with pytest.raises(ValidationError):
        services.user_update(
            actor=active, user=active, first_name="", last_name="", email="", role="viewer"
        )


# --- deactivate / reactivate -------------------------------------------------------------


def test_the_owner_deactivates_and_reactivates_a_user(owner_client, client):
    claire = make_user(permissions.MARKETER, username="claire")
    assert owner_client.post(f"/accounts/users/{claire.pk}/deactivate/").status_code == 302
    claire.refresh_from_db()
    assert not claire.is_active
    assert owner_client.post(f"/accounts/users/{claire.pk}/reactivate/").status_code == 302
    claire.refresh_from_db()
    assert claire.is_active
    changes = list(
        AuditLog.objects.filter(object_type="accounts.user", object_id=str(claire.pk))
        .order_by("id")
        .values_list("changes", flat=True)
    )
    assert changes == [{"is_active": [True, False]}, {"is_active": [False, True]}]


def test_a_deactivated_user_cannot_log_in(client, db):
    claire = make_user(permissions.MARKETER, username="claire")
    services.user_set_active(actor=None, user=claire, active=False)
    response = client.post("/login/", {"username": "claire", "password": "correct horse battery"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_the_last_active_owner_cannot_deactivate_themselves(owner_client, owner):
    response = owner_client.post(f"/accounts/users/{owner.pk}/deactivate/", follow=True)
    owner.refresh_from_db()
    assert owner.is_active
    assert any(m.level_tag == "error" for m in response.context["messages"])
    assert not AuditLog.objects.filter(object_type="accounts.user").exists()


def test_the_last_owner_cannot_be_deactivated_from_a_command_either(db):
    owner = make_user(permissions.OWNER, username="seule")
    with pytest.raises(ValidationError):
        services.user_set_active(actor=None, user=owner, active=False)


def test_unknown_users_give_404(owner_client):
    assert owner_client.get("/accounts/users/999999/edit/").status_code == 404
    assert owner_client.post("/accounts/users/999999/deactivate/").status_code == 404


# --- password ----------------------------------------------------------------------------


def test_the_owner_sets_a_new_password_without_it_reaching_the_audit_log(owner_client):
    claire = make_user(permissions.MARKETER, username="claire")
    response = owner_client.post(
        f"/accounts/users/{claire.pk}/password/", {"password1": STRONG, "password2": STRONG}
    )
    assert response.status_code == 302
    claire.refresh_from_db()
    assert claire.check_password(STRONG)
    entry = AuditLog.objects.get(object_type="accounts.user", object_id=str(claire.pk))
    assert entry.changes == {"password": "changed"}
    assert claire.password not in str(entry.changes)


def test_a_weak_password_is_refused(owner_client):
    claire = make_user(permissions.MARKETER, username="claire")
    response = owner_client.post(
        f"/accounts/users/{claire.pk}/password/", {"password1": "claire", "password2": "claire"}
    )
    assert response.status_code == 200
    claire.refresh_from_db()
    assert claire.check_password("correct horse battery")


def test_an_owner_who_changes_their_own_password_stays_logged_in(owner_client, owner):
    owner_client.post(
        f"/accounts/users/{owner.pk}/password/", {"password1": STRONG, "password2": STRONG}
    )
    assert owner_client.get("/accounts/users/").status_code == 200


# --- login page --------------------------------------------------------------------------


def test_the_login_page_has_labelled_fields_and_a_language_switch(client, db):
    response = client.get("/login/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'class="login-card"' in body
    assert 'for="id_username"' in body and 'for="id_password"' in body
    assert 'name="language"' in body


def test_a_wrong_password_shows_an_error_on_the_login_page(client, owner):
    response = client.post("/login/", {"username": owner.username, "password": "nope"})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
