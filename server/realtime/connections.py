"""Open WebSocket connections: each with a bounded send queue and its own writer task, so one slow client
never stalls the others; all closed with GOING_AWAY on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

log = logging.getLogger(__name__)

# Close codes (documented in docs/protocol.md).
CLOSE_GOING_AWAY = int(WSCloseCode.GOING_AWAY)  # 1001: the server is shutting down; reconnect
CLOSE_TOO_SLOW = 4008  # the client fell too far behind; reconnect and resync
CLOSE_AUTH_TIMEOUT = 4001  # no successful auth frame in time
CLOSE_SESSION_ENDED = 4003  # the session was revoked


class Connection:
    def __init__(self, ws: web.WebSocketResponse, *, queue_size: int = 256) -> None:
        self.ws = ws
        self.user_id: str | None = None
        self.session_id: str | None = None
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=queue_size)
        self._writer = asyncio.create_task(self._write_loop())
        self.closed_reason: str | None = None
        # Run when the connection ends (unsubscribe from the broker, and so on).
        self.cleanups: list[Callable[[], None]] = []
        self.async_cleanups: list[Callable[[], Awaitable[None]]] = []  # awaited after the plain ones
        self.state: dict[str, Any] = {}

    def send(self, frame: dict[str, Any]) -> bool:
        """Queue a frame without waiting. A full queue means the client is too slow: it is closed."""
        if self.closed_reason is not None:
            return False
        try:
            self._queue.put_nowait(orjson.dumps(frame))
        except asyncio.QueueFull:
            self.close_soon(CLOSE_TOO_SLOW, "too slow: reconnect and resync")
            return False
        return True

    async def send_wait(self, frame: dict[str, Any]) -> None:
        """Queue a frame, waiting for room: for catching up from the log, where the client is not to blame."""
        if self.closed_reason is None:
            await self._queue.put(orjson.dumps(frame))

    def close_soon(self, code: int, reason: str) -> None:
        if self.closed_reason is None:
            self.closed_reason = reason
            asyncio.get_running_loop().create_task(self.ws.close(code=code, message=reason.encode()))

    async def _write_loop(self) -> None:
        while (data := await self._queue.get()) is not None:
            if self.ws.closed:
                return
            try:
                await self.ws.send_frame(data, WSMsgType.TEXT)  # orjson's bytes are UTF-8 already
            except (ConnectionError, RuntimeError):
                return
            # orjson's result sits in a 4 KB buffer: an idle connection must not keep its last frame alive.
            del data

    async def finish(self) -> None:
        """Run the cleanups and stop the writer (called when the socket's handler ends)."""
        for cleanup in self.cleanups:
            try:
                cleanup()
            except Exception:
                log.exception("connection cleanup failed")
        self.cleanups.clear()
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        if self.async_cleanups:
            # In a task of its own: aiohttp cancels the handler of a socket that went away, and the cleanups
            # (presence, last seen) must still run to the end.
            cleanups, self.async_cleanups = self.async_cleanups, []
            await asyncio.shield(asyncio.get_running_loop().create_task(_run_all(cleanups)))


async def _run_all(cleanups: list[Callable[[], Awaitable[None]]]) -> None:
    for cleanup in cleanups:
        try:
            await cleanup()
        except Exception:
            log.exception("connection cleanup failed")


class ConnectionRegistry:
    def __init__(self) -> None:
        self._connections: set[Connection] = set()

    def __len__(self) -> int:
        return len(self._connections)

    def add(self, conn: Connection) -> None:
        self._connections.add(conn)

    def discard(self, conn: Connection) -> None:
        self._connections.discard(conn)

    async def close_all(self) -> None:
        """Shutdown: tell every client to go away (and come back to another process)."""
        conns = list(self._connections)
        await asyncio.gather(
            *(c.ws.close(code=CLOSE_GOING_AWAY, message=b"server shutting down") for c in conns),
            return_exceptions=True,
        )
