"""Chat over the WebSocket: send, edit, delete, react, receipts, typing, presence. (Sync is the events domain's.)"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from server.chat.appkeys import messages_key, presence_key
from server.chat.attachments import attachment_ids
from server.chat.messages import MessageService
from server.chat.presence import RECHECK, presence_topic
from server.errors import ValidationError
from server.keys import broker_key
from server.realtime.commands import CommandTableDef
from server.realtime.connections import Connection, ConnKey
from server.web.validation import Field, validate

log = logging.getLogger(__name__)

commands = CommandTableDef()

_CHAT = Field(str, max_length=64)
_MESSAGE_ID = Field(int)
_TEXT = Field(str, required=False, strip=False)
_CIPHERTEXT = Field(str, required=False, strip=False)
_POINTER = {"chat_id": _CHAT, "message_id": _MESSAGE_ID}


def _messages(request: web.Request) -> MessageService:
    return request.app[messages_key]


def _user(conn: Connection) -> str:
    assert conn.user_id is not None  # commands other than auth and ping run only once authenticated
    return conn.user_id


@commands.command(
    "message.send",
    {
        "chat_id": _CHAT,
        "client_id": Field(str, max_length=64),
        "text": _TEXT,
        "ciphertext": _CIPHERTEXT,
        "reply_to": Field(int, required=False, nullable=True),
        "mentions": Field(list, required=False),
        "forward": Field(dict, required=False),
        "attachments": Field(list, required=False),
        "silent": Field(bool, required=False),
    },
)
async def send(request: web.Request, conn: Connection, args: dict[str, Any]) -> dict[str, Any]:
    mentions = args.get("mentions") or []
    if not all(isinstance(m, str) and len(m) <= 64 for m in mentions):
        raise ValidationError("mentions must be a list of user ids", field="mentions")
    forward = args.get("forward")
    origin = None
    if forward is not None:
        origin_args = validate(forward, {"chat_id": _CHAT, "message_id": _MESSAGE_ID})
        if "text" in args or "ciphertext" in args:
            raise ValidationError("a forward carries the original's text, not its own", field="forward")
        origin = (origin_args["chat_id"], origin_args["message_id"])
    return await _messages(request).send(
        _user(conn),
        args["chat_id"],
        client_id=args["client_id"],
        text=args.get("text"),
        ciphertext=args.get("ciphertext"),
        reply_to=args.get("reply_to"),
        mentions=mentions,
        forward=origin,
        attachments=attachment_ids(args["attachments"]) if "attachments" in args else (),
        silent=args.get("silent", False),
    )


@commands.command("message.edit", {**_POINTER, "text": _TEXT, "ciphertext": _CIPHERTEXT})
async def edit(request: web.Request, conn: Connection, args: dict[str, Any]) -> dict[str, Any]:
    return await _messages(request).edit(
        _user(conn), args["chat_id"], args["message_id"], args.get("text"), args.get("ciphertext")
    )


@commands.command("message.delete", {**_POINTER, "for_everyone": Field(bool, required=False)})
async def delete(request: web.Request, conn: Connection, args: dict[str, Any]) -> dict[str, Any]:
    everyone = args.get("for_everyone", False)
    await _messages(request).delete(_user(conn), args["chat_id"], args["message_id"], for_everyone=everyone)
    return {"chat_id": args["chat_id"], "message_id": args["message_id"], "for_everyone": everyone}


@commands.command("message.react", {**_POINTER, "emoji": Field(str, max_length=16), "on": Field(bool, required=False)})
async def react(request: web.Request, conn: Connection, args: dict[str, Any]) -> dict[str, Any]:
    on = args.get("on", True)
    await _messages(request).react(_user(conn), args["chat_id"], args["message_id"], args["emoji"], on)
    return {"chat_id": args["chat_id"], "message_id": args["message_id"], "emoji": args["emoji"], "on": on}


@commands.command("chat.read", _POINTER)
async def read(request: web.Request, conn: Connection, args: dict[str, Any]) -> dict[str, Any]:
    return await _messages(request).mark(_user(conn), args["chat_id"], args["message_id"], "read")


@commands.command("chat.delivered", _POINTER)
async def delivered(request: web.Request, conn: Connection, args: dict[str, Any]) -> dict[str, Any]:
    return await _messages(request).mark(_user(conn), args["chat_id"], args["message_id"], "delivered")


@commands.command("chat.typing", {"chat_id": _CHAT})
async def typing(request: web.Request, conn: Connection, args: dict[str, Any]) -> dict[str, Any]:
    sent = await _messages(request).typing(_user(conn), args["chat_id"])
    return {"chat_id": args["chat_id"], "sent": sent}


MAX_FOLLOWED = 500  # users one connection may follow for presence


@dataclass
class _Following:
    """A connection's presence follows (their subscriptions are the connection's, keyed ("presence", user))."""

    users: set[str] = field(default_factory=set)
    checks: set[asyncio.Task[None]] = field(default_factory=set)  # rechecks running (held until done)


FOLLOWING: ConnKey[_Following] = ConnKey("chat.presence")


async def on_authenticated(request: web.Request, conn: Connection) -> None:
    """The user is online while this socket is open."""
    presence = request.app[presence_key]
    user_id = _user(conn)

    async def gone() -> None:
        await presence.disconnected(user_id)

    # Registered first: connected() counts the socket before its first await, and if the socket goes while
    # it waits, the count must still come down.
    conn.async_cleanups.append(gone)
    await presence.connected(user_id)


@commands.command("presence.follow", {"user_ids": Field(list)})
async def follow_presence(request: web.Request, conn: Connection, args: dict[str, Any]) -> dict[str, Any]:
    """Follow users' presence: their current state now, then a `presence` push whenever it changes."""
    ids = args["user_ids"]
    if not all(isinstance(u, str) and 0 < len(u) <= 64 for u in ids):
        raise ValidationError("user_ids must be a list of user ids", field="user_ids")
    if len(ids) > MAX_FOLLOWED:
        raise ValidationError("a connection follows at most {limit} users", field="user_ids", limit=MAX_FOLLOWED)
    following = conn.setdefault(FOLLOWING, _Following)
    fresh = [u for u in dict.fromkeys(ids) if u not in following.users]
    if len(following.users) + len(fresh) > MAX_FOLLOWED:
        raise ValidationError("a connection follows at most {limit} users", field="user_ids", limit=MAX_FOLLOWED)
    presence, broker, viewer = request.app[presence_key], request.app[broker_key], _user(conn)

    async def recheck(user_id: str) -> None:
        if (await presence.state(viewer, user_id)).get("hidden") and user_id in following.users:
            _unfollow(conn, user_id)
            conn.send({"type": "presence", "user_id": user_id, "hidden": True})

    def _checked(task: asyncio.Task[None]) -> None:
        following.checks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("rechecking presence failed", exc_info=task.exception())

    def deliver(event: dict[str, Any]) -> None:
        if event.get("type") == RECHECK:
            task = asyncio.get_running_loop().create_task(recheck(event["user_id"]))
            following.checks.add(task)  # held until done (the loop keeps only a weak reference)
            task.add_done_callback(_checked)
        else:
            conn.send(event)

    states = []
    for user_id in dict.fromkeys(ids):
        state = await presence.state(viewer, user_id)
        states.append(state)
        if user_id in fresh and not state.get("hidden") and user_id not in following.users:
            conn.subscribe(("presence", user_id), await broker.subscribe(presence_topic(user_id), deliver))
            following.users.add(user_id)
    return {"presence": states}


@commands.command("presence.unfollow", {"user_ids": Field(list)})
async def unfollow_presence(request: web.Request, conn: Connection, args: dict[str, Any]) -> dict[str, Any]:
    for user_id in args["user_ids"]:
        if isinstance(user_id, str):
            _unfollow(conn, user_id)
    following = conn.get(FOLLOWING)
    return {"following": len(following.users) if following else 0}


def _unfollow(conn: Connection, user_id: str) -> None:
    following = conn.get(FOLLOWING)
    if following is not None and user_id in following.users:
        following.users.discard(user_id)
        conn.unsubscribe(("presence", user_id))
