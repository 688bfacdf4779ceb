"""What every ThingSpeak-style IoT route reads and answers the same way: its parameters, keys and time zone, the
caller, and replies (errors too) in the format the route was asked in.

Errors on these routes are answered as ThingSpeak answers them: `0` as text, or its JSON / XML error object,
with the documented HTTP status (its `details` in the request's language).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, tzinfo
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from server.auth.guard import bearer_token, require_user
from server.errors import ApiError
from server.iot.appkeys import channels_key
from server.iot.thingspeak import ThingSpeakError, error_body, to_xml, zone
from server.texts.errors import translated
from server.web.errors import request_language, unavailable
from server.web.params import id_in_path
from server.web.validation import read_body

FMT = "{fmt:json|xml}"  # the `.json` / `.xml` ending of a route (no ending: text)
READ_FMT = "{fmt:json|csv|xml}"  # reads answer CSV too
TXT = "{fmt:txt}"  # `.txt`: the same plain text as no ending, on the reads that answer one value
KEY_NAMES = ("api_key", "key", "apikey")  # where devices put a key, ThingSpeak's name first
MAX_CALLBACK = 64
_CALLBACK = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def format_of(request: web.Request) -> str:
    """text, json, xml or csv: from the route's ending; bulk updates always answer JSON."""
    fmt = request.match_info.get("fmt")
    if fmt:
        return "text" if fmt == "txt" else fmt
    return "json" if "/bulk_update." in request.path else "text"


def thingspeak_errors(handler: Handler, *, read: bool = False) -> Handler:
    """Answer errors in ThingSpeak's shape for the format the route was asked in (`read`: a read route, whose text
    and CSV answers say `-1` for no access and nothing found, as ThingSpeak's read documentation says). The
    `details` are in the request's language (`?lang=`, else Accept-Language: the web app's user reads them), said
    in Content-Language; ThingSpeak's `error_code` and `message` stay as it writes them, for scripts, and a device
    that asks for no language gets the English."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Exception as exc:
            error = exc if isinstance(exc, ApiError) else unavailable(exc)  # a dependency down: 503, Retry-After
            if error is None:
                raise
            details, language = translated(error, request_language(request))
            body, content_type = error_body(error.status, details, format_of(request), error.field, read=read)
            headers = {**error.headers, "Content-Language": language, "Vary": "Accept-Language"}
            response = web.Response(text=body, status=error.status, content_type=content_type, headers=headers)
            response.charset = "utf-8"
            return response

    return wrapped


def read_errors(handler: Handler) -> Handler:
    """`thingspeak_errors` for a read route."""
    return thingspeak_errors(handler, read=True)


def jsonp_callback(request: web.Request) -> str | None:
    """The `callback` of a JSON read (JSONP), or None; a name that is not a dotted JavaScript identifier is a 400."""
    value = request.query.get("callback")
    if value is None or request.method != "GET" or format_of(request) != "json":
        return None
    if len(value) > MAX_CALLBACK or _CALLBACK.fullmatch(value) is None:
        raise ThingSpeakError(
            "{field} must be a JavaScript name (letters, digits, _ and $, dotted), at most {limit} characters",
            field="callback",
            limit=MAX_CALLBACK,
        )
    return value


def json_response(request: web.Request, body: bytes, *, status: int = 200, jsonp: bool = False) -> web.Response:
    """JSON bytes as a reply, or (on a read: `jsonp`) wrapped in the request's JSONP callback."""
    callback = jsonp_callback(request) if jsonp else None
    if callback is None:
        response = web.Response(body=body, status=status, content_type="application/json")
    else:
        # The comment in front is Rails' (ThingSpeak's): it keeps a callback name from starting the body.
        wrapped = b"/**/" + callback.encode() + b"(" + body + b");"
        response = web.Response(body=wrapped, status=status, content_type="application/javascript")
    response.charset = "utf-8"
    return response


def reply(request: web.Request, value: Any, *, root: str, status: int = 200, jsonp: bool = False) -> web.Response:
    """`value` as XML (under `root`) when the route ends in .xml, else as JSON (`jsonp`: a read, where a `callback`
    makes it JSONP; callers check the callback with `jsonp_callback` before they read anything)."""
    if format_of(request) == "xml":
        return web.Response(text=to_xml(root, value), status=status, content_type="application/xml")
    return json_response(request, orjson.dumps(value), status=status, jsonp=jsonp)


def plain(text: str) -> web.Response:
    """A text reply, as ThingSpeak gives on routes without an ending."""
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


def json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ThingSpeakError("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ThingSpeakError("the body must be a JSON object")
    return body


def form_of(raw: bytes) -> dict[str, str]:
    """A form body's fields (the last of a repeated name wins); 422 when it is not UTF-8."""
    try:
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise ThingSpeakError("the body is not UTF-8", status=422) from None


async def params_of(request: web.Request, limit: int) -> dict[str, Any]:
    """Query parameters merged with a form or JSON body (the body wins), as ThingSpeak reads them."""
    params: dict[str, Any] = dict(request.query)
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        raw = await read_body(request, limit)
        if raw.strip():
            if request.content_type == "application/json" or raw.lstrip()[:1] == b"{":
                params.update(json_object(raw))
            else:
                params.update(form_of(raw))
    return params


def api_key_of(request: web.Request, params: Mapping[str, Any], name: str = "api_key") -> str | None:
    """The key in `name` (for `api_key`: or `key` or `apikey`, as devices send it), or in ThingSpeak's header."""
    names = KEY_NAMES if name == "api_key" else (name,)
    value = next((params[n] for n in names if params.get(n)), None)
    value = value or request.headers.get("THINGSPEAKAPIKEY") or request.headers.get("X-THINGSPEAKAPIKEY")
    return value if isinstance(value, str) else None


def tz_of(params: Mapping[str, Any]) -> tzinfo:
    value = params.get("timezone")
    return zone(value) if isinstance(value, str) else UTC


def channel_id_of(request: web.Request) -> int:
    """The channel id in the route's path; 404 when it cannot be one."""
    return id_in_path(request.match_info["channel_id"], "The channel was not found.")


async def signed_in(request: web.Request) -> str | None:
    """The signed-in user's id when the request carries a Bearer token (a bad one is refused), else None."""
    if bearer_token(request) is None:
        return None
    return (await require_user(request)).user.id


async def owner_of(request: web.Request, params: Mapping[str, Any]) -> str:
    """The user behind the request: a user API key (ThingSpeak's way) or a signed-in session (the web app)."""
    user_id = await signed_in(request)
    if user_id is not None:
        return user_id
    return await request.app[channels_key].user_of_api_key(api_key_of(request, params))


async def params_and_owner(request: web.Request, limit: int) -> tuple[dict[str, Any], str]:
    """The request's parameters (see `params_of`) and the user it acts for (see `owner_of`)."""
    params = await params_of(request, limit)
    return params, await owner_of(request, params)


async def optional_owner(request: web.Request, params: Mapping[str, Any]) -> str | None:
    """Like `owner_of`, but None instead of a refusal when the key is no user API key (a public read)."""
    user_id = await signed_in(request)
    if user_id is not None:
        return user_id
    return await request.app[channels_key].owner_of_key(api_key_of(request, params))
