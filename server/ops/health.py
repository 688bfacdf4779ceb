"""Liveness and readiness. (Metrics are on a listener of their own: server/ops/metrics.py.)"""

from __future__ import annotations

import asyncio

from aiohttp import web

from server.keys import database_key

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    try:
        ok = await asyncio.wait_for(request.app[database_key].ping(), timeout=2.0)
    except TimeoutError:
        ok = False
    if not ok:
        return web.json_response(
            {"error": {"code": "not_ready", "message": "the database is not reachable"}}, status=503
        )
    return web.json_response({"status": "ready", "database": request.app[database_key].backend})
