"""Liveness and readiness. (Metrics are on a listener of their own: server/ops/metrics.py.)

/readyz answers 200 only when every configured dependency answers: the database always, Redis when REDIS_URL
is set (fan-out, presence and rate limits need it), and the MQTT bridge when MQTT_URL is set (devices publishing
over MQTT are lost while it is disconnected). Any of them down: 503, naming each check.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web

from server.iot.appkeys import mqtt_key
from server.keys import database_key, redis_key, settings_key

routes = web.RouteTableDef()
CHECK_SECONDS = 2.0


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _database(app: web.Application) -> bool:
    try:
        return await asyncio.wait_for(app[database_key].ping(), timeout=CHECK_SECONDS)
    except TimeoutError:
        return False


async def _redis(redis: Any) -> bool:
    with contextlib.suppress(Exception):  # any failure (down, breaker open, timeout) is "not ready"
        return bool(await asyncio.wait_for(redis.ping(), timeout=CHECK_SECONDS))
    return False


async def checks(app: web.Application) -> dict[str, bool]:
    """Each configured dependency and whether it answers now."""
    found = {"database": await _database(app)}
    redis = app.get(redis_key)
    if redis is not None:
        found["redis"] = await _redis(redis)
    if app[settings_key].mqtt_url is not None:
        bridge = app.get(mqtt_key)
        found["mqtt"] = bridge is not None and bridge.connected
    return found


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    found = await checks(request.app)
    down = [name for name, ok in found.items() if not ok]
    if down:
        message = f"not reachable: {', '.join(down)}"
        return web.json_response(
            {"error": {"code": "not_ready", "message": message}, "checks": found},
            status=503,
            headers={"Retry-After": "5"},
        )
    return web.json_response({"status": "ready", "database": request.app[database_key].backend, "checks": found})
