"""Chat over HTTP: the chat list, chats and their members, settings, history, message actions, blocks, reports and
the admins' report queue (invite links: invite_routes.py).

Every route needs a signed-in user, and a chat the user is not a member of answers 404 exactly like a chat
that does not exist. The WebSocket carries the same actions for the web app (server/chat/ws.py).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.auth.guard import require_admin, require_user
from server.chat.appkeys import chat_key, messages_key, moderation_key, presence_key
from server.chat.attachments import attachment_ids
from server.chat.messages import MessageService
from server.chat.moderation import MAX_REASON, RESOLUTIONS
from server.chat.presence import VISIBILITY
from server.chat.service import MAX_DESCRIPTION, MAX_MEMBERS, MAX_NAME, ChatService
from server.errors import ValidationError
from server.web.paging import decode_cursor, encode_cursor, page_limit
from server.web.params import id_in_path, int_param
from server.web.validation import Field, read_json

routes = web.RouteTableDef()

_USER_IDS = Field(list, required=False)


def _chat(request: web.Request) -> ChatService:
    return request.app[chat_key]


def _messages(request: web.Request) -> MessageService:
    return request.app[messages_key]


def _user_ids(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_MEMBERS:
        raise ValidationError("{field} must be a list of at most {limit} user ids", field=name, limit=MAX_MEMBERS)
    if not all(isinstance(v, str) and 0 < len(v) <= 64 for v in value):
        raise ValidationError("{field} must hold user ids (strings)", field=name)
    return value


def _message_id(request: web.Request) -> int:
    return id_in_path(request.match_info["message_id"], "no such message")


@routes.get("/api/chats")
async def list_chats(request: web.Request) -> web.Response:
    principal = await require_user(request)
    archived = request.query.get("archived")
    if archived not in (None, "true", "false"):
        raise ValidationError("archived must be true or false", field="archived")
    chats = await _chat(request).list_chats(
        principal.user.id, archived=None if archived is None else archived == "true"
    )
    return web.json_response({"chats": chats})


@routes.post("/api/chats")
async def create_chat(request: web.Request) -> web.Response:
    principal = await require_user(request)
    body = await read_json(
        request,
        {
            "kind": Field(str, choices=("direct", "group")),
            "user_id": Field(str, required=False, max_length=64),
            "name": Field(str, required=False, max_length=MAX_NAME, min_length=1),
            "description": Field(str, required=False, max_length=MAX_DESCRIPTION, nullable=True),
            "members": _USER_IDS,
            "e2e": Field(bool, required=False),
            "broadcast": Field(bool, required=False),
        },
    )
    chats = _chat(request)
    if body["kind"] == "direct":
        if "user_id" not in body:
            raise ValidationError("a direct chat needs user_id", field="user_id", code="required")
        for extra in ("name", "description", "members", "broadcast"):
            if extra in body:
                raise ValidationError("a direct chat has no {field}", field=extra)
        view, made = await chats.create_direct(principal.user.id, body["user_id"], body.get("e2e", False))
        return web.json_response(view, status=201 if made else 200)
    if "name" not in body:
        raise ValidationError("a group needs a name", field="name", code="required")
    if "user_id" in body:
        raise ValidationError("a group takes members, not user_id", field="user_id")
    view = await chats.create_group(
        principal.user.id,
        body["name"],
        body.get("description"),
        _user_ids(body.get("members", []), "members"),
        body.get("e2e", False),
        body.get("broadcast", False),
    )
    return web.json_response(view, status=201)


@routes.get("/api/chats/{chat_id}")
async def get_chat(request: web.Request) -> web.Response:
    principal = await require_user(request)
    return web.json_response(await _chat(request).chat_view(principal.user.id, request.match_info["chat_id"]))


@routes.patch("/api/chats/{chat_id}")
async def update_chat(request: web.Request) -> web.Response:
    principal = await require_user(request)
    body = await read_json(
        request,
        {
            "name": Field(str, required=False, max_length=MAX_NAME, min_length=1),
            "description": Field(str, required=False, max_length=MAX_DESCRIPTION, nullable=True),
            "avatar_id": Field(str, required=False, max_length=64, nullable=True),
            "broadcast": Field(bool, required=False),
        },
    )
    if not body:
        raise ValidationError("nothing to change: send name, description, avatar_id or broadcast", code="required")
    view = await _chat(request).update_group(principal.user.id, request.match_info["chat_id"], body)
    return web.json_response(view)


@routes.get("/api/chats/{chat_id}/members")
async def list_members(request: web.Request) -> web.Response:
    principal = await require_user(request)
    limit = page_limit(request)
    after = decode_cursor(request, lambda v: (int(v[0]), str(v[1])[:64]))
    members, last = await _chat(request).members_page(principal.user.id, request.match_info["chat_id"], after, limit)
    return web.json_response({"members": members, "next": encode_cursor(list(last)) if last else None})


@routes.post("/api/chats/{chat_id}/members")
async def add_members(request: web.Request) -> web.Response:
    principal = await require_user(request)
    body = await read_json(request, {"user_ids": Field(list)})
    ids = _user_ids(body["user_ids"], "user_ids")
    view = await _chat(request).add_members(principal.user.id, request.match_info["chat_id"], ids)
    return web.json_response(view)


@routes.delete("/api/chats/{chat_id}/members/{user_id}")
async def remove_member(request: web.Request) -> web.Response:
    principal = await require_user(request)
    await _chat(request).remove_member(principal.user.id, request.match_info["chat_id"], request.match_info["user_id"])
    return web.Response(status=204)


@routes.patch("/api/chats/{chat_id}/members/{user_id}")
async def set_role(request: web.Request) -> web.Response:
    principal = await require_user(request)
    body = await read_json(request, {"role": Field(str, choices=("member", "admin", "owner"))})
    chat_id, target = request.match_info["chat_id"], request.match_info["user_id"]
    await _chat(request).set_role(principal.user.id, chat_id, target, body["role"])
    return web.json_response(await _chat(request).chat_view(principal.user.id, chat_id))


@routes.post("/api/chats/{chat_id}/leave")
async def leave(request: web.Request) -> web.Response:
    principal = await require_user(request)
    await _chat(request).leave(principal.user.id, request.match_info["chat_id"])
    return web.Response(status=204)


@routes.patch("/api/chats/{chat_id}/settings")
async def settings(request: web.Request) -> web.Response:
    principal = await require_user(request)
    body = await read_json(
        request,
        {
            "pinned": Field(bool, required=False),
            "archived": Field(bool, required=False),
            "muted_until": Field(float, required=False, nullable=True),
        },
    )
    result = await _chat(request).settings(principal.user.id, request.match_info["chat_id"], body)
    return web.json_response(result)


@routes.get("/api/chats/{chat_id}/messages")
async def history(request: web.Request) -> web.Response:
    principal = await require_user(request)
    before, after = int_param(request.query.get("before"), "before"), int_param(request.query.get("after"), "after")
    if before is not None and after is not None:
        raise ValidationError("give before or after, not both", field="after")
    limit = int_param(request.query.get("limit"), "limit", default=50)
    assert limit is not None
    page = await _messages(request).history(
        principal.user.id, request.match_info["chat_id"], before=before, after=after, limit=limit
    )
    return web.json_response(page)


@routes.post("/api/chats/{chat_id}/messages")
async def send(request: web.Request) -> web.Response:
    principal = await require_user(request)
    body = await read_json(
        request,
        {
            "client_id": Field(str, max_length=64),
            "text": Field(str, required=False, strip=False),
            "ciphertext": Field(str, required=False, strip=False),
            "reply_to": Field(int, required=False, nullable=True),
            "attachments": Field(list, required=False),
            "silent": Field(bool, required=False),
        },
    )
    view = await _messages(request).send(
        principal.user.id,
        request.match_info["chat_id"],
        client_id=body["client_id"],
        text=body.get("text"),
        ciphertext=body.get("ciphertext"),
        reply_to=body.get("reply_to"),
        attachments=attachment_ids(body["attachments"]) if "attachments" in body else (),
        silent=body.get("silent", False),
    )
    return web.json_response(view, status=200 if view["duplicate"] else 201)


@routes.patch("/api/chats/{chat_id}/messages/{message_id}")
async def edit(request: web.Request) -> web.Response:
    principal = await require_user(request)
    body = await read_json(
        request,
        {"text": Field(str, required=False, strip=False), "ciphertext": Field(str, required=False, strip=False)},
    )
    view = await _messages(request).edit(
        principal.user.id, request.match_info["chat_id"], _message_id(request), body.get("text"), body.get("ciphertext")
    )
    return web.json_response(view)


@routes.delete("/api/chats/{chat_id}/messages/{message_id}")
async def delete(request: web.Request) -> web.Response:
    principal = await require_user(request)
    scope = request.query.get("for", "me")
    if scope not in ("me", "everyone"):
        raise ValidationError("for must be me or everyone", field="for")
    await _messages(request).delete(
        principal.user.id, request.match_info["chat_id"], _message_id(request), for_everyone=scope == "everyone"
    )
    return web.Response(status=204)


@routes.put("/api/chats/{chat_id}/messages/{message_id}/reactions/{emoji}")
@routes.delete("/api/chats/{chat_id}/messages/{message_id}/reactions/{emoji}")
async def react(request: web.Request) -> web.Response:
    principal = await require_user(request)
    await _messages(request).react(
        principal.user.id,
        request.match_info["chat_id"],
        _message_id(request),
        request.match_info["emoji"],
        request.method == "PUT",
    )
    return web.Response(status=204)


@routes.post("/api/chats/{chat_id}/read")
async def mark_read(request: web.Request) -> web.Response:
    principal = await require_user(request)
    body = await read_json(request, {"message_id": Field(int)})
    result = await _messages(request).mark(principal.user.id, request.match_info["chat_id"], body["message_id"], "read")
    return web.json_response(result)


@routes.get("/api/chats/{chat_id}/messages/{message_id}/readers")
async def readers(request: web.Request) -> web.Response:
    principal = await require_user(request)
    result = await _messages(request).readers(principal.user.id, request.match_info["chat_id"], _message_id(request))
    return web.json_response(result)


# -- blocks, reports, settings ----------------------------------------------------------------------------


@routes.get("/api/blocks")
async def list_blocks(request: web.Request) -> web.Response:
    principal = await require_user(request)
    return web.json_response({"blocks": await request.app[moderation_key].blocks(principal.user.id)})


@routes.post("/api/blocks")
async def block(request: web.Request) -> web.Response:
    principal = await require_user(request)
    body = await read_json(request, {"user_id": Field(str, max_length=64)})
    await request.app[moderation_key].block(principal.user.id, body["user_id"])
    return web.Response(status=204)


@routes.delete("/api/blocks/{user_id}")
async def unblock(request: web.Request) -> web.Response:
    principal = await require_user(request)
    await request.app[moderation_key].unblock(principal.user.id, request.match_info["user_id"])
    return web.Response(status=204)


@routes.post("/api/chats/{chat_id}/messages/{message_id}/report")
async def report(request: web.Request) -> web.Response:
    principal = await require_user(request)
    body = await read_json(request, {"reason": Field(str, required=False, nullable=True, max_length=MAX_REASON)})
    result = await request.app[moderation_key].report(
        principal.user.id, request.match_info["chat_id"], _message_id(request), body.get("reason")
    )
    return web.json_response(result, status=201)


@routes.get("/api/me/chat-settings")
async def get_settings(request: web.Request) -> web.Response:
    principal = await require_user(request)
    return web.json_response(await request.app[presence_key].settings(principal.user.id))


@routes.patch("/api/me/chat-settings")
async def save_settings(request: web.Request) -> web.Response:
    principal = await require_user(request)
    body = await read_json(
        request,
        {"presence": Field(str, required=False, choices=VISIBILITY), "push_previews": Field(bool, required=False)},
    )
    return web.json_response(await request.app[presence_key].save_settings(principal.user.id, body))


# -- server admins: the report queue and moderation -----------------------------------------------------


@routes.get("/api/admin/reports")
async def admin_reports(request: web.Request) -> web.Response:
    await require_admin(request)
    state = request.query.get("state", "open")
    if state not in ("open", "all"):
        raise ValidationError("state must be open or all", field="state")
    limit = page_limit(request)
    after = decode_cursor(request, lambda v: (float(v[0]), str(v[1])[:64]))
    reports = await request.app[moderation_key].queue(open_only=state == "open", after=after, limit=limit + 1)
    page = reports[:limit]
    nxt = encode_cursor([page[-1]["created_at"], page[-1]["id"]]) if len(reports) > limit else None
    return web.json_response({"reports": page, "next": nxt})


@routes.post("/api/admin/reports/{report_id}/resolve")
async def admin_resolve(request: web.Request) -> web.Response:
    principal = await require_admin(request)
    body = await read_json(request, {"action": Field(str, choices=RESOLUTIONS)})
    result = await request.app[moderation_key].resolve(
        principal.user.id, request.match_info["report_id"], body["action"]
    )
    return web.json_response(result)


@routes.delete("/api/admin/chats/{chat_id}/messages/{message_id}")
async def admin_delete_message(request: web.Request) -> web.Response:
    principal = await require_admin(request)
    chat_id = request.match_info["chat_id"][:64]
    await request.app[moderation_key].delete_message(principal.user.id, chat_id, _message_id(request))
    return web.Response(status=204)
