"""The one WebSocket at /ws: origin check, heartbeats, frame limits, authentication, command dispatch."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiohttp import WSMsgType, web

from server.errors import ApiError
from server.keys import connections_key, settings_key, ws_authenticate_key, ws_authenticated_key, ws_commands_key
from server.realtime.connections import CLOSE_AUTH_TIMEOUT, CLOSE_SERVER_ERROR, CLOSE_TRY_AGAIN, Connection
from server.texts.errors import translated
from server.texts.language import LANGUAGES
from server.web.errors import ANSWERED_ERRORS, request_language, unavailable
from server.wiring import send_async

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

MAX_FRAME_BYTES = 64 * 1024  # larger frames get an error reply; the connection stays
ABUSIVE_FRAME_BYTES = 1024 * 1024  # frames past this close the connection (1009, message too big)
HEARTBEAT_SECONDS = 25.0
AUTH_TIMEOUT_SECONDS = 30.0


def _origin_allowed(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:  # not a browser (devices, scripts): no cross-site risk
        return True
    allowed = {urlsplit(request.app[settings_key].public_url).netloc, request.host}
    return urlsplit(origin).netloc in allowed


def error_frame(frame_id: Any, code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "id": frame_id, "error": {"code": code, "message": message, **extra}}


def _refuse(conn: Connection, frame_id: Any, code: str, message: str, **params: Any) -> None:
    """Answer a frame this socket cannot take with an error in the connection's language."""
    conn.send(_error_reply(frame_id, ApiError(message, code=code, **params), conn.language))


@routes.get("/ws")
async def websocket(request: web.Request) -> web.WebSocketResponse:
    # Check Origin before the upgrade: a page on another site must not ride on this user's connection.
    if not _origin_allowed(request):
        raise ApiError("this origin may not open a WebSocket here", code="origin_not_allowed", status=403)
    settings = request.app[settings_key]
    # No permessage-deflate: a compressor per connection costs far more memory than chat frames save. Pings are
    # answered here, not by aiohttp, so the pongs count against the client's output limit like any frame.
    ws = web.WebSocketResponse(
        heartbeat=HEARTBEAT_SECONDS,
        max_msg_size=ABUSIVE_FRAME_BYTES,
        compress=False,
        autoping=False,
        timeout=settings.ws_close_timeout,
    )
    await ws.prepare(request)
    registry = request.app[connections_key]
    conn = Connection(
        ws,
        request.transport,
        max_buffered=settings.ws_max_buffered_bytes,
        close_timeout=settings.ws_close_timeout,
        write_timeout=settings.write_timeout,
    )
    conn.language = request_language(request)  # of its error messages: the app says which (?lang=)
    registry.add(conn)  # counted (websocket_connections) from here until its socket is closed

    def close_if_anonymous() -> None:
        # Following what anonymous commands allow (public channels) needs no account; anything else does.
        if conn.user_id is None and not conn.subscriptions:
            conn.close_soon(CLOSE_AUTH_TIMEOUT, "auth timeout")

    auth_deadline = asyncio.get_running_loop().call_later(AUTH_TIMEOUT_SECONDS, close_if_anonymous)
    try:
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                data: str = message.data
                if len(data) * 4 > MAX_FRAME_BYTES and len(data.encode()) > MAX_FRAME_BYTES:
                    _refuse(conn, None, "frame_too_large", "a frame is at most {limit} bytes", limit=MAX_FRAME_BYTES)
                    continue
                await _handle(request, conn, data)
            elif message.type == WSMsgType.PING:
                conn.pong(message.data)
            elif message.type == WSMsgType.BINARY:
                _refuse(conn, None, "binary_not_supported", "send JSON text frames")
            elif message.type == WSMsgType.ERROR:
                break
    finally:
        auth_deadline.cancel()
        try:
            # Usually closed already (by the client, a close_soon, the heartbeat); if not, closed here, within
            # the close deadline, rather than by aiohttp after we return, which would wait for the client forever.
            # Even when aiohttp counts the socket closed (a missed heartbeat), its transport may still wait on a
            # client that does not read, so this runs every time.
            await conn.close(CLOSE_SERVER_ERROR, "server error")
        finally:
            registry.discard(conn)
            await conn.finish()
    return ws


