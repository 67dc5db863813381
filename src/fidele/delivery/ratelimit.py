"""Send rate limits shared by every sender of the installation.

A warm-up plan ("at most 5,000 per hour from the new domain") is a promise made by the whole
installation, not by one process: two sender processes, or two machines, must share it. Each
limit is a token bucket whose state lives in one place every sender reaches: a row of the
database (the default, on SQLite and PostgreSQL alike) or a Redis key when REDIS_URL is set.

Asking the shared store for every message would put a round trip (and a row lock every sender
queues on) in front of each send. A sender instead takes a lease of `lease_size` tokens at a time,
about a tenth of a second's worth (at least one), and hands them out locally. A lease may
overdraw the bucket: the store then says when the debt will have been refilled, and the lease's
tokens are used no earlier than that, so the grants of all senders together follow one token
bucket. What a sender holds and has not used yet is its only head start: together the senders
never exceed a limit by more than one lease each. A sender that stops loses the tokens it held
(they are not given back, so they cannot be spent twice).

Times are wall-clock seconds since the epoch, taken by each sender, since the state is compared
across processes and machines (keep their clocks synchronised, as NTP does). A clock that is
late only waits; one that is early by d seconds gains at most d seconds of refill, once.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

logger = logging.getLogger(__name__)

# A lease is this many seconds of the slowest limit's rate.
LEASE_SECONDS = 0.1


class TokenBucket:
    """`rate` tokens per second, at most `capacity` saved up; a take may overdraw it.

    `reserve()` takes one token and says how long to wait before using it (0 when one is
    available): callers sleep outside any lock. The same arithmetic as the SQL and Lua of the
    shared stores below, which are tested against it.
    """

    def __init__(
        self, *, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic
    ):
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self.clock = clock
        self.tokens = self.capacity
        self.updated = clock()
        self.lock = threading.Lock()

    def take(self, count: float, now: float) -> float:
        """Take `count` tokens at `now`; returns the tokens left, negative for a debt."""
        with self.lock:
            refill = max(0.0, now - self.updated) * self.rate
            self.tokens = min(self.capacity, self.tokens + refill) - count
            self.updated = max(self.updated, now)
            return self.tokens

    def reserve(self) -> float:
        left = self.take(1, self.clock())
        return 0.0 if left >= 0 else -left / self.rate


class BucketStore(Protocol):
    def take(self, *, key: str, count: int, rate: float, capacity: float, now: float) -> float:
        """Take `count` tokens from the bucket `key` (created full) at `now`, after refilling it
        at `rate` per second up to `capacity`, in one atomic step. Returns the tokens left:
        negative when the caller must wait `-left / rate` seconds before using them."""
        ...

    def close(self) -> None: ...


class MemoryStore:
    """Buckets in this process only: for tests, and for a limiter nobody else shares."""

    def __init__(self) -> None:
        self.buckets: dict[str, TokenBucket] = {}
        self.lock = threading.Lock()

    def take(self, *, key: str, count: int, rate: float, capacity: float, now: float) -> float:
        with self.lock:
            bucket = self.buckets.get(key)
            if bucket is None:
                bucket = self.buckets[key] = TokenBucket(
                    rate=rate, capacity=capacity, clock=lambda: now
                )
            bucket.rate, bucket.capacity = rate, capacity
        return bucket.take(count, now)

    def close(self) -> None:
        pass


class DatabaseStore:
    """Buckets in the RateBucket table, one row per limit, each take one upsert statement.

    The statement refills and takes in one step under the row's lock (PostgreSQL's ON CONFLICT
    DO UPDATE locks the row and reads its latest version; SQLite runs one writer at a time), so
    no sender ever reads a stale count, and it holds the lock for the statement alone, not for a
    round trip. It creates the row, full, the first time.

    The store has a connection of its own, not the sender thread's: the sender's connection may
    have a result UPDATE in flight when the limiter is asked (see engine.ResultWriter), and the
    bucket's commit must not wait for, or join, anything of the sender's. One connection per
    process, used under a lock by the process's sender threads.
    """

    def __init__(self, *, connect: Callable[[], Any] | None = None, alias: str = DEFAULT_DB_ALIAS):
        self._connect = connect or (lambda: connections.create_connection(alias))
        self._db: Any = None
        self._pid = os.getpid()
        self._sql = ""
        self.lock = threading.Lock()

    @property
    def connection(self) -> Any:
        if self._pid != os.getpid():
            # Inherited through fork: the parent's socket, neither ours to use nor to close.
            self._db, self._pid = None, os.getpid()
        if self._db is None:
            db = self._connect()
            db.inc_thread_sharing()  # used by every sender thread, one at a time (self.lock)
            self._db, self._sql = db, _upsert_sql(db)
        return self._db

    def take(self, *, key: str, count: int, rate: float, capacity: float, now: float) -> float:
        params = [key, capacity - count, now, capacity, rate, count]
        with self.lock:
            try:
                return self._execute(params)
            except DatabaseError as exc:
                # Mostly a connection the server dropped (a restart, an idle timeout): once more
                # on a new one; an error that is not about the connection comes back the same.
                # At worst the failed statement had taken its tokens: they are lost.
                logger.warning("send rate limit: %s; trying again on a new connection", exc)
                self._discard()
                return self._execute(params)

    def _execute(self, params: list[Any]) -> float:
        with self.connection.cursor() as cursor:
            cursor.execute(self._sql, params)
            return float(cursor.fetchone()[0])

    def _discard(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            # Already broken: the error that matters was raised (or is about to be).
            with contextlib.suppress(Exception):
                db.close()

    def close(self) -> None:
        with self.lock:
            self._discard()


def _upsert_sql(db: Any) -> str:
    from fidele.delivery.models import RateBucket

    quote = db.ops.quote_name
    table = quote(RateBucket._meta.db_table)
    least, greatest = ("MIN", "MAX") if db.vendor == "sqlite" else ("LEAST", "GREATEST")
    # Parameters: key, tokens of a new row (capacity - count), now, capacity, rate, count. The
    # table name comes from the model; every value is a parameter.
    return (
        f"INSERT INTO {table} AS bucket ({quote('key')}, {quote('tokens')}, "  # noqa: S608
        f"{quote('updated_at')}) VALUES (%s, %s, %s) "
        f"ON CONFLICT ({quote('key')}) DO UPDATE SET "
        f"{quote('tokens')} = {least}(%s, bucket.{quote('tokens')} + {greatest}(0.0, "
        f"excluded.{quote('updated_at')} - bucket.{quote('updated_at')}) * %s) - %s, "
        f"{quote('updated_at')} = {greatest}(bucket.{quote('updated_at')}, "
        f"excluded.{quote('updated_at')}) "
        f"RETURNING {quote('tokens')}"
    )


# KEYS[1]: the bucket; ARGV: count, rate, capacity, now. The same arithmetic as the SQL above. The
# key expires once the bucket would be full again: a missing key is a full bucket.
_REDIS_TAKE = """
local count, rate = tonumber(ARGV[1]), tonumber(ARGV[2])
local capacity, now = tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens, updated = tonumber(state[1]), tonumber(state[2])
if tokens == nil or updated == nil then
  tokens, updated = capacity, now
