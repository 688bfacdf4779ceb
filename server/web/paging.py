"""Cursor paging for list endpoints: `?limit=` and an opaque `?cursor=` from the previous page's `next`."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from aiohttp import web

from server.errors import ValidationError
from server.web.params import require_int

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def page_limit(request: web.Request, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return default
    return require_int(raw, "limit", low=1, high=maximum)


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def decode_cursor(request: web.Request, parse: Callable[[list[Any]], T]) -> T | None:
    raw = request.query.get("cursor")
    if not raw:
        return None
    try:
        values = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if not isinstance(values, list):
            raise TypeError
        return parse(values)
    except (ValueError, TypeError, IndexError) as exc:
        raise ValidationError("{field} is not one this server gave out", field="cursor") from exc
