"""Send rate limits are shared by every sender of the installation.

Most tests run senders on a simulated clock: a sender "sleeps" by moving its own time forward,
so minutes of sending take milliseconds and the counts are exact. Each simulated sender has its
own store, that is its own database connection (or Redis client), as separate processes would.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import threading
import uuid

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.utils import load_backend

from fidele.delivery import ratelimit
from fidele.delivery.models import RateBucket
from fidele.delivery.ratelimit import (
    DatabaseStore,
    MemoryStore,
    RateLimiter,
    RedisStore,
    TokenBucket,
)

EPOCH = 1_800_000_000.0  # simulated times look like real ones: the stores keep epoch seconds
REDIS_TEST_URL = os.environ.get("FIDELE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(autouse=True)
def _fresh_shared_store():
    shared_store = ratelimit.shared_store  # as it is before a test replaces it
    shared_store.cache_clear()
    yield
    if shared_store.cache_info().currsize:
        shared_store().close()  # the test database cannot be dropped while it is open
    shared_store.cache_clear()


# --- stores ----------------------------------------------------------------------------------


def _database_stores(tmp_path):
    """New DatabaseStores, each on its own connection. On SQLite, to a file copy of the test
    database: the in-memory one (shared cache) fails on table locks instead of waiting."""
    if connection.vendor != "sqlite":
        return DatabaseStore
    from tests.delivery.test_crash import database_url

    settings_dict = copy.deepcopy(connections.settings[DEFAULT_DB_ALIAS])
    settings_dict["NAME"] = database_url(tmp_path).removeprefix("sqlite:///")
    backend = load_backend(settings_dict["ENGINE"])
    return lambda: DatabaseStore(connect=lambda: backend.DatabaseWrapper(settings_dict))


def _redis_stores(request):
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {REDIS_TEST_URL}: {exc}")
    prefix = f"fidele-test:{uuid.uuid4().hex}:"

    def cleanup():
        client = redis.Redis.from_url(REDIS_TEST_URL)
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()

    request.addfinalizer(cleanup)
    return lambda: RedisStore(url=REDIS_TEST_URL, prefix=prefix)


@pytest.fixture(params=["database", "redis"])
def make_store(request, tmp_path, transactional_db):
    """Makes independent stores sharing the same buckets, as separate processes would. (The
    database is a transactional one: the stores' own connections must see each other's work.)"""
    factory = _database_stores(tmp_path) if request.param == "database" else _redis_stores(request)
    made = []

    def make():
        made.append(factory())
        return made[-1]

    yield make
    for store in made:
        store.close()


class CountingStore(MemoryStore):
    def __init__(self):
        super().__init__()
        self.takes = []

    def take(self, **kwargs):
        self.takes.append(kwargs)
        return super().take(**kwargs)


# --- a simulated clock -----------------------------------------------------------------------


class Simulation:
    """Senders sending as fast as their limiters let them, on one simulated clock."""

    def __init__(self):
        self.now = EPOCH
        self.slept = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds

    def limiter(self, **kwargs) -> RateLimiter:
        return RateLimiter(clock=self.clock, sleep=self.sleep, **kwargs)

    def run(self, limiters, *, seconds: float, send_cost: float = 0.001) -> list[list[float]]:
        """Each limiter's send times (seconds from the start) during `seconds`: the sender whose
        turn comes first acquires, waits what it is told, sends, and so on."""
        ready = [EPOCH] * len(limiters)
        sent: list[list[float]] = [[] for _ in limiters]
        while min(ready) < EPOCH + seconds:
            index = ready.index(min(ready))
            self.now, self.slept = ready[index], 0.0
            limiters[index].acquire()
            at = ready[index] + self.slept
            if at < EPOCH + seconds:
                sent[index].append(at - EPOCH)
            ready[index] = at + send_cost
        return sent


def busiest_window(times: list[float], width: float) -> int:
    """The most sends in any `width` seconds."""
    times = sorted(times)
    end, best = 0, 0
    for start, first in enumerate(times):
        while end < len(times) and times[end] < first + width:
            end += 1
        best = max(best, end - start)
    return best


# --- the bucket and the limiter, on a fake clock ----------------------------------------------


def test_a_bucket_whose_clock_goes_back_refills_nothing_rather_than_losing_tokens():
    bucket = TokenBucket(rate=1, capacity=10, clock=lambda: 100.0)
    assert bucket.take(4, 100.0) == 6
    assert bucket.take(1, 95.0) == 5  # a sender whose clock is late: no refill
    assert bucket.take(1, 101.0) == 5  # one second after the latest time seen: one back


def test_the_hourly_limit_lets_a_minutes_worth_through_then_paces():
    sim = Simulation()
    (sent,) = sim.run([sim.limiter(per_hour=3600)], seconds=3600)
    assert len([t for t in sent if t < 1]) == 60  # the minute's worth, at once
    assert len(sent) <= 3600 + 60  # no hour more than the limit plus a minute's share
    assert len(sent) >= 3600


def test_the_limiter_honours_both_the_second_and_the_hour_limits():
    sim = Simulation()
    (sent,) = sim.run([sim.limiter(per_second=5, per_hour=360)], seconds=3600)
    assert busiest_window(sent, 1.0) <= 5 + 1
    # 360/hour is 0.1/s with a minute's worth (6) saved up.
    assert 6 + 360 - 1 <= len(sent) <= 6 + 360
    assert sent[6] == pytest.approx(10.0, abs=0.01)
    assert RateLimiter(per_second=5, per_hour=360).messages_per_second == pytest.approx(0.1)


def test_a_sender_takes_a_tenth_of_a_seconds_worth_of_tokens_per_trip_to_the_store():
    store = CountingStore()
    sim = Simulation()
    limiter = sim.limiter(per_second=200, store=store)
    assert limiter.lease_size == 20
    for _ in range(200):
        limiter.acquire()
    assert len(store.takes) == 10
    assert {take["count"] for take in store.takes} == {20}


def test_a_slow_limit_takes_one_token_at_a_time_and_each_trip_serves_both_limits():
    store = CountingStore()
    sim = Simulation()
    limiter = sim.limiter(per_second=100, per_hour=5000, store=store)
    assert limiter.lease_size == 1  # 5,000 an hour is 1.4 a second
    limiter.acquire()
    assert sorted(take["key"] for take in store.takes) == ["send:hour", "send:second"]


def test_a_lease_that_overdraws_the_bucket_waits_until_the_debt_is_refilled():
    sim = Simulation()
    limiter = sim.limiter(per_second=100)  # capacity 100, leases of 10
    for _ in range(100):
        limiter.acquire()
    assert sim.slept == 0
    limiter.acquire()  # the bucket is empty: a lease of 10 is ready in 0.1 s
    assert sim.slept == pytest.approx(0.1)
    sim.slept = 0.0
    for _ in range(9):
        limiter.acquire()  # the rest of that lease, at the same time
    assert sim.slept == pytest.approx(0.9)


def test_no_limit_costs_no_query_and_no_store(db, settings, django_assert_num_queries, monkeypatch):
    settings.SEND_RATE_PER_SECOND = 0
    settings.SEND_RATE_PER_HOUR = 0

    def no_store():
        raise AssertionError("an unlimited sender needs no store")

    monkeypatch.setattr(ratelimit, "shared_store", no_store)
    limiter = RateLimiter.from_settings()
    with django_assert_num_queries(0):
        assert [limiter.acquire() for _ in range(1000)] == [0.0] * 1000
    assert limiter.store is None and limiter.messages_per_second == 0


def test_the_limits_are_shared_through_the_database_unless_redis_is_configured(settings):
    settings.SEND_RATE_PER_HOUR = 5000
    settings.REDIS_URL = ""
    first, second = RateLimiter.from_settings(), RateLimiter.from_settings()
    assert isinstance(first.store, DatabaseStore)
    assert first.store is second.store  # one store (one connection) per process
    first.store.close()
    ratelimit.shared_store.cache_clear()
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    assert isinstance(RateLimiter.from_settings().store, RedisStore)  # connects when used


# --- the shared stores -------------------------------------------------------------------------


def test_every_store_does_the_token_bucket_arithmetic(make_store):
    store, reference = make_store(), MemoryStore()
    steps = [
        # (count, now, capacity): rate 2 per second
        (3, EPOCH, 10),  # a new bucket starts full
        (10, EPOCH + 1, 10),  # two back, then overdrawn
        (1, EPOCH + 0.5, 10),  # a late clock: no refill
        (1, EPOCH + 100, 10),  # refilled, up to the capacity only
        (1, EPOCH + 100, 5),  # the limit was lowered: capped at once
        (0, EPOCH + 100.25, 5),
    ]
    for count, now, capacity in steps:
        expected = reference.take(
            key="send:second", count=count, rate=2, capacity=capacity, now=now
        )
        left = store.take(key="send:second", count=count, rate=2, capacity=capacity, now=now)
        assert left == pytest.approx(expected, abs=1e-6), (count, now, capacity)
    assert left == pytest.approx(4.5)
    # Each limit is its own bucket.
    assert store.take(key="send:hour", count=1, rate=2, capacity=10, now=EPOCH) == 9


def test_two_senders_sharing_the_store_never_send_more_together_than_the_limit(make_store):
    sim = Simulation()
    senders = [sim.limiter(per_second=50, store=make_store()) for _ in range(2)]
    assert senders[0].lease_size == 5
    sent = sim.run(senders, seconds=10)
    everything = sent[0] + sent[1]
    # A second's burst, then 50 a second; each sender may hold one lease it has not used yet.
    assert len(everything) <= 50 + 50 * 10 + 2 * 5
    assert busiest_window(everything, 1.0) <= 50 + 50 + 2 * 5
    assert len(everything) >= 50 * 10  # and they are not starved either
    assert min(len(times) for times in sent) >= 100  # both took their share


def test_senders_sharing_the_store_keep_the_hourly_limit_of_a_warm_up_plan(make_store):
    sim = Simulation()
    # 7,200 an hour (2 a second, a minute's worth of 120 saved up), 10 a second at most.
    senders = [sim.limiter(per_second=10, per_hour=7200, store=make_store()) for _ in range(3)]
    sent = sim.run(senders, seconds=120)
    everything = [t for times in sent for t in times]
    # The minute's worth is spent within 15 s (10 a second in, 2 back); then 2 a second.
    assert len(everything) <= 120 + 2 * 120 + 3
    assert busiest_window(everything, 1.0) <= 10 + 10 + 3
    assert busiest_window([t for t in everything if t >= 20], 30.0) <= 2 * 30 + 1 + 3
    assert len(everything) >= 120 + 2 * 120 - 2 * 3


def test_senders_each_with_their_own_bucket_would_send_twice_the_limit():
    # What the limits were before they were shared: one bucket per sender process.
    sim = Simulation()
    senders = [sim.limiter(per_second=50, store=MemoryStore()) for _ in range(2)]
    sent = sim.run(senders, seconds=10)
    assert len(sent[0] + sent[1]) >= 2 * 50 * 10


def test_senders_racing_for_the_same_bucket_never_get_the_same_tokens(make_store):
    # A frozen clock: nothing is refilled, so each take must see every earlier one.
    stores = [make_store() for _ in range(4)]
    results: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(len(stores))

    def sender(store):
        start.wait()
        for _ in range(40):
            left = store.take(key="send:second", count=1, rate=1.0, capacity=10, now=EPOCH)
            with lock:
                results.append(left)

    threads = [threading.Thread(target=sender, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, reverse=True) == [float(10 - n) for n in range(1, 161)]


def test_a_dropped_database_connection_is_replaced(transactional_db, caplog):
    store = DatabaseStore()
    try:
        assert store.take(key="send:second", count=1, rate=1, capacity=5, now=EPOCH) == 4
        store.connection.connection.close()  # what a database restart leaves behind
        with caplog.at_level(logging.WARNING, logger="fidele.delivery.ratelimit"):
            assert store.take(key="send:second", count=1, rate=1, capacity=5, now=EPOCH) == 3
        assert "trying again on a new connection" in caplog.text
        assert RateBucket.objects.get(key="send:second").tokens == 3
    finally:
        store.close()


def test_a_rate_limited_campaign_is_sent_through_the_shared_bucket(transactional_db, caplog):
    # On PostgreSQL the sender's own connection has the last result's UPDATE in flight when it
    # asks for the next tokens: the bucket must go through a connection of its own.
    from fidele.campaigns.sending import CampaignContent, campaign_start
    from fidele.delivery.engine import Sender
    from fidele.delivery.transports import CaptureTransport
    from tests.factories import make_audience, make_campaign

    campaign = make_campaign(lists=[make_audience(30)])
    campaign_start(campaign_id=campaign.pk)
    sim, store = Simulation(), DatabaseStore()

    def sleep(seconds):
        sim.now += seconds
        sim.slept += seconds

    limiter = RateLimiter(per_second=10, store=store, clock=sim.clock, sleep=sleep)
    try:
        summary = Sender(transport_factory=CaptureTransport, concurrency=1, limiter=limiter).run(
            CampaignContent(campaign.pk)
        )
    finally:
        store.close()
    assert summary.sent == 30 and summary.finished
    assert "send rate limit" not in caplog.text  # no take failed (then succeeded on a retry)
    # Ten at once, then ten a second, one trip to the bucket per message.
    assert sim.slept == pytest.approx(2.0)
    assert RateBucket.objects.get(key="send:second").tokens == pytest.approx(-1.0, abs=1e-4)


@pytest.mark.django_db(transaction=True)
def test_two_sender_processes_keep_together_to_the_per_second_limit(smtp_sink, tmp_path):
    # Real processes, real clocks: `fidele campaign send` twice at once on one campaign. Timings
    # only make the real run longer than the limit requires, so the bound below cannot flake.
    import subprocess
    import sys
    import time

    from fidele.campaigns.sending import campaign_start
    from tests.delivery.test_crash import database_url
    from tests.factories import make_audience, make_campaign

    rate, recipients = 20, 70
    campaign = make_campaign(lists=[make_audience(recipients)])
    campaign_start(campaign_id=campaign.pk)
    received_at: list[float] = []
    handle_data = smtp_sink.handle_DATA

    async def timed_handle_data(server, session, envelope):
        received_at.append(time.monotonic())
        return await handle_data(server, session, envelope)

    smtp_sink.handle_DATA = timed_handle_data
    (tmp_path / "data").mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(tmp_path),
        "FIDELE_DATA_DIR": str(tmp_path / "data"),
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_sink.port}",
        "FIDELE_SEND_RATE_PER_SECOND": str(rate),
        "FIDELE_SEND_BATCH_SIZE": "5",  # so that both processes find work
        "FIDELE_LOG_LEVEL": "ERROR",
    }
    command = [sys.executable, "-m", "fidele", "campaign", "send", str(campaign.pk), "--wait"]
    processes = [
        subprocess.Popen(
            [*command, "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
        # A campaign the engine paused (too many transport errors) says why here.
        assert "paused" not in json.loads(out), out.decode()
    assert sorted(smtp_sink.recipients()) == sorted(f"r{i}@example.com" for i in range(recipients))
    assert len(smtp_sink.sessions) == 2  # both processes sent
    # One bucket: 20 at once, then 50 at 20 a second, 2.5 s. A bucket per process would have
    # let 40 through at once and the rest at 40 a second: 0.75 s.
    assert received_at[-1] - received_at[0] >= 1.5
