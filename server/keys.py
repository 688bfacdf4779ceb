"""The house's typed application keys: what every domain may use. Each domain keeps its own in its appkeys.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractResource

if TYPE_CHECKING:
    from server.config import Settings
    from server.crypto.keyring import BlindIndex, Keyring
    from server.ops.metrics import Metrics
    from server.realtime.broker import Broker
    from server.realtime.commands import CommandTable
    from server.realtime.connections import Connection, ConnectionRegistry
    from server.storage.database import Database
    from server.web.ratelimit import RateLimiter
    from server.wiring import Signal

settings_key: web.AppKey[Settings] = web.AppKey("settings")
database_key: web.AppKey[Database] = web.AppKey("database")
keyring_key: web.AppKey[Keyring] = web.AppKey("keyring")
blind_index_key: web.AppKey[BlindIndex] = web.AppKey("blind_index")
limiter_key: web.AppKey[RateLimiter] = web.AppKey("limiter")
metrics_key: web.AppKey[Metrics] = web.AppKey("metrics")
redis_key: web.AppKey[Any] = web.AppKey("redis")  # None without REDIS_URL
broker_key: web.AppKey[Broker] = web.AppKey("broker")
# Routes devices call at a high rate (server/web/request_id.py: mark_device_routes).
device_routes_key: web.AppKey[set[AbstractResource]] = web.AppKey("device_routes")

# The WebSocket.
connections_key: web.AppKey[ConnectionRegistry] = web.AppKey("connections")
ws_commands_key: web.AppKey[CommandTable] = web.AppKey("ws_commands")
# token -> (user id, session id); raises ApiError. The auth domain provides it.
ws_authenticate_key: web.AppKey[Callable[[str], Awaitable[tuple[str, str | None]]]] = web.AppKey("ws_authenticate")
# Fired once a connection signs in; listeners attach what the user's connection hears (and its cleanups).
ws_authenticated_key: web.AppKey[Signal[[web.Request, Connection], Awaitable[None]]] = web.AppKey("ws_authenticated")
