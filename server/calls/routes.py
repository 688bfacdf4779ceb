"""HTTP routes for calls: /api/calls/*."""

from __future__ import annotations

import time

from aiohttp import web

from server.auth.guard import require_user
from server.calls.turn import ice_servers
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
