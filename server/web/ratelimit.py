"""Fixed-window rate limits, counted in process or in Redis so several processes share one count; and failure
counters (sign-in failures: counted on failure only, forgotten on success, with the time of the latest)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from server.config import RateLimit
from server.errors import TooManyRequests


@dataclass(frozen=True)
class Failures:
    """Failures counted under one key in its current window."""

    count: int = 0
    last_at: float = 0.0  # when the latest failure happened (the caller's clock)
    expires_in: float = 0.0  # seconds until the window ends and the count starts again


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: RateLimit) -> float:
        """Count one attempt; returns 0 if allowed, else the seconds until the window reopens."""

    async def failures(self, key: str, now: float) -> Failures:
        """The failures counted under `key` (none once its window ended)."""

    async def fail(self, key: str, window: float, now: float) -> None:
        """Count one failure under `key`; the window starts at the first failure and lasts `window` seconds."""

    async def forget(self, key: str) -> None:
        """Drop the failures counted under `key` (a success)."""

    async def close(self) -> None: ...


class MemoryRateLimiter:
    """Counts in this process. Windows are pruned as they expire, so memory stays bounded by live keys."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._windows: dict[str, tuple[float, int]] = {}
        self._failures: dict[str, tuple[int, float, float]] = {}  # key -> (count, last failure, window end)
        self._max_keys = max_keys

    async def failures(self, key: str, now: float) -> Failures:
        count, last_at, ends_at = self._failures.get(key, (0, 0.0, 0.0))
        if ends_at <= now:
            return Failures()
        return Failures(count, last_at, ends_at - now)

    async def fail(self, key: str, window: float, now: float) -> None:
        count, _, ends_at = self._failures.get(key, (0, 0.0, 0.0))
        if ends_at <= now:
            count, ends_at = 0, now + window
        if len(self._failures) >= self._max_keys and key not in self._failures:
            for old in [k for k, v in self._failures.items() if v[2] <= now]:
                del self._failures[old]
            if len(self._failures) >= self._max_keys:  # still full: drop the half that ends soonest
                for old in sorted(self._failures, key=lambda k: self._failures[k][2])[: self._max_keys // 2]:
                    del self._failures[old]
        self._failures[key] = (count + 1, now, ends_at)

    async def forget(self, key: str) -> None:
        self._failures.pop(key, None)

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
        self._failures.clear()


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

    async def failures(self, key: str, now: float) -> Failures:
        name = self._prefix + "f:" + key
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hmget(name, "count", "last")
            pipe.pttl(name)
            (count, last), ttl_ms = await pipe.execute()
        if count is None or int(ttl_ms) <= 0:
            return Failures()
        return Failures(int(count), float(last or 0), int(ttl_ms) / 1000)

    async def fail(self, key: str, window: float, now: float) -> None:
        name = self._prefix + "f:" + key
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(name, "count", 1)
            pipe.hset(name, "last", repr(now))
            pipe.expire(name, max(1, int(window)), nx=True)
            await pipe.execute()

    async def forget(self, key: str) -> None:
        await self._redis.delete(self._prefix + "f:" + key)

    async def close(self) -> None:
        """The Redis client is owned and closed by the app."""


async def enforce(limiter: RateLimiter, limit: RateLimit, *keys: str) -> None:
    """Count an attempt under every key (e.g. per IP and per account); refuse if any is over its limit."""
    longest = 0.0
    for key in keys:  # every key counts the attempt, even after one is over its limit
        longest = max(longest, await limiter.hit(key, limit))
    if longest > 0:
        raise TooManyRequests(longest)
