from __future__ import annotations

import pytest
from django.db import OperationalError, connection


@pytest.mark.django_db
def test_healthz_is_ok_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True}


@pytest.mark.django_db
def test_healthz_answers_503_naming_the_database_without_its_connection_details(
    client, monkeypatch
):
    def refuse():
        raise OperationalError(
            'connection to server at "db.internal" (10.0.0.5), port 5432 failed: '
            'password authentication failed for user "fidele" password=hunter2'
        )

    monkeypatch.setattr(connection, "cursor", refuse)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body == {"ok": False, "database": "unavailable (OperationalError)"}
    assert "hunter2" not in response.content.decode()
    assert "db.internal" not in response.content.decode()
