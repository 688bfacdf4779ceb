"""Calls over the WebSocket: the `call.*` commands, and the frames each connection of a user should see.

Every frame about a call goes to its user's calls topic; each connection of the user hears the topic and
passes on what is for it: frames addressed to one party (`_to`) only reach the connection holding that party,
and frames for "everyone but this party" (`_skip`) skip it. A connection holds a party once it invites,
answers, joins or resumes with that `party_id`; when it closes, the service learns which parties it held.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from server.calls.appkeys import calls_key
from server.calls.cluster import CallRouter
from server.calls.model import (
    MEDIA,
    check_candidates,
    check_description,
    check_id,
    check_lifetime,
    check_reason,
    check_streams,
)
from server.errors import ValidationError
from server.keys import broker_key
from server.realtime.broker import Broker
from server.realtime.commands import CommandTableDef
from server.realtime.connections import Connection, ConnKey
from server.web.validation import Field

commands = CommandTableDef()


@dataclass
class CallConn:
    """This connection's part in calls: a token naming it to the service, and the parties it holds."""

    token: str = field(default_factory=lambda: secrets.token_hex(12))
    parties: set[str] = field(default_factory=set)


CALL_CONN: ConnKey[CallConn] = ConnKey("calls.conn")

_CALL = {"call_id": Field(str, max_length=64), "party_id": Field(str, max_length=64)}
_DESCRIPTION = Field(dict)


def calls_topic(user_id: str) -> str:
    return f"calls:{user_id}"


def publisher(broker: Broker) -> Any:
    """The service's `send`: a frame for a user's devices, maybe for one party only, or for all but one."""

    def send(
        user_id: str, frame: dict[str, Any], *, to_party: str | None = None, skip_party: str | None = None
    ) -> None:
        routed = dict(frame)
        if to_party is not None:
            routed["_to"] = to_party
        if skip_party is not None:
            routed["_skip"] = skip_party
        broker.publish(calls_topic(user_id), routed)

    return send


def _service(request: web.Request) -> CallRouter:
    return request.app[calls_key]


def _user(conn: Connection) -> str:
    assert conn.user_id is not None  # commands other than auth and ping run only once authenticated
    return conn.user_id


def _state(conn: Connection) -> CallConn:
    state = conn.get(CALL_CONN)
    if state is None:  # a connection that signed in before the calls domain heard it (never, but be safe)
        state = conn.setdefault(CALL_CONN, CallConn)
    return state


def _ids(args: dict[str, Any]) -> tuple[str, str]:
    return check_id(args["call_id"], "call_id"), check_id(args["party_id"], "party_id")


