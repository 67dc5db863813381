"""Kill -9 the sender mid-campaign, start it again: everyone gets one message, bar those in flight.

The sender runs as a real `fidele campaign send ID --wait` subprocess against a real SMTP server
(aiosmtpd, in a thread here, counting what it receives) and the test's own database: on
PostgreSQL the test database itself; on SQLite (whose test database lives in memory) a file copy
made with SQLite's backup API, copied back afterwards so that the same checks run on both.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from urllib.parse import quote

import pytest
from django.db import connection

from fidele.campaigns.models import Campaign
from fidele.delivery.models import OutboxMessage
from tests.factories import make_audience, make_campaign

RECIPIENTS = 300
CONCURRENCY = 2
KILL_AFTER = (70, 170)  # messages received by the sink when each sender is killed


def database_url(tmp_path) -> str:
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        credentials = quote(settings["USER"] or "", safe="")
        if settings["PASSWORD"]:
            credentials += ":" + quote(settings["PASSWORD"], safe="")
        host = f"{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}"
        return f"postgres://{credentials}@{host}/{settings['NAME']}"
    path = tmp_path / "crash.sqlite3"
    connection.ensure_connection()
    target = sqlite3.connect(path)
    connection.connection.backup(target)
    target.close()
    return f"sqlite:///{path}"


def copy_back(url: str) -> None:
    if connection.vendor != "sqlite":
        return
    source = sqlite3.connect(url.removeprefix("sqlite:///"))
    source.backup(connection.connection)
    source.close()


def sender(campaign_id, env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "fidele", "campaign", "send", str(campaign_id), "--wait", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.005)


@pytest.mark.django_db(transaction=True)
def test_a_sender_killed_mid_campaign_and_restarted_sends_everyone_exactly_once(
    smtp_sink, tmp_path
):
    campaign = make_campaign(lists=[make_audience(RECIPIENTS)])
    smtp_sink.delay = 0.004
    url = database_url(tmp_path)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "FIDELE_DATA_DIR": str(tmp_path / "data"),
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_sink.port}",
        "FIDELE_SEND_CONCURRENCY": str(CONCURRENCY),
        "FIDELE_SEND_BATCH_SIZE": "25",
        "FIDELE_LOG_LEVEL": "ERROR",
    }
    (tmp_path / "data").mkdir()
    for threshold in KILL_AFTER:
        process = sender(campaign.pk, env)
        try:
            wait_for(lambda t=threshold: len(smtp_sink.messages) >= t or process.poll() is not None)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()
        assert len(smtp_sink.messages) < RECIPIENTS
    final = sender(campaign.pk, env)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode()
    result = json.loads(out)
    copy_back(url)

    received = collections.Counter(smtp_sink.recipients())
    expected = set(OutboxMessage.objects.filter(campaign=campaign).values_list("email", flat=True))
    assert len(expected) == RECIPIENTS
    assert set(received) == expected  # nobody lost
    duplicates = sum(count - 1 for count in received.values())
    print(f"received {len(smtp_sink.messages)} messages, {duplicates} duplicate(s)")
    assert duplicates <= len(KILL_AFTER) * CONCURRENCY
    assert result["sent"] == RECIPIENTS and result["failed"] == 0 and result["skipped"] == 0
    assert Campaign.objects.get(pk=campaign.pk).status == "sent"
    assert not OutboxMessage.objects.filter(campaign=campaign).exclude(status="sent").exists()


@pytest.mark.django_db(transaction=True)
def test_sigterm_stops_the_sender_cleanly_and_a_restart_finishes_the_campaign(smtp_sink, tmp_path):
    campaign = make_campaign(lists=[make_audience(120)])
    smtp_sink.delay = 0.004
    url = database_url(tmp_path)
    (tmp_path / "data").mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "FIDELE_DATA_DIR": str(tmp_path / "data"),
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_sink.port}",
        "FIDELE_SEND_CONCURRENCY": "1",
        "FIDELE_LOG_LEVEL": "ERROR",
    }
    process = sender(campaign.pk, env)
    wait_for(lambda: len(smtp_sink.messages) >= 30 or process.poll() is not None)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err.decode()
    stopped = json.loads(out)
    assert 30 <= stopped["sent"] < 120
    assert stopped["sent"] == len(smtp_sink.messages)  # a clean stop leaves nothing in flight
    final = sender(campaign.pk, env)
    out, err = final.communicate(timeout=60)
    assert final.returncode == 0, err.decode()
    copy_back(url)
    received = collections.Counter(smtp_sink.recipients())
    assert len(received) == 120 and set(received.values()) == {1}
    assert json.loads(out)["sent"] == 120
