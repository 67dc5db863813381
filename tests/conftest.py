from __future__ import annotations

import pytest

from fidele.core import permissions

pytest_plugins = ["tests.browser"]


def pytest_configure(config):
    from django.conf import settings

    # Hashing test passwords with PBKDF2 costs most of the suite's time; nothing here tests it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_user(db, django_user_model):
    def make(role: str = permissions.OWNER, username: str | None = None):
        return django_user_model.objects.create_user(
            username=username or f"{role}-user", password="correct horse battery", role=role
        )

    return make


@pytest.fixture
def owner(make_user):
    return make_user(permissions.OWNER)


@pytest.fixture
def marketer(make_user):
    return make_user(permissions.MARKETER)


@pytest.fixture
def viewer(make_user):
    return make_user(permissions.VIEWER)


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def marketer_client(client, marketer):
    client.force_login(marketer)
    return client


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client
