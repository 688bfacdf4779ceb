"""HTTP routes for Web Push: the VAPID public key, and this device's subscription (/api/push/*)."""

from __future__ import annotations

import orjson
from aiohttp import web

from server.auth.guard import require_user
from server.chat.appkeys import push_key
from server.errors import ValidationError
from server.web.validation import read_body

routes = web.RouteTableDef()

BODY_LIMIT = 8 * 1024  # a PushSubscription is well under 1 KiB


@routes.get("/api/push/vapid-public-key")
async def vapid_public_key(request: web.Request) -> web.Response:
    """The applicationServerKey for PushManager.subscribe(): the uncompressed P-256 point, base64url."""
    return web.json_response({"public_key": request.app[push_key].public_key})


@routes.post("/api/push/subscriptions")
async def subscribe(request: web.Request) -> web.Response:
    """Store this device's PushSubscription (its toJSON()); a device has one, the newest wins."""
    principal = await require_user(request)
    raw = await read_body(request, BODY_LIMIT)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationError("the body is not valid JSON: {reason}", code="malformed_json", reason=exc.msg) from exc
    subscription = await request.app[push_key].subscribe(
        user_id=principal.user.id, session_id=principal.session_id, data=data
    )
    return web.json_response(
        {"id": subscription.id, "created_at": subscription.created_at, "expires_at": subscription.expires_at},
        status=201,
    )


@routes.delete("/api/push/subscriptions")
async def unsubscribe(request: web.Request) -> web.Response:
    """Forget this device's subscription (nothing to forget is fine too)."""
    principal = await require_user(request)
    await request.app[push_key].unsubscribe(principal.session_id)
    return web.Response(status=204)
