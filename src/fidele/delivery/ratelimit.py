"""Send rate limits: messages per second and per hour."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from django.conf import settings


class TokenBucket:
    """`rate` tokens per second, at most `capacity` saved up. `reserve()` takes one token and says
    how long to wait before using it (0 when one is available): callers sleep outside any lock."""

    def __init__(
        self, *, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic
    ):
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self.clock = clock
        self.tokens = self.capacity
        self.updated = clock()
        self.lock = threading.Lock()

    def reserve(self) -> float:
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            self.tokens -= 1
            if self.tokens >= 0:
                return 0.0
            return -self.tokens / self.rate


class RateLimiter:
    """Messages per second and per hour for one sender process (0 = no limit).

    The hourly bucket holds a minute's worth of messages, so that no hour ever sees more than
    the limit plus one minute's share: what an IP warm-up plan means by "N per hour".
    """

    def __init__(
        self,
        *,
        per_second: float = 0,
        per_hour: float = 0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.buckets = []
        if per_second:
            self.buckets.append(TokenBucket(rate=per_second, capacity=per_second, clock=clock))
        if per_hour:
            self.buckets.append(
                TokenBucket(rate=per_hour / 3600.0, capacity=per_hour / 60.0, clock=clock)
            )
        self.sleep = sleep
        self.messages_per_second = min(
            [value for value in (per_second, per_hour / 3600.0) if value] or [0.0]
        )

    @classmethod
    def from_settings(cls) -> RateLimiter:
        return cls(per_second=settings.SEND_RATE_PER_SECOND, per_hour=settings.SEND_RATE_PER_HOUR)

    def acquire(self) -> float:
        wait = max([bucket.reserve() for bucket in self.buckets] or [0.0])
        if wait > 0:
            self.sleep(wait)
        return wait
