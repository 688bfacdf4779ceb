"""Every request's id, its access log line and its figures for /metrics, in one middleware.

Each request keeps the caller's X-Request-ID (if sane) or gets one. The access log names the route template,
never the path (paths carry ids and tokens) nor the client's address. Device routes (the ThingSpeak API that
sensors call many times a second; a domain marks them with `mark_device_routes`) are logged in aggregate: their
successful, quick answers are counted per route and status and written as one summary line per route every
ACCESS_LOG_SUMMARY_SECONDS; their errors and slow answers are logged one by one like every other request.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp.web_urldispatcher import AbstractResource, AbstractRoute

from server.keys import device_routes_key, metrics_key, settings_key
from server.ops.logs import request_id

log = logging.getLogger("server.access")
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
HEADER = "X-Request-ID"
_new_id = random.Random().getrandbits  # an id to find log lines by, not a secret: no system call per request


def route_name(request: web.Request) -> str:
    info = request.match_info
    resource = info.route.resource if info.http_exception is None else None
    if resource is None:
        return "unmatched"
    return resource.canonical


def mark_device_routes(app: web.Application, routes: Iterable[AbstractRoute]) -> None:
    """Routes that devices call at a high rate: logged in aggregate when they succeed quickly, and answered
    without the headers meant for pages (server/web/headers.py)."""
    app[device_routes_key].update(route.resource for route in routes if route.resource is not None)


def is_device_route(request: web.Request) -> bool:
    info = request.match_info
    return info.http_exception is None and info.route.resource in request.app[device_routes_key]


@dataclass
class _Tally:
    count: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0


class AccessLog:
    """Access log lines, one per request, except device routes' quick successes: tallied, then summarised."""

    def __init__(self, summary_seconds: float, slow_ms: float) -> None:
        self.summary_seconds = summary_seconds
        self.slow_ms = slow_ms
        self._tallies: dict[tuple[str, str, int], _Tally] = {}

    def record(self, method: str, route: str, status: int, ms: float, *, device: bool) -> None:
        if device and status < 400 and ms < self.slow_ms and self.summary_seconds > 0:
            key = (method, route, status)
            tally = self._tallies.get(key)
            if tally is None:
                tally = self._tallies[key] = _Tally()
            tally.count += 1
            tally.total_ms += ms
            if ms > tally.max_ms:
                tally.max_ms = ms
            return
        extra = {"method": method, "route": route, "status": status, "ms": round(ms, 2)}
        log.info("%s %s %s", method, route, status, extra=extra)

    def flush(self) -> None:
        """One line per route and status tallied since the last flush."""
        tallies, self._tallies = self._tallies, {}
        for (method, route, status), tally in tallies.items():
            log.info(
                "%s %s %s x%d",
                method,
                route,
                status,
                tally.count,
                extra={
                    "method": method,
                    "route": route,
                    "status": status,
                    "count": tally.count,
                    "ms_avg": round(tally.total_ms / tally.count, 2),
                    "ms_max": round(tally.max_ms, 2),
                    "summary_seconds": self.summary_seconds,
                },
            )


access_log_key = web.AppKey("access_log", AccessLog)


def setup_request_id(app: web.Application) -> None:
    """The middleware (outermost of the app's own) and the access log's summary timer."""
    settings = app[settings_key]
    access = app[access_log_key] = AccessLog(settings.access_log_summary_seconds, settings.access_log_slow_ms)
    app[device_routes_key] = set[AbstractResource]()
    figures = app[metrics_key].requests

    @web.middleware
    async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get(HEADER)
        rid = given if given is not None and _SANE.match(given) else f"{_new_id(64):016x}"
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
            seconds = time.perf_counter() - started
            route = route_name(request)
            figures.add(request.method, route, status, seconds)
            if log.isEnabledFor(logging.INFO):
                access.record(request.method, route, status, seconds * 1000, device=is_device_route(request))
            request_id.reset(token)

    app.middlewares.append(request_id_middleware)
    app.cleanup_ctx.append(_summaries)


async def _summaries(app: web.Application) -> AsyncIterator[None]:
    access = app[access_log_key]
    task = asyncio.create_task(_summarise(access)) if access.summary_seconds > 0 else None
    yield
    if task is not None:
        task.cancel()
    access.flush()  # what was tallied since the last summary


async def _summarise(access: AccessLog) -> None:
    while True:
        await asyncio.sleep(access.summary_seconds)
        access.flush()