async def _handle(request: web.Request, conn: Connection, data: str) -> None:
    try:
        frame = orjson.loads(data)
    except orjson.JSONDecodeError:
        _refuse(conn, None, "malformed_json", "the frame is not valid JSON")
        return
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        _refuse(conn, None, "invalid_frame", "a frame is a JSON object with a string type")
        return
    frame_id = frame.get("id")
    if frame_id is not None and (
        not isinstance(frame_id, (str, int)) or isinstance(frame_id, bool) or len(str(frame_id)) > 64
    ):
        _refuse(conn, None, "invalid_frame", "id must be a string or integer of at most 64 characters")
        return
    kind = frame["type"]
    if kind == "ping":
        conn.send({"type": "pong", "id": frame_id})
        return
    if kind == "language":  # the app's language changed: this socket's error messages follow it
        chosen = frame.get("language")
        if chosen not in LANGUAGES:
            _refuse(
                conn,
                frame_id,
                "invalid",
                "{field} must be one of {allowed}",
                field="language",
                allowed=", ".join(LANGUAGES),
            )
            return
        conn.language = chosen
        conn.send({"type": "result", "id": frame_id, "result": {"language": chosen}})
        return
    if kind == "auth":
        token = frame.get("token")
        if not isinstance(token, str) or len(token) > 4096:
            _refuse(conn, frame_id, "invalid", "auth needs a string token", field="token")
            return
        try:
            user_id, session_id = await request.app[ws_authenticate_key](token)
        except ANSWERED_ERRORS as exc:
            conn.send(_error_reply(frame_id, exc, conn.language))
            return
        if conn.user_id is not None and conn.user_id != user_id:
            _refuse(conn, frame_id, "already_authenticated", "this connection belongs to another user")
            return
        first = conn.user_id is None
        conn.user_id, conn.session_id = user_id, session_id
        if first:  # the domains attach what this user's connection hears (their events, presence, ...)
            try:
                await send_async(request.app[ws_authenticated_key], request, conn)
            except ANSWERED_ERRORS as exc:
                # A dependency (Redis) could not attach it: say so and end this socket, whose end undoes what was
                # attached; the client connects and signs in again, rather than hearing part of what it should.
                conn.send(_error_reply(frame_id, exc, conn.language))
                conn.flush()  # closing drops what waits to be sent
                conn.close_soon(CLOSE_TRY_AGAIN, "try again later")
                return
        conn.send({"type": "result", "id": frame_id, "result": {"user_id": user_id}})
        return
    command = request.app[ws_commands_key].get(kind)
    if command is None:
        _refuse(conn, frame_id, "unknown_type", "unknown frame type {kind}", kind=repr(kind[:40]))
        return
    if conn.user_id is None and not command.anonymous:
        _refuse(conn, frame_id, "unauthorized", "send an auth frame first")
        return
    try:
        result = await command.handler(request, conn, command.arguments(frame))
    except ANSWERED_ERRORS as exc:
        conn.send(_error_reply(frame_id, exc, conn.language))
        return
    conn.send({"type": "result", "id": frame_id, "result": result})


def _error_reply(frame_id: Any, exc: BaseException, language: str) -> dict[str, Any]:
    """The error frame for a failed command: its ApiError, or `unavailable` (with retry_after) when a dependency
    (the database, Redis, a full write queue) could not serve it, as HTTP answers 503; in `language`."""
    error = exc if isinstance(exc, ApiError) else unavailable(exc)
    assert error is not None  # every DEPENDENCY_ERRORS kind has its answer
    extra: dict[str, Any] = {"field": error.field} if error.field else {}
    if error.retry_after:
        extra["retry_after"] = error.retry_after
    return error_frame(frame_id, error.code, translated(error, language)[0], **extra)
