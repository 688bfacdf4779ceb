"""Events over the WebSocket: a signed-in connection hears its user's topic, and `sync` resumes from a seq."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.errors import ValidationError
from server.events.appkeys import event_log_key
from server.keys import broker_key
from server.realtime.broker import Numbered, user_topic
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


class _Deliver:
    """A connection's subscriber to its user's topic: numbered events go through its seq stream once the client
    has synced (looked up until then, kept after); the rest straight to the socket."""

    __slots__ = ("conn", "stream")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.stream: SeqStream | None = None

    def _synced(self) -> SeqStream | None:
        if self.stream is None:
            self.stream = self.conn.get(SEQ_STREAM)
        return self.stream

    def __call__(self, event: dict[str, Any]) -> None:
        stream = self.stream or self._synced()
        if stream is not None and "seq" in event:
            stream.live(event)
        else:
            self.conn.send(event)

    def numbered(self, shared: Numbered, seq: int) -> None:
        """A group event with this user's seq (the broker's shared copy: no dict unless it must wait)."""
        stream = self.stream or self._synced()
        if stream is not None:
            stream.live_numbered(shared, seq)
        else:
            self.conn.send_encoded(shared.encode(seq))


async def hear_user(request: web.Request, conn: Connection) -> None:
    """Everything addressed to this user (their numbered events, alerts, typing) reaches all their devices."""
    user_id = _user(conn)
    stop = await request.app[broker_key].subscribe(user_topic(user_id), _Deliver(conn))
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
