"""The app's Redis client: short timeouts, one retry, and a circuit breaker on connecting, so a Redis that is
down costs a request one quick failure (a 503 with Retry-After), not a wait per request."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import Connection, parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server.breaker import CircuitBreaker, CircuitOpenError

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)  # what a Redis call raises when Redis cannot answer


class RedisUnavailable(RedisConnectionError):
    """Not even tried: the breaker is open. A ConnectionError, so redis-py and callers treat it as one."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("Redis is unavailable")
        self.retry_after = retry_after


class _BreakerConnect:
    """Mixed into the connection class: every new connection asks the breaker first and reports to it."""

    breaker: CircuitBreaker

    async def connect_check_health(self, *args: Any, **kwargs: Any) -> None:
        if getattr(self, "is_connected", False):
            await super().connect_check_health(*args, **kwargs)  # type: ignore[misc]
            return
        try:
            self.breaker.before()
        except CircuitOpenError as exc:
            raise RedisUnavailable(exc.retry_after) from None
        try:
            await super().connect_check_health(*args, **kwargs)  # type: ignore[misc]
        except Exception:
            self.breaker.failed()
            raise
        self.breaker.succeeded()

    async def send_packed_command(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().send_packed_command(*args, **kwargs)  # type: ignore[misc]
        except RuntimeError as exc:
            # uvloop refuses a write to a transport the peer has reset ("the handler is closed") with a
            # RuntimeError, which redis-py takes for a bug: it is a lost connection, to reconnect or answer 503.
            await self.disconnect()  # type: ignore[attr-defined]
            raise RedisConnectionError("the connection to Redis was lost") from exc


def open_redis(url: str, breaker: CircuitBreaker, *, timeout: float) -> Redis:
    """A client for `url` whose connections go through `breaker`."""
    base = parse_url(url).get("connection_class", Connection)
    guarded = type(f"Guarded{base.__name__}", (_BreakerConnect, base), {"breaker": breaker})
    return Redis.from_url(
        url,
        connection_class=guarded,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1),  # one reconnect after a dropped connection; the breaker does the rest
    )
