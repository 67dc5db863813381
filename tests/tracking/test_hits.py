"""The hits queue: the endpoints append, the drain records (issue 9, item 7).

What must hold: an answered request is never lost (not when the server is killed before any
drain, not when a drain dies half-way), never recorded twice (drain again, drain at once), and
judged as if it had been recorded on arrival (the request's time, its message's other clicks).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fidele.core.tasks import recurring_jobs
from fidele.tracking import sql as tracking_sql
from fidele.tracking.hits import hits_drain
from fidele.tracking.models import EmailEvent, QueuedHit
from fidele.tracking.tasks import hits_drain_task
from fidele.tracking.tokens import token_make
from tests.delivery.test_crash import copy_back, database_url
from tests.factories import make_contact, make_outbox
from tests.smtp_sink import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _queue_connection_closed():
    """The endpoints outside a transaction open the queue's own connection: closed after each
    test, so that the test database can be dropped."""
    yield
    tracking_sql.queue_connection_close()


FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"


def open_url(outbox_id: int) -> str:
    return f"/t/o/{token_make(purpose='open', subject_id=outbox_id)}.gif"


def click_url(outbox_id: int, url: str) -> str:
    token = token_make(purpose="click", subject_id=outbox_id, extra=url)
    return f"/t/c/{token}/?u={quote(url, safe='')}"


def people(count: int) -> list:
    return [make_outbox(contact=make_contact(f"p{n}@example.fr")) for n in range(count)]


# --- nothing lost, nothing twice -------------------------------------------------------------


def test_draining_twice_records_each_hit_once(client):
    outbox = make_outbox()
    client.get(open_url(outbox.pk), HTTP_USER_AGENT=FIREFOX)
    client.get(click_url(outbox.pk, "https://cave-de-lea.fr/vins"), HTTP_USER_AGENT=FIREFOX)

    assert (hits_drain(), hits_drain()) == (2, 0)
    assert EmailEvent.objects.count() == 2
    assert not QueuedHit.objects.exists()  # the address and user agent are gone with the hit


def test_a_drain_that_dies_half_way_leaves_its_batch_queued_and_the_next_records_it_once(
    client, monkeypatch
):
    for outbox in people(5):
        client.get(open_url(outbox.pk), HTTP_USER_AGENT=FIREFOX)
    batches = []
    real = tracking_sql.events_insert

    def dies_on_the_second_batch(rows):
        real(rows)  # written, not committed yet
        batches.append(len(rows))
        if len(batches) == 2:
            raise RuntimeError("killed")

    monkeypatch.setattr(tracking_sql, "events_insert", dies_on_the_second_batch)
    with pytest.raises(RuntimeError):
        hits_drain(batch=2)
    assert (EmailEvent.objects.count(), QueuedHit.objects.count()) == (2, 3)

    monkeypatch.setattr(tracking_sql, "events_insert", real)
    assert hits_drain(batch=2) == 3
    assert EmailEvent.objects.count() == 5
    assert EmailEvent.objects.values("outbox_id").distinct().count() == 5


@pytest.mark.django_db(transaction=True)
def test_hits_answered_by_a_server_killed_before_any_drain_are_in_the_report_afterwards(
    tmp_path,
):
    """A real gunicorn on the test's database answers an open and a click, then is killed
    (SIGKILL, no chance to flush anything); `fidele campaign report --json`, run afterwards,
    drains the queue and counts both."""
    from django.conf import settings

    outbox = make_outbox()
    url = database_url(tmp_path)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "FIDELE_DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": settings.SECRET_KEY,
        "FIDELE_LOG_LEVEL": "ERROR",
    }
    (tmp_path / "data").mkdir()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "fidele.config.wsgi:application", "-w", "1",
         "-b", f"127.0.0.1:{port}", "--log-level", "error"],
        env=env, start_new_session=True,
    )  # fmt: skip
    target = "https://cave-de-lea.fr/vins"
    opener = urllib.request.build_opener(NoRedirect)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                pixel = opener.open(as_a_person(base + open_url(outbox.pk)), timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)
        assert pixel.status == 200
        redirect = opener.open(as_a_person(base + click_url(outbox.pk, target)), timeout=5)
        assert (redirect.status, redirect.headers["Location"]) == (302, target)
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    copy_back(url)

    assert QueuedHit.objects.count() == 2
    out = io.StringIO()
    call_command("campaign", "report", str(outbox.campaign_id), "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert (report["opens_human"], report["clicks_human"]) == (1, 1)
    assert sorted(EmailEvent.objects.values_list("type", "outbox_id", "url")) == [
        ("click", outbox.pk, target),
        ("open", outbox.pk, ""),
    ]


def as_a_person(url: str) -> urllib.request.Request:
    """A browser's request (urllib's own user agent is a robot's)."""
    return urllib.request.Request(url, headers={"User-Agent": FIREFOX})


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """The redirect itself is the answer looked at, not the shop's page behind it."""

    def http_error_302(self, req, fp, code, msg, headers):
        return fp