end
tokens = math.min(capacity, tokens + math.max(0, now - updated) * rate) - count
updated = math.max(updated, now)
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'updated', string.format('%.17g', updated))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate * 1000) + 1000)
return string.format('%.17g', tokens)
"""


class RedisStore:
    """Buckets in Redis (REDIS_URL): one hash per limit, each take one Lua script, atomic."""

    def __init__(self, *, url: str, prefix: str = "fidele:ratelimit:"):
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10)
        self.prefix = prefix
        self.script = self.client.register_script(_REDIS_TAKE)

    def take(self, *, key: str, count: int, rate: float, capacity: float, now: float) -> float:
        left = self.script(
            keys=[self.prefix + key], args=[count, repr(rate), repr(capacity), repr(now)]
        )
        return float(left)

    def close(self) -> None:
        self.client.close()


@functools.cache
def shared_store() -> BucketStore:
    """The installation's buckets, one store per process: Redis when REDIS_URL is set, else the
    database. Connects at the first take, not before."""
    if settings.REDIS_URL:
        return RedisStore(url=settings.REDIS_URL)
    return DatabaseStore()


class RateLimiter:
    """Messages per second and per hour for the whole installation (0 = no limit).

    The hourly bucket holds a minute's worth of messages, so that no hour ever sees more than
    the limit plus one minute's share: what an IP warm-up plan means by "N per hour". Senders
    sharing `store` share the limits (see the module's docstring); the default store is this
    process's own, as every limiter was before the limits were shared.
    """

    def __init__(
        self,
        *,
        per_second: float = 0,
        per_hour: float = 0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        store: BucketStore | None = None,
        key_prefix: str = "send",
    ):
        # (key, tokens per second, capacity)
        self.limits: list[tuple[str, float, float]] = []
        if per_second:
            self.limits.append((f"{key_prefix}:second", per_second, max(1.0, per_second)))
        if per_hour:
            rate = per_hour / 3600.0
            self.limits.append((f"{key_prefix}:hour", rate, max(1.0, per_hour / 60.0)))
        self.clock = clock
        self.sleep = sleep
        self.messages_per_second = min([rate for _, rate, _ in self.limits] or [0.0])
        self.lease_size = max(1, int(self.messages_per_second * LEASE_SECONDS))
        self.store: BucketStore | None = None
        if self.limits:
            self.store = store if store is not None else MemoryStore()
        self._lock = threading.Lock()
        self._left = 0  # tokens of the current lease not handed out yet
        self._ready_at = 0.0  # when they may be used

    @classmethod
    def from_settings(cls) -> RateLimiter:
        per_second, per_hour = settings.SEND_RATE_PER_SECOND, settings.SEND_RATE_PER_HOUR
        if not (per_second or per_hour):
            return cls()
        return cls(per_second=per_second, per_hour=per_hour, store=shared_store())

    def acquire(self) -> float:
        """Wait until one more message may go; returns the seconds waited."""
        if not self.limits:
            return 0.0
        with self._lock:
            if self._left <= 0:
                self._ready_at = self._lease()
                self._left = self.lease_size
            self._left -= 1
            ready_at = self._ready_at
        wait = ready_at - self.clock()
        if wait <= 0:
            return 0.0
        self.sleep(wait)
        return wait

    def _lease(self) -> float:
        """Takes `lease_size` tokens from every limit; returns when they may be used."""
        assert self.store is not None
        now = ready_at = self.clock()
        for key, rate, capacity in self.limits:
            left = self.store.take(
                key=key, count=self.lease_size, rate=rate, capacity=capacity, now=now
            )
            if left < 0:
                ready_at = max(ready_at, now - left / rate)
        return ready_at
