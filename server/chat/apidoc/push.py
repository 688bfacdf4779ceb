"""Web Push in the OpenAPI document: server/chat/push_routes.py (the subscription's checks: server/chat/push.py)."""

from __future__ import annotations

from server.chat.push import MAX_ENDPOINT
from server.chat.push import MAX_KEY as MAX_PUSH_KEY
from server.chat.push_routes import BODY_LIMIT as PUSH_BODY_LIMIT
from server.web.apidoc.kit import (
    JSON,
    NUMBER,
    STRING,
    TIME,
    ApiBook,
    no_content,
    nullable,
    obj,
    reply,
)

SCHEMAS: dict[str, JSON] = {}


def paths() -> dict[str, dict[str, JSON]]:
    book = ApiBook(path_params={})
    _push(book)
    return book.paths


def _push(book: ApiBook) -> None:
    book.op(
        "GET",
        "/api/push/vapid-public-key",
        tag="push",
        summary="The VAPID public key for PushManager.subscribe()",
        auth="none",
        ok={200: reply("The uncompressed P-256 point, base64url.", obj({"public_key": STRING}))},
    )
    b64url = {"type": "string", "minLength": 1, "maxLength": MAX_PUSH_KEY, "pattern": "^[A-Za-z0-9_-]*={0,2}$"}
    subscription = obj(
        {
            "endpoint": {
                "type": "string",
                "format": "uri",
                "minLength": 1,
                "maxLength": MAX_ENDPOINT,
                "description": "an https URL of a public push service",
            },
            "expirationTime": {**nullable(NUMBER), "description": "milliseconds since the epoch, in the future"},
            "keys": obj(
                {"p256dh": {**b64url, "description": "an uncompressed P-256 public key"}, "auth": b64url},
                closed=True,
            ),
        },
        required=["endpoint", "keys"],
        closed=True,
    )
    book.op(
        "POST",
        "/api/push/subscriptions",
        tag="push",
        summary="Store this device's push subscription (PushSubscription.toJSON()); the newest wins",
        body=subscription,
        ok={201: reply("Stored.", obj({"id": STRING, "created_at": TIME, "expires_at": nullable(TIME)}))},
        errors={
            400: "Not JSON, an unknown member, or a refused endpoint or key; `field` names it.",
            413: f"The body is larger than {PUSH_BODY_LIMIT} bytes.",
        },
    )
    book.op(
        "DELETE",
        "/api/push/subscriptions",
        tag="push",
        summary="Forget this device's push subscription",
        ok={204: no_content("Forgotten (also when there was none).")},
    )
