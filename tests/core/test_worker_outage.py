"""The database goes away under a running `fidele worker`: it waits, comes back, and goes on.

A real worker subprocess serves a file copy of the test database (SQLite) or the test database
itself (PostgreSQL). The outage: on PostgreSQL, every other connection to the database is
terminated and new ones refused (ALLOW_CONNECTIONS false) for a few seconds; on SQLite, the file
is swapped for one that is not a database. A task queued after the outage must still run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.delivery.test_crash import database_url

OUTAGE_SECONDS = 4


def enqueue(env: dict, marker: Path) -> None:
    code = (
        "import django; django.setup(); from tests.core.worker_tasks import touch; "
        f"touch.enqueue({str(marker)!r})"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)


def wait_for(condition, timeout=60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


class Outage:
    def __init__(self, url: str):
        self.url = url

    @staticmethod
    def _admin(*statements: tuple[str, list]) -> None:
        """Run statements from the maintenance database (a database cannot refuse itself)."""
        import psycopg

        settings = connection.settings_dict
        with psycopg.connect(
            dbname="postgres",
            user=settings["USER"] or None,
            password=settings["PASSWORD"] or None,
            host=settings["HOST"] or "127.0.0.1",
            port=settings["PORT"] or 5432,
            autocommit=True,
        ) as admin:
            for sql, params in statements:
                admin.execute(sql, params)

    def __enter__(self):
        if connection.vendor == "postgresql":
            name = connection.settings_dict["NAME"]
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                mine = cursor.fetchone()[0]
            self._admin(
                (f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false', []),
                (
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> %s",
                    [name, mine],
                ),
            )
        else:
            self.path = Path(self.url.removeprefix("sqlite:///"))
            self.away = self.path.with_suffix(".away")
            os.replace(self.path, self.away)
            self.path.write_bytes(b"this is not a database" * 100)
        return self

    def __exit__(self, *exc):
        if connection.vendor == "postgresql":
            name = connection.settings_dict["NAME"]
            self._admin((f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true', []))
        else:
            os.replace(self.away, self.path)


@pytest.mark.django_db(transaction=True)
def test_the_worker_outlives_a_database_outage_and_runs_the_tasks_queued_after_it(tmp_path):
    url = database_url(tmp_path)
    (tmp_path / "data").mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "FIDELE_DATA_DIR": str(tmp_path / "data"),
        "FIDELE_WORKER_BACKOFF_MAX_SECONDS": "1",
        "DJANGO_SETTINGS_MODULE": "fidele.config.settings",
    }
    before, after = tmp_path / "before", tmp_path / "after"
    enqueue(env, before)
    worker = subprocess.Popen(
        [sys.executable, "-m", "fidele", "worker", "--interval", "0.2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: before.exists() or worker.poll() is not None)
        assert worker.poll() is None
        with Outage(url):
            time.sleep(OUTAGE_SECONDS)
            assert worker.poll() is None, "the worker died during the outage"
        enqueue(env, after)
        wait_for(lambda: after.exists() or worker.poll() is not None)
        assert worker.poll() is None, "the worker died after the outage"
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
        out = worker.communicate(timeout=30)[0].decode()
    assert after.read_text() == "ran", out
    # Logged once when the outage starts and once when it ends, not at every try.
    assert out.count("database unavailable") == 1, out
    assert out.count("database back after") == 1, out
