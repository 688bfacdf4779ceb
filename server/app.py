"""create_app(settings): the one place that wires the application together.

The house (keys, metrics, middlewares, Redis, the database, the rate limiter, the WebSocket and broker) comes
first; then each domain plugs itself in with its `setup(app)`, in start order. Long-lived resources open in the
order their `cleanup_ctx` entries were added and close in reverse, so a domain registered after another may use
it while it runs and is closed before it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiohttp import web

from server import auth, calls, chat, events, iot, people, realtime
from server.breaker import CircuitBreaker
from server.config import Settings
from server.crypto.keyring import BlindIndex, Keyring
from server.keys import (
    blind_index_key,
    database_key,
    keyring_key,
    limiter_key,
    metrics_key,
    redis_key,
    settings_key,
)
from server.ops import backup_schedule, health, status
from server.ops.metrics import Metrics
from server.storage import database as storage
from server.storage.guarded import GuardedDatabase
from server.storage.migrations import migrate
from server.storage.timing import StatementTimings
from server.web import openapi
from server.web.errors import setup_errors
from server.web.headers import setup_security_headers
from server.web.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from server.web.redis_client import open_redis
from server.web.request_id import setup_request_id
from server.web.static import setup_static
from server.wiring import overrides_key, provide

# The domains, in start order: each may use those before it.
DOMAINS = (auth, events, iot, chat, people, calls)


def create_app(settings: Settings, *, overrides: Mapping[web.AppKey[Any], Any] | None = None) -> web.Application:
    """The application for `settings`. `overrides` puts given objects under their keys instead of building
    them (a test's fake mailer, say); everything else is built as in production."""
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[overrides_key] = dict(overrides or {})
    app[settings_key] = settings
    app[keyring_key] = Keyring(settings.encryption_keys)
    app[blind_index_key] = BlindIndex(settings.blind_index_key)
    app[metrics_key] = Metrics()

    # Middlewares, outermost first: request id, access log and metrics see every outcome; errors turn every
    # exception into a JSON answer before the one above looks at its status.
    setup_request_id(app)
    setup_errors(app)
    setup_security_headers(app)

    # The house's long-lived resources, opened in this order and closed in reverse, around the domains'.
    app.cleanup_ctx.append(_redis_ctx)
    app.cleanup_ctx.append(_database_ctx)
    app.cleanup_ctx.append(_limiter_ctx)
    realtime.setup(app)  # the WebSocket, its command table and the broker
    openapi.setup(app)  # the API document, which each domain adds its part to

    for domain in DOMAINS:
        domain.setup(app)

    app.add_routes(health.routes)
    status.setup(app)  # the admins' status page: figures of the house and the domains' writers
    backup_schedule.setup(app)  # BACKUP_INTERVAL: backups made by the server itself
    openapi.add_house_part(app)
    setup_static(app)  # last: its catch-all pattern must not shadow the routes above
    return app


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    if settings.redis_url is None:
        app[redis_key] = None
        yield
        return
    breaker = CircuitBreaker("Redis", failures=settings.breaker_failures, cooldown=settings.breaker_cooldown_seconds)
    client = open_redis(settings.redis_url, breaker, timeout=settings.redis_timeout_seconds)
    await client.ping()
    app[redis_key] = client
    yield
    await client.aclose()


async def _database_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    db = await storage.connect(
        settings.database_url,
        readers=settings.sqlite_readers,
        pool_size=settings.pg_pool_size,
        timeout=settings.database_timeout_seconds,
    )
    try:
        await migrate(db)
    except BaseException:
        await db.close()
        raise
    breaker = CircuitBreaker(
        "the database", failures=settings.breaker_failures, cooldown=settings.breaker_cooldown_seconds
    )
    timings = app[metrics_key].statements = StatementTimings(settings.slow_query_ms)
    guarded: storage.Database = GuardedDatabase(db, breaker, timings)
    app[database_key] = app[metrics_key].database = guarded
    yield
    await db.close()


async def _limiter_ctx(app: web.Application) -> AsyncIterator[None]:
    def build() -> RateLimiter:
        redis = app[redis_key]
        return RedisRateLimiter(redis) if redis is not None else MemoryRateLimiter()

    limiter = provide(app, limiter_key, build)
    yield
    await limiter.close()
