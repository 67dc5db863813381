"""`fidele quickstart --prepare-only` (what `make run` does before serving)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from fidele.accounts.models import User
from fidele.core.models import AuditLog

pytestmark = pytest.mark.django_db


def prepare(tmp_path, settings) -> str:
    settings.DATA_DIR = tmp_path
    out = io.StringIO()
    call_command("quickstart", prepare_only=True, no_demo=True, stdout=out)
    return out.getvalue()


def test_the_first_start_creates_an_owner_and_prints_how_to_log_in(tmp_path, settings):
    printed = prepare(tmp_path, settings)
    owner = User.objects.get()
    username, password = (tmp_path / "owner-credentials.txt").read_text().strip().split(":", 1)
    assert (owner.username, owner.role) == (username, "owner") == ("proprietaire", "owner")
    assert owner.check_password(password)
    assert password in printed and "http://127.0.0.1:8000/" in printed
    assert (tmp_path / "owner-credentials.txt").stat().st_mode & 0o077 == 0
    assert AuditLog.objects.filter(action="create", object_type="accounts.user").exists()


def test_a_later_start_prints_the_same_account_and_creates_nothing(tmp_path, settings):
    first = prepare(tmp_path, settings)
    second = prepare(tmp_path, settings)
    assert User.objects.count() == 1
    password = (tmp_path / "owner-credentials.txt").read_text().strip().split(":", 1)[1]
    assert password in first and password in second


def test_a_changed_password_is_not_printed_again(tmp_path, settings):
    prepare(tmp_path, settings)
    owner = User.objects.get()
    owner.set_password("a new password chosen by the owner")
    owner.save()
    assert "(changed since)" in prepare(tmp_path, settings)


def test_the_app_serves_on_and_the_worker_is_started_again_when_it_stops(monkeypatch):
    import time

    from fidele.demo.management.commands import quickstart

    started: list[FakeProcess] = []

    class FakeProcess:
        def __init__(self, args, **kwargs):
            self.is_worker = args[-1] == "worker"
            # The first worker dies at once; the web app stops once a second worker runs.
            self.returncode = 1 if self.is_worker and not started else None
            started.append(self)

        def poll(self):
            if not self.is_worker and sum(p.is_worker for p in started) >= 2:
                self.returncode = 0
            return self.returncode

        def wait(self, timeout=None):
            time.sleep(0.05)
            return self.poll()

        def terminate(self):
            self.returncode = -15

    monkeypatch.setattr(quickstart.subprocess, "Popen", FakeProcess)
    monkeypatch.setattr(quickstart.signal, "signal", lambda *a: None)  # leave the real handlers
    quickstart.Command()._serve("127.0.0.1:0")

    assert [p.is_worker for p in started] == [True, False, True]
