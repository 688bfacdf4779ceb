"""Parsing JSON request bodies against a small field spec: wrong types, unknown fields and over-long values
get a 400 that names the field, before anything is changed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from server.errors import ApiError, ValidationError
from server.web.params import INT64_MAX

_EMAIL = re.compile(r"^[^@\s\x00-\x1f]+@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f]+$")


@dataclass(frozen=True)
class Field:
    kind: type = str
    required: bool = True
    max_length: int | None = None
    min_length: int = 0
    nullable: bool = False
    choices: tuple[Any, ...] | None = None
    email: bool = False
    strip: bool = True


def _check(name: str, value: Any, spec: Field) -> Any:
    if spec.kind is str and type(value) is str:  # most fields: straight to the text's checks
        return _check_text(name, value, spec)
    if value is None:
        if spec.nullable:
            return None
        raise ValidationError("{field} must not be null", field=name)
    # bool is a subclass of int: refuse it where a number is wanted. A JSON integer is a fine number.
    if spec.kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, spec.kind) or (spec.kind in (int, float) and isinstance(value, bool)):
        raise ValidationError(
            _TYPE_MESSAGES.get(spec.kind, "{field} has the wrong type"), field=name, code="wrong_type"
        )
    if isinstance(value, int) and not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise ValidationError("{field} is out of range (a 64-bit integer)", field=name)
    if isinstance(value, str):
        return _check_text(name, value, spec)
    return _check_choice(name, value, spec)


def _check_text(name: str, value: str, spec: Field) -> str:
    if spec.strip:
        value = value.strip()
    if "\x00" in value:
        raise ValidationError("{field} must not contain NUL characters", field=name)
    if spec.max_length is not None and len(value) > spec.max_length:
        raise ValidationError(
            "{field} is longer than {limit} characters", field=name, code="too_long", limit=spec.max_length
        )
    if len(value) < spec.min_length:
        if spec.min_length <= 1:
            raise ValidationError("{field} must not be empty", field=name, code="required")
        raise ValidationError(
            "{field} must be at least {limit} characters", field=name, code="too_short", limit=spec.min_length
        )
    if spec.email and not _EMAIL.match(value):
        raise ValidationError("{field} is not an e-mail address", field=name)
    _check_choice(name, value, spec)
    return value


def _check_choice(name: str, value: Any, spec: Field) -> Any:
    if spec.choices is not None and value not in spec.choices:
        allowed = ", ".join(str(c) for c in spec.choices)
        raise ValidationError("{field} must be one of {allowed}", field=name, allowed=allowed)
    return value


_TYPE_MESSAGES = {
    str: "{field} must be a string",
    int: "{field} must be an integer",
    float: "{field} must be a number",
    bool: "{field} must be true or false",
    list: "{field} must be a list",
    dict: "{field} must be an object",
}


def validate(data: Any, spec: dict[str, Field]) -> dict[str, Any]:
    """Check a decoded JSON object against `spec`; returns only the fields present (required ones always)."""
    if not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object", code="wrong_type")
    if not data.keys() <= spec.keys():
        unknown = sorted(set(data) - set(spec))
        raise ValidationError("unknown field {field}", field=unknown[0], code="unknown_field")
    return validate_known(data, spec)


def validate_known(data: dict[str, Any], spec: dict[str, Field]) -> dict[str, Any]:
    """`validate` for an object whose keys the caller has checked are all in `spec` (or ignored by it): the
    fields of `spec` present in `data`, checked."""
    result: dict[str, Any] = {}
    for name, field_spec in spec.items():
        if name in data:
            result[name] = _check(name, data[name], field_spec)
        elif field_spec.required:
            raise ValidationError("{field} is required", field=name, code="required")
    return result


DEFAULT_BODY_LIMIT = 64 * 1024


async def read_body(request: web.Request, limit: int = DEFAULT_BODY_LIMIT) -> bytes:
    """The request body, refused with 413 past `limit` bytes (whatever Content-Length claimed)."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError("the request body is larger than {limit} bytes", code="body_too_large", status=413, limit=limit)
    chunks: list[bytes] = []
    size = 0
    # read(n) returns what has arrived so far, not n bytes: read to the end, counting.
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise ApiError(
                "the request body is larger than {limit} bytes", code="body_too_large", status=413, limit=limit
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: web.Request, spec: dict[str, Field], limit: int = DEFAULT_BODY_LIMIT) -> dict[str, Any]:
    """Decode and validate the request's JSON body (an empty body counts as `{}`)."""
    raw = await read_body(request, limit)
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValidationError(
                "the body is not valid JSON: {reason}", code="malformed_json", reason=exc.msg
            ) from exc
    return validate(data, spec)
