"""Operations in the OpenAPI document: health (server/ops/health.py), the WebSocket's upgrade
(server/realtime/routes.py; its protocol is docs/protocol.md) and this document (server/web/openapi.py)."""

from __future__ import annotations

from server.web.apidoc.kit import (
    JSON,
    ApiBook,
    no_content,
    obj,
    reply,
)

SCHEMAS: dict[str, JSON] = {}


def paths() -> dict[str, dict[str, JSON]]:
    book = ApiBook(path_params={})
    _ops(book)
    return book.paths


def _ops(book: ApiBook) -> None:
    book.op(
        "GET",
        "/healthz",
        tag="ops",
        summary="Liveness: the process answers",
        auth="none",
        ok={200: reply("Alive.", obj({"status": {"const": "ok"}}))},
    )
    book.op(
        "GET",
        "/readyz",
        tag="ops",
        summary="Readiness: every configured dependency answers within 2 s",
        description="Checks the database; Redis when `REDIS_URL` is set; the MQTT bridge's connection when "
        "`MQTT_URL` is set. `checks` says which answered.",
        auth="none",
        ok={
            200: reply(
                "Ready.",
                obj(
                    {
                        "status": {"const": "ready"},
                        "database": {"type": "string", "enum": ["sqlite", "postgresql"]},
                        "checks": {"type": "object", "additionalProperties": {"type": "boolean"}},
                    }
                ),
            )
        },
        errors={503: "`not_ready`: a dependency is not reachable (the message names it)."},
    )
    book.op(
        "GET",
        "/api/openapi.json",
        tag="ops",
        summary="This document",
        auth="none",
        ok={
            200: reply("The OpenAPI 3.1 document.", {"type": "object"}, ETag="the document's version"),
            304: no_content("Not modified: `If-None-Match` holds the current ETag."),
        },
    )
    book.op(
        "GET",
        "/ws",
        tag="realtime",
        summary="The WebSocket: upgrades, then speaks the protocol of docs/protocol.md",
        description="One per client. Authenticate with an `auth` frame carrying an access token (within 30 s, "
        "unless only following public channels). Frames, error codes and close codes are in docs/protocol.md.",
        auth="none",
        ok={101: no_content("Switching to the WebSocket protocol.")},
        errors={
            400: "Not a WebSocket upgrade request.",
            403: "`origin_not_allowed`: a browser page of another site.",
        },
    )
