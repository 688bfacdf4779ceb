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
from server.texts.errors import language_of, translate, translated
from server.texts.language import DEFAULT as ENGLISH
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
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    field: str | None = None,
    language: str = ENGLISH,
) -> web.Response:
    """The JSON error; its message is in `language` (said in Content-Language), as the request asked for."""
    error = {"code": code, "message": as_sentence(message, field)}
    if field is not None:
        error["field"] = field
    headers = {**(headers or {}), "Content-Language": language, "Vary": "Accept-Language"}
    return web.json_response({"error": error}, status=status, headers=headers)


def request_language(request: web.Request) -> str:
    """The language this request's messages are written in: `?lang=`, else Accept-Language, else English."""
    return language_of(request.query.get("lang"), request.headers.get("Accept-Language"))


def api_error_response(request: web.Request, exc: ApiError) -> web.Response:
    """`exc` answered in the request's language."""
    message, language = translated(exc, request_language(request))
    return error_response(exc.status, exc.code, message, exc.headers, exc.field, language)


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
        return Unavailable("{service} is unavailable just now; try again shortly", exc.retry_after, service=exc.name)
    if isinstance(exc, QueueFullError):
        return Unavailable("the server is taking too many writes just now; send it again shortly", exc.retry_after)
    return None


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return api_error_response(request, exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.content_type == "application/json":
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after", "x-request-id")}
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else HTTPStatus(exc.status).phrase
        if exc.status == 413:
            message = "The request body is too large"
        message = message.capitalize()
        text, language = translate(message, {}, request_language(request), english=message)
        return error_response(exc.status, _CODES.get(exc.status, "error"), text, headers, language=language)
    except Exception as exc:
        down = unavailable(exc)
        if down is not None:
            log.warning("%s %s: %s (%s)", request.method, request.path, down.message, exc)
            return api_error_response(request, down)
        log.exception("unhandled error in %s %s", request.method, request.path)
        return api_error_response(request, ApiError("Something went wrong on our side", code="internal", status=500))


def setup_errors(app: web.Application) -> None:
    app.middlewares.append(error_middleware)
