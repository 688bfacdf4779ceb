"""The HTTP API as an OpenAPI 3.1 document, served at GET /api/openapi.json (no sign-in, cacheable).

The document is Python data in parts: each domain documents its routes in its own apidoc module(s) (for example
server/chat/apidoc/) and adds them with `add_part(app, module, tags=...)` in its setup; the house's own routes are
in server/web/apidoc/ops.py. Each part has its operations (`paths()`) and the schemas they name (`SCHEMAS`), built
with the same `Field` specs and constants the handlers check against (kit.py has the building blocks). The
document is built once per app and served as the same bytes, with an ETag. tests/web/test_openapi.py checks it
against the app's router both ways, so a route added without its documentation fails the tests.

To document a new route, add one `book.op(...)` to the `paths()` of its domain's apidoc module, and any new
shape to that module's SCHEMAS.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from aiohttp import web

from server.config import Settings
from server.keys import settings_key
from server.web.apidoc import kit, ops
from server.web.apidoc.kit import JSON

routes = web.RouteTableDef()


class ApiPart(Protocol):
    """An apidoc module: its operations by path and method, and the schemas they name."""

    SCHEMAS: dict[str, JSON]

    def paths(self) -> dict[str, dict[str, JSON]]: ...


@dataclass
class ApiDocument:
    """The parts the domains added, in order, and the document they make (built on first request)."""

    parts: list[ApiPart] = field(default_factory=list)
    tags: list[tuple[str, str]] = field(default_factory=list)
    security_schemes: dict[str, JSON] = field(default_factory=dict)
    _served: tuple[bytes, str] | None = None

    def served(self, settings: Settings) -> tuple[bytes, str]:
        """The document's bytes and ETag."""
        if self._served is None:
            body = orjson.dumps(self.build(settings))
            self._served = body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        return self._served

    def build(self, settings: Settings) -> dict[str, Any]:
        paths: dict[str, dict[str, JSON]] = {}
        schemas = dict(kit.SCHEMAS)
        for part in self.parts:
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
        max_upload, max_image = settings.max_upload_bytes, settings.max_image_upload_bytes
        upload = f"{max_upload} bytes; images {min(max_image, max_upload)} bytes"
        return {
            "openapi": "3.1.0",
            "info": {
                "title": "Realtime server HTTP API",
                "version": "0.1.0",
                "description": DESCRIPTION + f"\nUploads on this server: at most {upload}.\n",
            },
            "servers": [{"url": settings.public_url}],
            "tags": [{"name": name, "description": text} for name, text in self.tags],
            "paths": dict(sorted(paths.items())),
            "components": {"schemas": schemas, "securitySchemes": self.security_schemes},
        }


api_document_key: web.AppKey[ApiDocument] = web.AppKey("api_document")

HOUSE_TAGS = [
    ("realtime", "The WebSocket (its protocol: docs/protocol.md)"),
    ("ops", "Health, readiness, metrics and this document"),
]
BEARER: dict[str, JSON] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from /api/auth/login or /api/auth/refresh (short-lived).",
    }
}


def setup(app: web.Application) -> None:
    """The document and its route, with the house's own part; domains add theirs with add_part."""
    app[api_document_key] = ApiDocument(security_schemes=dict(BEARER))
    app.add_routes(routes)


def add_part(
    app: web.Application,
    part: ApiPart,
    *,
    tags: Iterable[tuple[str, str]] = (),
    security_schemes: Mapping[str, JSON] | None = None,
) -> None:
    """Add a domain's documentation: its operations and schemas, its tags, the security schemes it names."""
    document = app[api_document_key]
    document.parts.append(part)
    document.tags.extend(tags)
    for name, scheme in (security_schemes or {}).items():
        if name in document.security_schemes:
            raise ValueError(f"security scheme {name} is defined twice")
        document.security_schemes[name] = scheme


def add_house_part(app: web.Application) -> None:
    """The house's routes (health, metrics, the WebSocket, this document), added after the domains'."""
    add_part(app, ops, tags=HOUSE_TAGS)


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


@routes.get("/api/openapi.json")
async def openapi_document(request: web.Request) -> web.Response:
    body, etag = request.app[api_document_key].served(request.app[settings_key])
    headers = {"Cache-Control": "public, max-age=3600", "ETag": etag}
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="application/json", headers=headers)
