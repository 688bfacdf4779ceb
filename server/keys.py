"""Every typed application key, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from server.auth.service import AccountService, Principal
    from server.config import Settings
    from server.crypto.keyring import BlindIndex, Keyring
    from server.ops.metrics import Metrics
    from server.realtime.connections import ConnectionRegistry
    from server.storage.database import Database
    from server.web.ratelimit import RateLimiter

settings_key = web.AppKey("settings", "Settings")
database_key = web.AppKey("database", "Database")
keyring_key = web.AppKey("keyring", "Keyring")
blind_index_key = web.AppKey("blind_index", "BlindIndex")
accounts_key = web.AppKey("accounts", "AccountService")
limiter_key = web.AppKey("limiter", "RateLimiter")
metrics_key = web.AppKey("metrics", "Metrics")
connections_key = web.AppKey("connections", "ConnectionRegistry")
redis_key = web.AppKey("redis", Any)

# Per request.
principal_key = web.RequestKey("principal", "Principal")
