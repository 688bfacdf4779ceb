"""Errors the services raise; the web layer turns each into `{"error": {"code", "message"}}` with its status.

A message is a template people can read in another language: its changing parts are `{name}` placeholders filled
from the keyword arguments (`{field}` from `field=`), and server/texts/errors.py finds its translation by the
template. So a message is a string literal, never an f-string: tests/web/test_error_texts.py holds every one to
that and to having its translations."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status = 400
    code = "bad_request"
    retry_after: int | None = None  # seconds, when the client should try again later (also a Retry-After header)

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> None:
        if field is not None and "{field}" in message:
            params["field"] = field
        self.template = message
        self.params = params
        message = as_sentence(message.format_map(params) if params else message, field)
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.field = field
        self.headers = headers or {}


def as_sentence(message: str, field: str | None = None) -> str:
    """A message as people read it: starting with a capital letter. One that starts with a name as programs
    spell it (the field at fault, `display_name`, `actions[0].url`, `created_at:`) keeps it as it is: clients
    match field names exactly, and ThingSpeak's `details` start with the field."""
    first = message.split(" ", 1)[0]
    if not first or not first[0].islower():
        return message
    if first == field or first.rstrip(":") == field or not first.replace("-", "").isalpha():
        return message
    return message[0].upper() + message[1:]


class ValidationError(ApiError):
    status = 400
    code = "invalid"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class TooManyRequests(ApiError):
    status = 429
    code = "rate_limited"

    def __init__(self, retry_after: float, message: str = "too many attempts; try again later", **params: Any) -> None:
        seconds = max(1, int(retry_after + 0.999))
        headers = {"Retry-After": str(seconds)}
        super().__init__(message + " (retry after {seconds} s)", headers=headers, seconds=seconds, **params)
        self.retry_after = seconds


class Unavailable(ApiError):
    """A dependency the request needs (the database, Redis, a full write queue) cannot serve it just now."""

    status = 503
    code = "unavailable"

    def __init__(self, message: str, retry_after: float = 1.0, **params: Any) -> None:
        seconds = max(1, int(retry_after + 0.999))
        super().__init__(message, headers={"Retry-After": str(seconds)}, **params)
        self.retry_after = seconds
