"""Request ids and the access log: each request keeps the caller's X-Request-ID (if sane) or gets one."""

from __future__ import annotations

import logging
import re
import secrets
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from server.ops.logs import request_id

log = logging.getLogger("server.access")
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
HEADER = "X-Request-ID"


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get(HEADER, "")
    rid = given if _SANE.match(given) else secrets.token_hex(8)
    token = request_id.set(rid)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers[HEADER] = rid
        return response
    except web.HTTPException as exc:
        status = exc.status
        exc.headers[HEADER] = rid
        raise
    finally:
        # Route template, not the path: paths can carry ids and tokens; no client address either.
        if log.isEnabledFor(logging.INFO):
            route = route_name(request)
            log.info(
                "%s %s %s",
                request.method,
                route,
                status,
                extra={
                    "method": request.method,
                    "route": route,
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
        request_id.reset(token)


def route_name(request: web.Request) -> str:
    info = request.match_info
    resource = info.route.resource if info.http_exception is None else None
    if resource is None:
        return "unmatched"
    return resource.canonical


def setup_request_id(app: web.Application) -> None:
    app.middlewares.append(request_id_middleware)
