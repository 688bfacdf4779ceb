"""Chat over the WebSocket: sync (resume from a seq), send, edit, delete, react, receipts, typing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from server.chat.attachments import attachment_ids
from server.chat.presence import RECHECK, presence_topic
from server.chat.service import ChatService
from server.errors import ValidationError
from server.keys import broker_key, chat_key, presence_key
from server.realtime.commands import CommandTable
from server.realtime.connections import Connection
from server.realtime.seq import SeqStream
from server.web.validation import Field, validate

log = logging.getLogger(__name__)

MAX_SYNC_EVENTS = 5000  # per sync command; the result says when more remain

_CHAT = Field(str, max_length=64)
_MESSAGE_ID = Field(int)
_TEXT = Field(str, required=False, strip=False)
_CIPHERTEXT = Field(str, required=False, strip=False)


def _fields(frame: dict[str, Any], spec: dict[str, Field]) -> dict[str, Any]:
    return validate({k: v for k, v in frame.items() if k not in ("type", "id")}, spec)


def _chat(request: web.Request) -> ChatService:
    return request.app[chat_key]


def _user(conn: Connection) -> str:
    assert conn.user_id is not None  # commands other than auth and ping run only once authenticated
    return conn.user_id


async def sync(request: web.Request, conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    args = _fields(frame, {"after_seq": Field(int)})
    after = args["after_seq"]
    if after < 0:
        raise ValidationError("after_seq must be 0 or more", field="after_seq")
    chat, user_id = _chat(request), _user(conn)
    last = await chat.last_seq(user_id)
    reset = after > last  # the client holds seqs this account never had: it must reload its state
    stream = conn.seq_stream
    if stream is None:

        async def read(after: int, upto: int | None, limit: int) -> list[dict[str, Any]]:
            return await chat.events_after(user_id, after, limit, upto)

        stream = conn.seq_stream = SeqStream(conn, read)
    more = await stream.sync(last if reset else after, MAX_SYNC_EVENTS)
    return {"last_seq": stream.last, "more": more, "reset": reset}


async def send(request: web.Request, conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    args = _fields(
        frame,
        {
            "chat_id": _CHAT,
            "client_id": Field(str, max_length=64),
            "text": _TEXT,
            "ciphertext": _CIPHERTEXT,
            "reply_to": Field(int, required=False, nullable=True),
            "mentions": Field(list, required=False),
            "forward": Field(dict, required=False),
            "attachments": Field(list, required=False),
        },
    )
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
    return await _chat(request).send(
        _user(conn),
        args["chat_id"],
        client_id=args["client_id"],
        text=args.get("text"),
        ciphertext=args.get("ciphertext"),
        reply_to=args.get("reply_to"),
        mentions=mentions,
        forward=origin,
        attachments=attachment_ids(args["attachments"]) if "attachments" in args else (),
    )


async def edit(request: web.Request, conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    args = _fields(frame, {"chat_id": _CHAT, "message_id": _MESSAGE_ID, "text": _TEXT, "ciphertext": _CIPHERTEXT})
    return await _chat(request).edit(
        _user(conn), args["chat_id"], args["message_id"], args.get("text"), args.get("ciphertext")
    )


async def delete(request: web.Request, conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    args = _fields(frame, {"chat_id": _CHAT, "message_id": _MESSAGE_ID, "for_everyone": Field(bool, required=False)})
    everyone = args.get("for_everyone", False)
    await _chat(request).delete(_user(conn), args["chat_id"], args["message_id"], for_everyone=everyone)
    return {"chat_id": args["chat_id"], "message_id": args["message_id"], "for_everyone": everyone}


async def react(request: web.Request, conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    args = _fields(
        frame,
        {
            "chat_id": _CHAT,
            "message_id": _MESSAGE_ID,
            "emoji": Field(str, max_length=16),
            "on": Field(bool, required=False),
        },
    )
    on = args.get("on", True)
    await _chat(request).react(_user(conn), args["chat_id"], args["message_id"], args["emoji"], on)
    return {"chat_id": args["chat_id"], "message_id": args["message_id"], "emoji": args["emoji"], "on": on}


def _pointer(name: str) -> Any:
    async def mark(request: web.Request, conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
        args = _fields(frame, {"chat_id": _CHAT, "message_id": _MESSAGE_ID})
        return await _chat(request).mark(_user(conn), args["chat_id"], args["message_id"], name)

    return mark


async def typing(request: web.Request, conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    args = _fields(frame, {"chat_id": _CHAT})
    sent = await _chat(request).typing(_user(conn), args["chat_id"])
    return {"chat_id": args["chat_id"], "sent": sent}


MAX_FOLLOWED = 500  # users one connection may follow for presence


async def on_auth(request: web.Request, conn: Connection) -> None:
    """The user is online while this socket is open."""
    presence = request.app[presence_key]
    user_id = _user(conn)

    async def gone() -> None:
        await presence.disconnected(user_id)

    # Registered first: connected() counts the socket before its first await, and if the socket goes while
    # it waits, the count must still come down.
    conn.async_cleanups.append(gone)
    await presence.connected(user_id)


async def follow_presence(request: web.Request, conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    """Follow users' presence: their current state now, then a `presence` push whenever it changes."""
    args = _fields(frame, {"user_ids": Field(list)})
    ids = args["user_ids"]
    if not all(isinstance(u, str) and 0 < len(u) <= 64 for u in ids):
        raise ValidationError("user_ids must be a list of user ids", field="user_ids")
    if len(ids) > MAX_FOLLOWED:
        raise ValidationError(f"a connection follows at most {MAX_FOLLOWED} users", field="user_ids")
    followed: dict[str, Callable[[], None]] = conn.state.setdefault("presence", {})
    fresh = [u for u in dict.fromkeys(ids) if u not in followed]
    if len(followed) + len(fresh) > MAX_FOLLOWED:
        raise ValidationError(f"a connection follows at most {MAX_FOLLOWED} users", field="user_ids")
    presence, broker, viewer = request.app[presence_key], request.app[broker_key], _user(conn)

    async def recheck(user_id: str) -> None:
        if (await presence.state(viewer, user_id)).get("hidden") and user_id in followed:
            _unfollow(conn, user_id)
            conn.send({"type": "presence", "user_id": user_id, "hidden": True})

    checks: set[asyncio.Task[None]] = conn.state.setdefault("presence_checks", set())

    def _checked(task: asyncio.Task[None]) -> None:
        checks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("rechecking presence failed", exc_info=task.exception())

    def deliver(event: dict[str, Any]) -> None:
        if event.get("type") == RECHECK:
            task = asyncio.get_running_loop().create_task(recheck(event["user_id"]))
            checks.add(task)  # held until done (the loop keeps only a weak reference)
            task.add_done_callback(_checked)
        else:
            conn.send(event)

    states = []
    for user_id in dict.fromkeys(ids):
        state = await presence.state(viewer, user_id)
        states.append(state)
        if user_id in fresh and not state.get("hidden"):
            followed[user_id] = await broker.subscribe(presence_topic(user_id), deliver)
            conn.cleanups.append(followed[user_id])
    return {"presence": states}


async def unfollow_presence(request: web.Request, conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    args = _fields(frame, {"user_ids": Field(list)})
    for user_id in args["user_ids"]:
        if isinstance(user_id, str):
            _unfollow(conn, user_id)
    return {"following": len(conn.state.setdefault("presence", {}))}


def _unfollow(conn: Connection, user_id: str) -> None:
    stop = conn.state.setdefault("presence", {}).pop(user_id, None)
    if stop is not None:
        stop()
        conn.cleanups.remove(stop)


def register(commands: CommandTable) -> None:
    commands.add("presence.follow", follow_presence)
    commands.add("presence.unfollow", unfollow_presence)
    commands.add("sync", sync)
    commands.add("message.send", send)
    commands.add("message.edit", edit)
    commands.add("message.delete", delete)
    commands.add("message.react", react)
    commands.add("chat.read", _pointer("read"))
    commands.add("chat.delivered", _pointer("delivered"))
    commands.add("chat.typing", typing)
