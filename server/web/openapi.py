"""The HTTP API as an OpenAPI 3.1 document, served at GET /api/openapi.json (no sign-in, cacheable).

The document is Python data, in server/web/apidoc/: one module per route module, each with its operations and the
schemas they name, built with the same `Field` specs and constants the handlers check against. It is built once per
deployment's settings and served as the same bytes, with an ETag. tests/web/test_openapi.py checks it against the
app's router both ways, so a route added without its documentation fails the tests.

To document a new route, add one `book.op(...)` to the `paths()` of its module in server/web/apidoc/ (a new route
module gets a new apidoc module, listed in PARTS), and any new shape to that module's SCHEMAS.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import orjson
from aiohttp import web

from server.keys import settings_key
from server.web.apidoc import accounts, attachments, chat, keys, kit, ops, push, rules, talkback, thingspeak
from server.web.apidoc.kit import JSON

routes = web.RouteTableDef()

PARTS = (accounts, chat, keys, push, attachments, rules, thingspeak, talkback, ops)

TAGS = [
    ("auth", "Accounts: registration, e-mail links, sign-in, tokens, sessions, profile"),
    ("admin", "Server admins: accounts, the report queue, moderation"),
    ("chat", "Chats, members, messages, invites, blocks and reports"),
    ("keys", "The end-to-end key directory: public keys and one-time prekeys"),
    ("push", "Web Push subscriptions"),
    ("attachments", "Chat uploads and their files"),
    ("iot", "ThingSpeak-compatible channels, writes and reads"),
    ("talkback", "ThingSpeak-compatible TalkBack command queues"),
    ("rules", "Automation rules on a channel"),
    ("realtime", "The WebSocket (its protocol: docs/protocol.md)"),
    ("ops", "Health, readiness, metrics and this document"),
]

DESCRIPTION = """\
One aiohttp process serving chat, calls and IoT. This document covers every HTTP route except the web app's
own files (`/`, `/static/...` and the app's top-level scripts, styles, icons and manifest), which are left out.
The WebSocket at `/ws` is listed as the GET that upgrades; its frames, error codes and close codes are in
docs/protocol.md.

**JSON API** (`/api/...`): signed-in routes take `Authorization: Bearer <access token>` from
`POST /api/auth/login`. Every error is `{"error": {"code", "message", "field"?}}` with a 4xx status (503 when not
ready), never a traceback. Bodies are JSON objects; unknown members are refused (`unknown_field`), and every body
has a size limit (413). Lists page with `limit` and the `next` cursor of the previous page.

**ThingSpeak-compatible routes** (`/channels...`, `/update`, `/talkbacks...`): firmware written for ThingSpeak
works unchanged. Keys go in an `api_key` parameter (query string, form or JSON body) or the `THINGSPEAKAPIKEY`
header; the path's extension (`.json`, `.xml`, `.csv` for reads) picks the format; errors are ThingSpeak's error
object in that format, or `0` (`-1` for 404) as text on paths without an extension.
"""

_KEY_HEADER = "THINGSPEAKAPIKEY"
_BODY_NOTE = "On POST, PUT and DELETE it may also be the `api_key` member of the form or JSON body."


def _key_schemes(name: str, what: str) -> dict[str, JSON]:
    return {
        f"{name}Query": {
            "type": "apiKey",
            "in": "query",
            "name": "api_key",
            "description": f"{what}. {_BODY_NOTE}",
        },
        f"{name}Header": {
            "type": "apiKey",
            "in": "header",
            "name": _KEY_HEADER,
            "description": f"{what}, in the header (X-{_KEY_HEADER} works too).",
        },
    }


SECURITY_SCHEMES: dict[str, JSON] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from /api/auth/login or /api/auth/refresh (short-lived).",
    },
    **_key_schemes("userApiKey", "The user API key (GET /api/me/api-key): acts as the owner"),
    **_key_schemes("writeApiKey", "A channel's write API key"),
    **_key_schemes("readApiKey", "A channel's read API key"),
    **_key_schemes("talkbackApiKey", "A TalkBack's API key"),
}


def _document(public_url: str, max_upload: int, max_image: int) -> dict[str, Any]:
    paths: dict[str, dict[str, JSON]] = {}
    schemas = dict(kit.SCHEMAS)
    for part in PARTS:
        for path, operations in part.paths().items():
            item = paths.setdefault(path, {})
            for method, operation in operations.items():
                if method in item:
                    raise ValueError(f"{method.upper()} {path} is documented twice")
                item[method] = operation
        for name, schema in part.SCHEMAS.items():
            if name in schemas:
                raise ValueError(f"schema {name} is defined twice")
            schemas[name] = schema
    upload = f"{max_upload} bytes; images {min(max_image, max_upload)} bytes"
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Realtime server HTTP API",
            "version": "0.1.0",
            "description": DESCRIPTION + f"\nUploads on this server: at most {upload}.\n",
        },
        "servers": [{"url": public_url}],
        "tags": [{"name": name, "description": text} for name, text in TAGS],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


@functools.lru_cache(maxsize=4)
def _served(public_url: str, max_upload: int, max_image: int) -> tuple[bytes, str]:
    """The document's bytes and ETag, made once per deployment."""
    body = orjson.dumps(_document(public_url, max_upload, max_image))
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@routes.get("/api/openapi.json")
async def openapi_document(request: web.Request) -> web.Response:
    settings = request.app[settings_key]
    body, etag = _served(settings.public_url, settings.max_upload_bytes, settings.max_image_upload_bytes)
    headers = {"Cache-Control": "public, max-age=3600", "ETag": etag}
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="application/json", headers=headers)
