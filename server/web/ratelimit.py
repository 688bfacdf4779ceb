"""Fixed-window rate limits, counted in process or in Redis so several processes share one count."""

from __future__ import annotations

import time
from typing import Any, Protocol

from server.config import RateLimit
from server.errors import TooManyRequests


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: RateLimit) -> float:
        """Count one attempt; returns 0 if allowed, else the seconds until the window reopens."""

    async def close(self) -> None: ...


class MemoryRateLimiter:
    """Counts in this process. Windows are pruned as they expire, so memory stays bounded by live keys."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._windows: dict[str, tuple[float, int]] = {}
        self._max_keys = max_keys

    async def hit(self, key: str, limit: RateLimit) -> float:
        now = time.monotonic()
        started, count = self._windows.get(key, (now, 0))
        if now - started >= limit.seconds:
            started, count = now, 0
        count += 1
        if len(self._windows) >= self._max_keys and key not in self._windows:
            self._prune(now, limit.seconds)
        self._windows[key] = (started, count)
        if count > limit.count:
            return started + limit.seconds - now
        return 0.0

    def _prune(self, now: float, seconds: float) -> None:
        for key in [k for k, (started, _) in self._windows.items() if now - started >= seconds]:
            del self._windows[key]
        if len(self._windows) >= self._max_keys:  # still full: drop the oldest half
            for key in sorted(self._windows, key=lambda k: self._windows[k][0])[: self._max_keys // 2]:
                del self._windows[key]

    async def close(self) -> None:
        self._windows.clear()


class RedisRateLimiter:
    """INCR with an expiry per window: atomic across processes."""

    def __init__(self, redis: Any, prefix: str = "rl:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def hit(self, key: str, limit: RateLimit) -> float:
        name = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, max(1, int(limit.seconds)), nx=True)
            pipe.pttl(name)
            count, _, ttl_ms = await pipe.execute()
        if count > limit.count:
            return max(int(ttl_ms), 1000) / 1000
        return 0.0

    async def close(self) -> None:
        """The Redis client is owned and closed by the app."""


async def enforce(limiter: RateLimiter, limit: RateLimit, *keys: str) -> None:
    """Count an attempt under every key (e.g. per IP and per account); refuse if any is over its limit."""
    waits = [await limiter.hit(key, limit) for key in keys]
    longest = max(waits, default=0.0)
    if longest > 0:
        raise TooManyRequests(longest)
