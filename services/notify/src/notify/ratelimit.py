"""Token buckets per key (a channel, or one robot of the wecom channel), per process.

A limited send waits for its tokens; it never fails. ``acquire`` reserves the tokens at once
(the bucket may go into debt) and then sleeps off the debt outside the lock, so concurrent
callers queue fairly and each waits only for its own share.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# Buckets are per key; a full bucket carries no state worth keeping, so past this many keys the
# full ones are dropped (robots come and go).
_PRUNE_ABOVE = 4096


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """``rate_per_s`` tokens a second per key, up to ``burst`` saved; ``None`` = unlimited."""

    def __init__(
        self,
        rate_per_s: float | None,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_s is not None and rate_per_s <= 0:
            raise ValueError("a rate must be positive (None for unlimited)")
        self.rate_per_s = rate_per_s
        # One second's worth by default: a batch may start at once, then the rate holds.
        self.burst = burst if burst is not None else max(1.0, rate_per_s or 1.0)
        if self.burst <= 0:
            raise ValueError("a burst must be positive")
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    @classmethod
    def per_minute(
        cls,
        per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> TokenBuckets:
        """A limit stated per minute (WeCom robots: 20 posts a minute), saved up to a minute."""
        return cls(per_minute / 60.0, burst=per_minute, clock=clock, sleep=sleep)

    def reserve(self, key: str = "", n: float = 1.0) -> float:
        """Take ``n`` tokens now; the seconds the caller must wait before using them."""
        if self.rate_per_s is None or n <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) > _PRUNE_ABOVE:
                    self._prune(now)
                bucket = self._buckets[key] = _Bucket(tokens=self.burst, updated=now)
            else:
                refill = (now - bucket.updated) * self.rate_per_s
                bucket.tokens = min(self.burst, bucket.tokens + refill)
                bucket.updated = now
            bucket.tokens -= n
            debt = -bucket.tokens
        return debt / self.rate_per_s if debt > 0 else 0.0

    def acquire(self, key: str = "", n: float = 1.0) -> float:
        """Wait until ``n`` tokens of ``key`` may be spent; returns the seconds waited."""
        wait = self.reserve(key, n)
        if wait > 0:
            self._sleep(wait)
        return wait

    def _prune(self, now: float) -> None:
        rate = self.rate_per_s or 0.0
        full = [
            key
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.updated) * rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]
