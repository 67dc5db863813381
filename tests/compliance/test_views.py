from __future__ import annotations

import pytest

from fidele.compliance import services
from fidele.compliance.models import Suppression
from fidele.core.models import AuditLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def suppression():
    return services.suppression_add(
        email="jean@example.org", reason="hard_bounce", details={"diagnostic": "550 5.1.1 unknown"}
    )


def test_every_role_reads_the_suppression_list_with_its_explanations(viewer_client, suppression):
    response = viewer_client.get("/compliance/suppressions/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "jean@example.org" in body and "550 5.1.1 unknown" in body
    assert "Block this address" not in body and "Bloquer cette adresse" not in body


def test_the_list_is_searchable_and_filterable(viewer_client, suppression):
    services.suppression_add(email="paul@example.fr", reason="complaint", details={})
    body = viewer_client.get("/compliance/suppressions/?q=paul").content.decode()
    assert "paul@example.fr" in body and "jean@example.org" not in body
    body = viewer_client.get("/compliance/suppressions/?reason=hard_bounce").content.decode()
    assert "jean@example.org" in body and "paul@example.fr" not in body


def test_a_marketer_blocks_an_address_by_hand(marketer_client, marketer):
    response = marketer_client.post(
        "/compliance/suppressions/add/", {"email": "Marie@Example.fr", "note": "au téléphone"}
    )
    assert response.status_code == 302
    suppression = Suppression.objects.get()
    assert (suppression.email, suppression.reason) == ("marie@example.fr", "manual")
    assert AuditLog.objects.get(object_type="compliance.suppression").actor == marketer


def test_blocking_an_address_already_blocked_says_so_whatever_its_spelling(marketer_client):
    services.suppression_add(email="marie@example.fr", reason="hard_bounce", details={})
    response = marketer_client.post(
        "/compliance/suppressions/add/", {"email": "<Marie@Example.fr>"}, follow=True
    )
    assert Suppression.objects.get().reason == "hard_bounce"
    page = response.content.decode()
    assert "marie@example.fr" in page and "déjà" in page


def test_a_bad_address_is_explained(marketer_client):
    response = marketer_client.post(
        "/compliance/suppressions/add/", {"email": "marie@"}, follow=True
    )
    assert not Suppression.objects.exists()
    assert "marie.dupont@example.fr" in response.content.decode()


def test_a_viewer_cannot_block_or_lift(viewer_client, suppression):
    assert (
        viewer_client.post("/compliance/suppressions/add/", {"email": "a@b.fr"}).status_code == 403
    )
    url = f"/compliance/suppressions/{suppression.pk}/remove/"
    assert viewer_client.post(url).status_code == 403
    assert Suppression.objects.count() == 1


def test_only_an_owner_lifts_a_suppression(marketer_client, suppression):
    url = f"/compliance/suppressions/{suppression.pk}/remove/"
    assert marketer_client.get(url).status_code == 403
    assert marketer_client.post(url).status_code == 403
    assert Suppression.objects.exists()


def test_an_owner_confirms_then_lifts(owner_client, owner, suppression):
    url = f"/compliance/suppressions/{suppression.pk}/remove/"
    page = owner_client.get(url)
    assert page.status_code == 200 and "jean@example.org" in page.content.decode()
    assert Suppression.objects.exists()
    assert owner_client.post(url).status_code == 302
    assert not Suppression.objects.exists()
    assert AuditLog.objects.get(action=AuditLog.Action.DELETE).actor == owner


def test_the_compliance_pages_need_a_login(client):
    response = client.get("/compliance/suppressions/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_reason_with_one_address_is_counted_in_the_singular(owner_client):
    services.suppression_add(email="parti@example.fr", reason="hard_bounce")

    body = owner_client.get("/compliance/suppressions/").content.decode()

    assert 'aria-label="1 adresse : ' in body