async def _holding(conn: Connection, party_id: str, step: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """Run a step that makes this connection a party. It holds the party before the step runs, since frames
    the step sends ("everyone but this party") may reach this connection before the step returns; a step that
    fails, or does not make it a party, leaves it as it was."""
    parties = _state(conn).parties
    had = party_id in parties
    parties.add(party_id)
    try:
        result = await step
    except BaseException:
        if not had:
            parties.discard(party_id)
        raise
    if not had and result.get("state") not in ("ringing", "connected", "joined"):
        parties.discard(party_id)
    return result


async def on_authenticated(request: web.Request, conn: Connection) -> None:
    """Hear the user's calls topic, tell the service when this connection ends, and replay the user's calls."""
    user_id = _user(conn)
    state = conn.setdefault(CALL_CONN, CallConn)
    service = _service(request)

    def deliver(frame: dict[str, Any]) -> None:
        to, skip = frame.get("_to"), frame.get("_skip")
        if (to is not None and to not in state.parties) or (skip is not None and skip in state.parties):
            return
        if to is not None or skip is not None:
            frame = {k: v for k, v in frame.items() if k not in ("_to", "_skip")}
        conn.send(frame)

    conn.subscribe("calls.user", await request.app[broker_key].subscribe(calls_topic(user_id), deliver))

    async def closed() -> None:
        await service.connection_closed(user_id, state.token)

    conn.async_cleanups.append(closed)
    for frame in await service.replay_frames(user_id):
        conn.send(frame)


@commands.command(
    "call.invite",
    {
        "chat_id": Field(str, max_length=64),
        **_CALL,
        "offer": _DESCRIPTION,
        "media": Field(str, choices=MEDIA),
        "lifetime": Field(int, required=False),
    },
)
async def invite(request: web.Request, conn: Connection, args: dict[str, Any]) -> dict[str, Any]:
    call_id, party_id = _ids(args)
    step = _service(request).invite(
        _user(conn),
        _state(conn).token,
        chat_id=args["chat_id"],
        call_id=call_id,
        party_id=party_id,
        offer=check_description(args["offer"], "offer", kind="offer"),
        media=args["media"],
        lifetime_ms=check_lifetime(args.get("lifetime")),
    )
    return await _holding(conn, party_id, step)


@commands.command("call.answer", {**_CALL, "answer": _DESCRIPTION})
async def answer(request: web.Request, conn: Connection, args: dict[str, Any]) -> dict[str, Any]:
    call_id, party_id = _ids(args)
    description = check_description(args["answer"], "answer", kind="answer")
    step = _service(request).answer(_user(conn), _state(conn).token, call_id, party_id, description)
    return await _holding(conn, party_id, step)


@commands.command("call.select_answer", {**_CALL, "selected_party_id": Field(str, max_length=64)})
async def select_answer(request: web.Request, conn: Connection, args: dict[str, Any]) -> dict[str, Any]:
    call_id, party_id = _ids(args)
    selected = check_id(args["selected_party_id"], "selected_party_id")
    return await _service(request).select_answer(_user(conn), _state(conn).token, call_id, party_id, selected)


@commands.command("call.reject", _CALL)
async def reject(request: web.Request, conn: Connection, args: dict[str, Any]) -> dict[str, Any]:
    call_id, party_id = _ids(args)
    return await _service(request).reject(_user(conn), _state(conn).token, call_id, party_id)


@commands.command("call.candidates", {**_CALL, "candidates": Field(list)})
async def candidates(request: web.Request, conn: Connection, args: dict[str, Any]) -> dict[str, Any]:
    call_id, party_id = _ids(args)
    clean = check_candidates(args["candidates"])
    return await _service(request).candidates(_user(conn), _state(conn).token, call_id, party_id, clean)


@commands.command(
    "call.negotiate",
    {
        **_CALL,
        "description": _DESCRIPTION,
        "target": Field(str, required=False, choices=("publish", "subscribe")),
        "streams": Field(dict, required=False),
    },
)
async def negotiate(request: web.Request, conn: Connection, args: dict[str, Any]) -> dict[str, Any]:
    call_id, party_id = _ids(args)
    description = check_description(args["description"], "description")
    streams = check_streams(args.get("streams"))
    return await _service(request).negotiate(
        _user(conn), _state(conn).token, call_id, party_id, description, target=args.get("target"), streams=streams
    )


@commands.command(
    "call.media",
    {
        **_CALL,
        "audio_muted": Field(bool, required=False),
        "video_muted": Field(bool, required=False),
        "screenshare": Field(bool, required=False),
    },
)
async def media(request: web.Request, conn: Connection, args: dict[str, Any]) -> dict[str, Any]:
    call_id, party_id = _ids(args)
    changes = {k: args.get(k) for k in ("audio_muted", "video_muted", "screenshare")}
    return await _service(request).media(_user(conn), _state(conn).token, call_id, party_id, changes)


@commands.command("call.hangup", {**_CALL, "reason": Field(str, required=False, max_length=32)})
async def hangup(request: web.Request, conn: Connection, args: dict[str, Any]) -> dict[str, Any]:
    call_id, party_id = _ids(args)
    reason = check_reason(args.get("reason"))
    return await _service(request).hangup(_user(conn), _state(conn).token, call_id, party_id, reason)


@commands.command("call.resume", _CALL)
async def resume(request: web.Request, conn: Connection, args: dict[str, Any]) -> dict[str, Any]:
    call_id, party_id = _ids(args)
    step = _service(request).resume(_user(conn), _state(conn).token, call_id, party_id)
    return await _holding(conn, party_id, step)


@commands.command(
    "call.join",
    {
        "chat_id": Field(str, max_length=64),
        "party_id": Field(str, max_length=64),
        "offer": _DESCRIPTION,
        "media": Field(str, choices=MEDIA),
        "streams": Field(dict, required=False),
    },
)
async def join(request: web.Request, conn: Connection, args: dict[str, Any]) -> dict[str, Any]:
    party_id = check_id(args["party_id"], "party_id")
    step = _service(request).join(
        _user(conn),
        _state(conn).token,
        chat_id=args["chat_id"],
        party_id=party_id,
        offer=check_description(args["offer"], "offer", kind="offer"),
        media=args["media"],
        streams=check_streams(args.get("streams")),
    )
    return await _holding(conn, party_id, step)


@commands.command("call.status", {"chat_id": Field(str, max_length=64)})
async def status(request: web.Request, conn: Connection, args: dict[str, Any]) -> dict[str, Any]:
    if not args["chat_id"]:
        raise ValidationError("chat_id is required", field="chat_id")
    return await _service(request).status(_user(conn), args["chat_id"])
