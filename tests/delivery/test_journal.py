"""The sender's journal: results kept in a local file until they are copied to the outbox table,
and recorded by whoever recovers the claims of a sender that died."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fidele.campaigns.sending import campaign_start
from fidele.delivery.engine import ResultWriter
from fidele.delivery.journal import journal_records, journals_left
from fidele.delivery.models import OutboxMessage
from fidele.delivery.store import HOST_KEY, DjangoSendStore, claimer_name
from fidele.delivery.transports import TransportResult
from tests.factories import make_audience, make_campaign

pytestmark = pytest.mark.django_db

store = DjangoSendStore()


def batch_claim(**kwargs):
    return store.batch_claim(contact_fields=(), **kwargs)


def claims_recover(**kwargs):
    return store.claims_recover(**kwargs)


def journals_recover():
    return store.journals_recover()


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


def started(count):
    campaign = make_campaign(lists=[make_audience(count)])
    campaign_start(campaign_id=campaign.pk)
    return campaign


def gone_claimer() -> str:
    """The name a sender process of this machine had, once that process has exited."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return f"{HOST_KEY}:{process.pid}:0badc0de"


def statuses(campaign):
    return dict(
        OutboxMessage.objects.filter(campaign=campaign).values_list("id", "status").order_by("id")
    )


def test_results_stay_in_the_journal_until_flushed_then_reach_the_table():
    campaign = started(3)
    claimer = claimer_name()
    batch = batch_claim(campaign_id=campaign.pk, claimer=claimer, limit=3)
    writer = ResultWriter(claimer=claimer, max_attempts=5, retry_base=60)
    writer.write(batch[0], TransportResult.ok("<a@x>"), "sent", None)
    writer.skipped(batch[1], "suppressed: complaint")
    assert set(statuses(campaign).values()) == {"claimed"}
    assert [record[:2] for record in journal_records(writer.journal.path)] == [
        [batch[0].pk, "sent"],
        [batch[1].pk, "skipped"],
    ]
    writer.flush()
    assert list(statuses(campaign).values()) == ["sent", "skipped", "claimed"]
    assert journal_records(writer.journal.path) == []
    row = OutboxMessage.objects.get(pk=batch[0].pk)
    assert (row.message_id, row.attempts, row.claimed_by) == ("<a@x>", 1, "")
    assert row.sent_at is not None
    writer.close()
    assert not writer.journal.path.exists()


def test_the_journal_of_a_sender_that_died_is_recorded_before_its_rows_go_back_to_the_queue():
    campaign = started(4)
    claimer = gone_claimer()
    batch = batch_claim(campaign_id=campaign.pk, claimer=claimer, limit=4)
    writer = ResultWriter(claimer=claimer, max_attempts=5, retry_base=60)
    writer.write(batch[0], TransportResult.ok("<a@x>"), "sent", None)
    writer.write(batch[1], TransportResult.hard("550 5.1.1 unknown"), "failed", None)
    # The process is killed here: nothing was copied to the table.
    assert set(statuses(campaign).values()) == {"claimed"}

    assert claims_recover(campaign_id=campaign.pk) == 2
    assert list(statuses(campaign).values()) == ["sent", "failed", "queued", "queued"]
    assert OutboxMessage.objects.get(pk=batch[1].pk).error == "550 5.1.1 unknown"
    assert list(journals_left()) == []


def test_a_journal_applied_twice_changes_nothing_the_second_time():
    campaign = started(2)
    claimer = gone_claimer()
    batch = batch_claim(campaign_id=campaign.pk, claimer=claimer, limit=2)
    writer = ResultWriter(claimer=claimer, max_attempts=5, retry_base=60)
    writer.write(batch[0], TransportResult.ok("<a@x>"), "sent", None)
    copy = writer.journal.path.read_bytes()
    assert journals_recover() == 1
    writer.journal.path.write_bytes(copy)  # as if a second recovery had read it too
    assert journals_recover() == 0
    assert OutboxMessage.objects.get(pk=batch[0].pk).attempts == 1


def test_the_journal_of_a_running_sender_is_left_alone():
    campaign = started(2)
    claimer = claimer_name()  # this very process
    batch = batch_claim(campaign_id=campaign.pk, claimer=claimer, limit=2)
    writer = ResultWriter(claimer=claimer, max_attempts=5, retry_base=60)
    writer.write(batch[0], TransportResult.ok("<a@x>"), "sent", None)
    assert journals_recover() == 0
    assert claims_recover(campaign_id=campaign.pk) == 0
    assert set(statuses(campaign).values()) == {"claimed"}
    assert os.path.exists(writer.journal.path)


def test_an_unreadable_line_in_a_journal_is_skipped_and_the_rest_recorded(caplog):
    campaign = started(2)
    claimer = gone_claimer()
    batch = batch_claim(campaign_id=campaign.pk, claimer=claimer, limit=2)
    writer = ResultWriter(claimer=claimer, max_attempts=5, retry_base=60)
    writer.write(batch[0], TransportResult.ok("<a@x>"), "sent", None)
    with open(writer.journal.path, "ab") as handle:
        handle.write(b'{"not a record\n')
    writer.write(batch[1], TransportResult.ok("<b@x>"), "sent", None)
    assert journals_recover() == 2
    assert "unreadable" in caplog.text


def test_a_journal_its_writer_could_not_copy_is_recorded_later_by_the_same_process(monkeypatch):
    campaign = started(2)
    claimer = claimer_name()  # this very process, which goes on running (a worker)
    batch = batch_claim(campaign_id=campaign.pk, claimer=claimer, limit=2)
    writer = ResultWriter(claimer=claimer, max_attempts=5, retry_base=60)
    writer.write(batch[0], TransportResult.ok("<a@x>"), "sent", None)
    original = DjangoSendStore.results_apply

    def database_down(*args, **kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(DjangoSendStore, "results_apply", database_down)
    with pytest.raises(RuntimeError):
        writer.close()
    assert writer.journal.path.exists()
    monkeypatch.setattr(DjangoSendStore, "results_apply", original)
    claims_recover(campaign_id=campaign.pk)
    # The row it never sent stays claimed until its lease runs out, as before.
    assert list(statuses(campaign).values()) == ["sent", "claimed"]
    assert not writer.journal.path.exists()
