"""HTTP routes of group invite links: admins make, list and revoke them under /api/chats/{chat_id}/invites; a
holder previews and joins at /api/invites/{code}. The rules are in server/chat/invites.py."""

from __future__ import annotations

from aiohttp import web

from server.auth.guard import require_user
from server.chat.appkeys import invites_key
from server.chat.invites import InviteService
from server.errors import ValidationError
from server.keys import settings_key
from server.web.validation import Field, read_json

routes = web.RouteTableDef()


def _invites(request: web.Request) -> InviteService:
    return request.app[invites_key]


@routes.post("/api/chats/{chat_id}/invites")
async def create_invite(request: web.Request) -> web.Response:
    principal = await require_user(request)
    body = await read_json(
        request,
        {
            "expires_in": Field(int, required=False, nullable=True),
            "max_uses": Field(int, required=False, nullable=True),
        },
    )
    expires_in, max_uses = body.get("expires_in"), body.get("max_uses")
    if expires_in is not None and not 60 <= expires_in <= 365 * 86400:
        raise ValidationError("expires_in must be between 60 seconds and a year", field="expires_in")
    if max_uses is not None and not 1 <= max_uses <= 100_000:
        raise ValidationError("max_uses must be between 1 and 100000", field="max_uses")
    invite = await _invites(request).create_invite(
        principal.user.id, request.match_info["chat_id"], expires_in, max_uses
    )
    invite["url"] = f"{request.app[settings_key].public_url}/#join/{invite['code']}"
    return web.json_response(invite, status=201)


@routes.get("/api/chats/{chat_id}/invites")
async def list_invites(request: web.Request) -> web.Response:
    principal = await require_user(request)
    invites = await _invites(request).invites(principal.user.id, request.match_info["chat_id"])
    return web.json_response({"invites": invites})


@routes.delete("/api/chats/{chat_id}/invites/{invite_id}")
async def revoke_invite(request: web.Request) -> web.Response:
    principal = await require_user(request)
    await _invites(request).revoke_invite(
        principal.user.id, request.match_info["chat_id"], request.match_info["invite_id"]
    )
    return web.Response(status=204)


@routes.get("/api/invites/{code}")
async def invite_preview(request: web.Request) -> web.Response:
    await require_user(request)
    return web.json_response(await _invites(request).invite_preview(request.match_info["code"]))


@routes.post("/api/invites/{code}/join")
async def join(request: web.Request) -> web.Response:
    principal = await require_user(request)
    return web.json_response(await _invites(request).join(principal.user.id, request.match_info["code"]))
