from __future__ import annotations

import pytest

from fidele.core import permissions
from tests.factories import make_user

pytest_plugins = ["tests.browser", "tests.smtp_sink", "tests.migrations"]


def pytest_configure(config):
    from django.conf import settings

    # Hashing test passwords with PBKDF2 costs most of the suite's time; nothing here tests it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def owner(db):
    return make_user(permissions.OWNER)


@pytest.fixture
def marketer(db):
    return make_user(permissions.MARKETER)


@pytest.fixture
def viewer(db):
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


@pytest.fixture(autouse=True)
def _website_caches_reset():
    """The website endpoint's per-process caches (sites, salts, hits per minute) hold rows a
    previous test rolled back: every test starts without them."""
    from fidele.tracking.site import site_counters_reset
    from fidele.tracking.site_config import sites_changed

    sites_changed()
    site_counters_reset()


@pytest.fixture(autouse=True)
def _login_lockouts_reset(request, django_db_blocker):
    """No test inherits another's failed logins. django-axes keeps them in the database, which
    each test rolls back; a test that commits (a live server for the browser, a transactional
    test) also has its attempts cleared here."""
    yield
    if {"transactional_db", "live_server"} & set(request.fixturenames):
        from axes.utils import reset

        with django_db_blocker.unblock():
            reset()
