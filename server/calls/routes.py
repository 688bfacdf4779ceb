"""HTTP routes for calls: /api/calls/*."""

from __future__ import annotations

import time

from aiohttp import web

from server.auth.guard import require_user
from server.calls.appkeys import calls_key, decline_links_key
from server.calls.model import check_id
from server.calls.turn import ice_servers
from server.errors import Forbidden, ValidationError
from server.keys import settings_key

routes = web.RouteTableDef()


@routes.get("/api/calls/ice-servers")
async def get_ice_servers(request: web.Request) -> web.Response:
    """STUN and TURN servers for this user's RTCPeerConnection, TURN with short-lived coturn credentials."""
    principal = await require_user(request)
    settings = request.app[settings_key]
    body = ice_servers(
        settings.turn_secret, settings.turn_urls, principal.user.id, time.time(), settings.turn_ttl_seconds
    )
    return web.json_response(body, headers={"Cache-Control": "no-store"})


@routes.post("/api/calls/{call_id}/decline")
async def decline(request: web.Request) -> web.Response:
    """Decline a ringing call from a push notification: the link in the push is the credential."""
    call_id = request.match_info["call_id"]
    user_id, token = request.query.get("user", ""), request.query.get("token", "")
    check_id(call_id, "call_id")
    check_id(user_id, "user")
    if not (0 < len(token) <= 64 and token.isascii()):
        raise ValidationError("the link needs its token", field="token")
    if not request.app[decline_links_key].valid(call_id, user_id, token):
        raise Forbidden("this link does not decline that call", code="invalid_token")
    await request.app[calls_key].decline(user_id, call_id)
    return web.json_response({"call_id": call_id, "state": "ended"}, headers={"Cache-Control": "no-store"})
