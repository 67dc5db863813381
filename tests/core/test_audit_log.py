from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from fidele.contacts.models import Contact
from fidele.core import permissions
from fidele.core.audit import audit_record
from fidele.core.models import AuditLog
from tests.factories import make_user


def entry_at(when: dt.datetime, **kwargs) -> AuditLog:
    entry = audit_record(**kwargs)
    AuditLog.objects.filter(pk=entry.pk).update(at=when)
    return entry


@pytest.mark.parametrize("role", [permissions.VIEWER, permissions.MARKETER])
def test_only_an_owner_reads_the_audit_log(client, db, role):
    client.force_login(make_user(role))
    assert client.get("/audit/").status_code == 403


def test_an_anonymous_visitor_is_sent_to_the_login_page(client, db):
    response = client.get("/audit/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_entries_are_listed_newest_first_with_readable_changes(owner_client, owner):
    contact = Contact.objects.create(email="helene@example.com", first_name="Hélène")
    now = timezone.now()
    entry_at(now - dt.timedelta(days=2), actor=owner, action="create", obj=contact)
    entry_at(
        now - dt.timedelta(days=1),
        actor=owner,
        action="update",
        obj=contact,
        changes={"first_name": ["Helene", "Hélène"], "city": [None, "Bergerac"]},
    )
    response = owner_client.get("/audit/")
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [r.entry.action for r in rows] == ["update", "create"]
    changes = {c.label: (c.old, c.new) for c in rows[0].changes}
    assert changes["Prénom"] == ("Helene", "Hélène") or changes["First name"] == (
        "Helene",
        "Hélène",
    )
    assert ("—", "Bergerac") in changes.values()
    body = response.content.decode()
    assert f'href="/contacts/{contact.pk}/"' in body


def test_a_deleted_object_is_shown_without_a_link(owner_client, owner):
    contact = Contact.objects.create(email="parti@example.com")
    pk = contact.pk
    audit_record(actor=owner, action="delete", obj=contact)
    contact.delete()
    response = owner_client.get("/audit/")
    (row,) = response.context["rows"]
    assert row.url is None and row.gone
    assert f'href="/contacts/{pk}/"' not in response.content.decode()


def test_filters_by_user_action_type_and_dates(owner_client, owner):
    claire = make_user(permissions.MARKETER, username="claire")
    contact = Contact.objects.create(email="a@example.com")
    now = timezone.now()
    old = entry_at(now - dt.timedelta(days=40), actor=claire, action="update", obj=contact)
    recent = entry_at(now, actor=owner, action="export", object_type="contacts.contact")
    system = entry_at(now, actor=None, action="import", object_type="demo")

    def ids(**params):
        response = owner_client.get("/audit/", params)
        assert response.status_code == 200
        return {row.entry.pk for row in response.context["rows"]}

    assert ids(user=claire.pk) == {old.pk}
    assert ids(user="system") == {system.pk}
    assert ids(action="export") == {recent.pk}
    assert ids(type="demo") == {system.pk}
    today = timezone.localdate()
    assert ids(**{"from": today.isoformat()}) == {recent.pk, system.pk}
    assert ids(to=(today - dt.timedelta(days=30)).isoformat()) == {old.pk}
    assert ids(**{"from": "n'importe", "action": "nope", "user": "x"}) == {
        old.pk,
        recent.pk,
        system.pk,
    }


def test_pages_move_to_older_entries(owner_client, owner):
    now = timezone.now()
    for i in range(60):
        entry_at(now - dt.timedelta(minutes=i), actor=owner, action="other", object_type="x")
    first = owner_client.get("/audit/")
    assert len(first.context["rows"]) == 50
    cursor = first.context["page"].next_cursor
    second = owner_client.get("/audit/", {"after": cursor})
    assert len(second.context["rows"]) == 10
    assert {r.entry.pk for r in first.context["rows"]}.isdisjoint(
        r.entry.pk for r in second.context["rows"]
    )


def test_a_login_through_the_login_page_is_audited(client, owner):
    response = client.post(
        "/login/",
        {"username": owner.username, "password": "correct horse battery"},
        REMOTE_ADDR="192.0.2.10",
    )
    assert response.status_code == 302
    entry = AuditLog.objects.get(action=AuditLog.Action.LOGIN)
    assert entry.actor == owner and entry.ip_address == "192.0.2.10"
    assert entry.object_type == "accounts.user"


def test_a_failed_login_or_a_test_login_records_no_login_entry(client, owner):
    client.post("/login/", {"username": owner.username, "password": "wrong"})
    client.force_login(owner)
    assert not AuditLog.objects.filter(action=AuditLog.Action.LOGIN).exists()


def test_the_password_change_is_shown_without_values(owner_client, owner):
    audit_record(actor=owner, action="update", obj=owner, changes={"password": "changed"})
    (row,) = owner_client.get("/audit/").context["rows"]
    (change,) = row.changes
    assert change.old is None and change.new in ("changed", "modifié")


def test_a_role_change_is_shown_with_role_names_not_codes(owner_client, owner):
    claire = make_user(permissions.VIEWER, username="claire")
    audit_record(actor=owner, action="update", obj=claire, changes={"role": ["viewer", "owner"]})
    owner_client.cookies["django_language"] = "en"
    (row,) = owner_client.get("/audit/").context["rows"]
    (change,) = row.changes
    assert (change.label, change.old, change.new) == ("Role", "Viewer", "Owner")