@pytest.mark.django_db(transaction=True)
def test_two_drains_at_once_record_each_hit_once(client):
    if connection.vendor == "sqlite":
        pytest.skip(
            "SQLite's in-memory test database (shared cache) fails on table locks instead of "
            "waiting; on a file, its IMMEDIATE transactions let one drain in at a time"
        )
    outboxes = people(3)
    for n in range(100):
        for outbox in outboxes:
            client.get(click_url(outbox.pk, f"https://cave-de-lea.fr/{n}"))
    counts = []

    def drain():
        try:
            counts.append(hits_drain(batch=50))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=drain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(counts) == 300
    assert EmailEvent.objects.count() == 300


@pytest.mark.django_db(transaction=True)
def test_a_hit_arriving_after_the_database_restarted_is_queued_on_a_new_connection(client):
    if connection.vendor == "sqlite":
        pytest.skip("no database server to restart")
    outbox = make_outbox()
    client.get(open_url(outbox.pk))  # the queue's connection, kept for the next request
    with tracking_sql._queue_connection()[0].cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid(), current_setting('synchronous_commit')")
        old, commit = cursor.fetchone()
    assert commit == "off"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [old])

    response = client.get(open_url(outbox.pk))

    assert response.status_code == 200
    with tracking_sql._queue_connection()[0].cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != old
    assert QueuedHit.objects.count() == 2


# --- judged as on arrival ----------------------------------------------------------------------


def test_a_hit_keeps_the_time_of_its_request_however_late_it_is_drained(client):
    # Gmail's proxy fetched the pixel four seconds after the send; the drain runs ten minutes
    # later: still a fetch on delivery, not a reader.
    sent = timezone.now() - dt.timedelta(minutes=10)
    outbox = make_outbox(sent_at=sent)
    gmail = "Mozilla/5.0 (Windows NT 5.1) Firefox/11.0 (via ggpht.com GoogleImageProxy)"
    client.get(open_url(outbox.pk), HTTP_USER_AGENT=gmail, REMOTE_ADDR="66.249.84.1")
    QueuedHit.objects.update(at=sent + dt.timedelta(seconds=4))

    hits_drain()

    event = EmailEvent.objects.get()
    assert (event.at, event.reason, event.network) == (
        sent + dt.timedelta(seconds=4),
        "image_proxy",
        "66.249.84.0/24",
    )


def test_hits_of_a_message_that_no_longer_exists_are_dropped(client):
    gone, kept = people(2)
    client.get(open_url(gone.pk))
    client.get(open_url(kept.pk))
    gone.delete()

    assert hits_drain() == 2
    assert list(EmailEvent.objects.values_list("outbox_id", flat=True)) == [kept.pk]


def test_a_drain_costs_the_same_queries_for_thirty_hits_as_for_three(client):
    def queries_to_drain(outboxes) -> int:
        for outbox in outboxes:
            client.get(open_url(outbox.pk), HTTP_USER_AGENT=FIREFOX)
            client.get(click_url(outbox.pk, "https://cave-de-lea.fr/vins"))
            client.get(click_url(outbox.pk, "https://cave-de-lea.fr/fromages"))
        with CaptureQueriesContext(connection) as queries:
            hits_drain()
        return len(queries)

    few = queries_to_drain(people(1))
    many = queries_to_drain(
        [make_outbox(contact=make_contact(f"q{n}@example.fr")) for n in range(10)]
    )
    assert few == many
    assert EmailEvent.objects.count() == 33


# --- who drains ---------------------------------------------------------------------------------


def test_the_worker_drains_every_few_seconds_and_forgets_its_old_runs(client):
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    assert "tracking-hits-drain" in recurring_jobs()
    client.get(open_url(make_outbox().pk))
    old = DBTaskResult.objects.create(
        task_path=hits_drain_task.module_path,
        status=TaskResultStatus.SUCCESSFUL,
        args_kwargs={"args": [], "kwargs": {}},
        backend_name="default",
        queue_name="default",
        run_after=timezone.now(),
        finished_at=timezone.now() - dt.timedelta(hours=2),
    )

    assert hits_drain_task.call() == 1

    assert EmailEvent.objects.count() == 1
    waiting = DBTaskResult.objects.filter(
        task_path=hits_drain_task.module_path, status=TaskResultStatus.READY
    )
    assert waiting.count() == 1  # the next run
    assert not DBTaskResult.objects.filter(pk=old.pk).exists()


def test_the_workers_log_leaves_out_the_drains_that_went_well(caplog):
    import logging

    from fidele.tracking.tasks import hits_drain_schedule

    hits_drain_schedule()  # what the worker does when it starts
    tasks_log = logging.getLogger("django_tasks")
    with caplog.at_level(logging.INFO, logger="django_tasks"):
        for state, log in (("SUCCESSFUL", tasks_log.info), ("FAILED", tasks_log.error)):
            log("Task id=%s path=%s state=%s", "42", hits_drain_task.module_path, state)
        tasks_log.info("Task id=%s path=%s state=%s", "43", "fidele.imports.tasks.x", "SUCCESSFUL")

    assert [record.args[0] for record in caplog.records] == ["42", "43"]
    assert caplog.records[0].levelname == "ERROR"


def test_the_drain_command_records_the_queue_and_says_how_many(client):
    client.get(open_url(make_outbox().pk))
    out = io.StringIO()

    call_command("tracking", "drain", "--json", stdout=out)

    result = json.loads(out.getvalue())
    assert result["drained"] == 1 and isinstance(result["seconds"], float)
    assert EmailEvent.objects.count() == 1
