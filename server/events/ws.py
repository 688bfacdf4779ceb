"""Events over the WebSocket: a signed-in connection hears its user's topic, and `sync` resumes from a seq."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from server.errors import ValidationError
from server.events.appkeys import event_log_key
from server.keys import broker_key
from server.realtime.broker import user_topic
from server.realtime.commands import CommandTableDef
from server.realtime.connections import Connection, ConnKey
from server.realtime.seq import SeqStream
from server.web.validation import Field

MAX_SYNC_EVENTS = 5000  # per sync command; the result says when more remain
SEQ_STREAM: ConnKey[SeqStream] = ConnKey("events.seq_stream")  # once the client has synced

commands = CommandTableDef()


def _user(conn: Connection) -> str:
    assert conn.user_id is not None  # commands other than auth and ping run only once authenticated
    return conn.user_id


def _deliver(conn: Connection) -> Callable[[dict[str, Any]], None]:
    streams: list[SeqStream] = []  # the connection's, once it has synced (looked up until then; kept after)

    def deliver(event: dict[str, Any]) -> None:
        if not streams:
            stream = conn.get(SEQ_STREAM)
            if stream is None:
                conn.send(event)
                return
            streams.append(stream)
        if "seq" in event:
            streams[0].live(event)
        else:
            conn.send(event)

    return deliver


async def hear_user(request: web.Request, conn: Connection) -> None:
    """Everything addressed to this user (their numbered events, alerts, typing) reaches all their devices."""
    user_id = _user(conn)
    stop = await request.app[broker_key].subscribe(user_topic(user_id), _deliver(conn))
    conn.subscribe("events.user", stop)


@commands.command("sync", {"after_seq": Field(int)})
async def sync(request: web.Request, conn: Connection, args: dict[str, Any]) -> dict[str, Any]:
    after = args["after_seq"]
    if after < 0:
        raise ValidationError("{field} must be 0 or more", field="after_seq")
    log, user_id = request.app[event_log_key], _user(conn)
    last = await log.last_seq(user_id)
    reset = after > last  # the client holds seqs this account never had: it must reload its state
    stream = conn.get(SEQ_STREAM)
    if stream is None:

        async def read(after: int, upto: int | None, limit: int) -> list[dict[str, Any]]:
            return await log.frames_after(user_id, after, limit, upto)

        stream = conn.setdefault(SEQ_STREAM, lambda: SeqStream(conn, read))
        conn.cleanups.append(stream.stop)
    more = await stream.sync(last if reset else after, MAX_SYNC_EVENTS)
    return {"last_seq": stream.last, "more": more, "reset": reset}
