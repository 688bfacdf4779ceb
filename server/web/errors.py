"""Every error leaves as JSON `{"error": {"code", "message"}}`: ours, aiohttp's, and unexpected ones (as 500
without a traceback, which goes to the log)."""

from __future__ import annotations

import logging
from http import HTTPStatus

from aiohttp import web
from aiohttp.typedefs import Handler

from server.breaker import CircuitOpenError
from server.errors import ApiError, Unavailable, as_sentence
from server.storage.batch import QueueFullError
from server.storage.guarded import DatabaseUnavailable
from server.web.redis_client import REDIS_DOWN

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, field: str | None = None
) -> web.Response:
    error = {"code": code, "message": as_sentence(message, field)}
    if field is not None:
        error["field"] = field
    return web.json_response({"error": error}, status=status, headers=headers)


# What `unavailable` turns into a 503: a dependency that could not serve the request.
DEPENDENCY_ERRORS: tuple[type[Exception], ...] = (DatabaseUnavailable, *REDIS_DOWN, CircuitOpenError, QueueFullError)
# ApiError and those: what a WebSocket command's failure is answered with (anything else is a bug).
ANSWERED_ERRORS: tuple[type[Exception], ...] = (ApiError, *DEPENDENCY_ERRORS)


def unavailable(exc: BaseException) -> Unavailable | None:
    """A dependency that could not serve the request, as the 503 (with Retry-After) to answer; else None."""
    if isinstance(exc, DatabaseUnavailable):
        return Unavailable("the database is unavailable just now; try again shortly", exc.retry_after)
    if isinstance(exc, REDIS_DOWN):
        retry_after = getattr(exc, "retry_after", 5.0)
        return Unavailable("a service this request needs (Redis) is unavailable; try again shortly", retry_after)
    if isinstance(exc, CircuitOpenError):
        return Unavailable(f"{exc.name} is unavailable just now; try again shortly", exc.retry_after)
    if isinstance(exc, QueueFullError):
        return Unavailable("the server is taking too many writes just now; send it again shortly", exc.retry_after)
    return None


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.headers, exc.field)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.content_type == "application/json":
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after", "x-request-id")}
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else HTTPStatus(exc.status).phrase
        if exc.status == 413:
            message = "The request body is too large"
        return error_response(exc.status, _CODES.get(exc.status, "error"), message.capitalize(), headers)
    except Exception as exc:
        down = unavailable(exc)
        if down is not None:
            log.warning("%s %s: %s (%s)", request.method, request.path, down.message, exc)
            return error_response(down.status, down.code, down.message, down.headers)
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal", "Something went wrong on our side")


def setup_errors(app: web.Application) -> None:
    app.middlewares.append(error_middleware)
