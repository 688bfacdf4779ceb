"""Deadlines aiohttp's server does not have: a request head must arrive within HEADER_READ_TIMEOUT, and a write
may wait at most WRITE_TIMEOUT for a client that does not read; past either, the connection is dropped.

aiohttp's `web.Server` is a protocol factory: each connection gets a `RequestHandler`. `DeadlineProtocol` wraps
one, passes every call through, and keeps two timers beside it, so nothing of aiohttp's is patched:

- the head timer starts when the connection opens, and for each later request on a keep-alive connection at
  its first byte (as hyper's header_read_timeout); it stops at the blank line that ends the head, or when the
  request reaches the application (`head_deadline_middleware`, which also says when the next head may begin);
- the write timer starts when the transport pauses writing (its buffer is past the high-water mark because
  the peer does not take our bytes) and stops when it resumes. Every write path (responses, streamed exports,
  files, WebSocket frames) waits on that same pause, so one timer bounds them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable
from typing import cast

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp.web_protocol import RequestHandler

_HEAD_END = b"\r\n\r\n"


def abort_transport(transport: asyncio.Transport) -> None:
    """Drop a connection now: reset it (SO_LINGER 0), discarding whatever the peer has not read, in our buffer
    and in the kernel's. A plain close would wait for a peer that never reads to take it all."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class DeadlineProtocol(asyncio.Protocol):
    """aiohttp's RequestHandler for one connection, with a head-read and a write deadline around it."""

    def __init__(self, inner: RequestHandler, *, head_timeout: float, write_timeout: float) -> None:
        self._inner = inner
        self._head_timeout = head_timeout
        self._write_timeout = write_timeout
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        # The head timer is armed once and re-armed when it fires during a later head, rather than made and
        # cancelled for every request of a keep-alive connection (a device writing many times a second).
        self._head_since: float | None = None  # when the head being read began; None between heads
        self._head_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._between_requests = False  # a request was handled: the next byte starts a head
        self._tail = b""  # the last bytes of the head so far, to find a blank line split across reads

    # -- the head deadline ------------------------------------------------------------------------------

    def _start_head(self) -> None:
        self._between_requests = False
        self._tail = b""
        self._head_since = self._loop.time()
        if self._head_timer is None:
            self._head_timer = self._loop.call_at(self._head_since + self._head_timeout, self._check_head)

    def _stop_head(self) -> None:
        self._head_since = None  # the timer, if armed, finds no head when it fires

    def _check_head(self) -> None:
        self._head_timer = None
        if self._head_since is None or self._transport is None:
            return
        deadline = self._head_since + self._head_timeout
        if self._loop.time() < deadline:  # a later head than the one the timer was armed for
            self._head_timer = self._loop.call_at(deadline, self._check_head)
            return
        abort_transport(self._transport)  # nothing of ours is in flight: only a half-sent head is dropped

    def request_started(self) -> None:
        """The request's head was read and the application has it."""
        self._stop_head()
        self._between_requests = False

    def request_finished(self) -> None:
        """The application is done with the request: the next byte begins the next head."""
        self._between_requests = True

    # -- the write deadline -----------------------------------------------------------------------------

    def _write_too_slow(self) -> None:
        self._write_timer = None
        if self._transport is not None:
            abort_transport(self._transport)

    # -- asyncio.Protocol, passed through ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # (uvloop's transports are not its subclasses)
        self._inner.connection_made(transport)
        self._start_head()

    def data_received(self, data: bytes) -> None:
        if self._between_requests and data:
            self._start_head()
        if self._head_since is not None:
            if _HEAD_END in data or (self._tail and _HEAD_END in self._tail + data[:3]):
                self._stop_head()
            else:
                self._tail = data[-3:] if len(data) >= 3 else (self._tail + data)[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> None:
        self._inner.eof_received()  # (never keeps the transport half open: aiohttp returns None)

    def pause_writing(self) -> None:
        self._inner.pause_writing()
        if self._write_timer is None:
            self._write_timer = asyncio.get_running_loop().call_later(self._write_timeout, self._write_too_slow)

    def resume_writing(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head()
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        self._transport = None
        self._inner.connection_lost(exc)


@web.middleware
async def head_deadline_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tells the connection's DeadlineProtocol (when it has one) that its head arrived, and when the request ends."""
    transport = request.transport
    protocol = transport.get_protocol() if transport is not None else None
    if not isinstance(protocol, DeadlineProtocol):
        return await handler(request)
    protocol.request_started()
    try:
        return await handler(request)
    finally:
        protocol.request_finished()


def setup_deadlines(app: web.Application) -> None:
    """Add the middleware, outermost. Call before the app is frozen (before `AppRunner.setup`)."""
    app.middlewares.insert(0, head_deadline_middleware)


async def listen(
    runner: web.AppRunner, sock: socket.socket, *, head_timeout: float, write_timeout: float
) -> asyncio.Server:
    """Serve `runner`'s application on the bound `sock`, each connection with the deadlines. Close the returned
    server to stop accepting (before `runner.cleanup()`, which ends the open connections)."""
    server = runner.server
    if server is None:
        raise RuntimeError("call runner.setup() first")
    make: Callable[[], RequestHandler] = server
    return await asyncio.get_running_loop().create_server(
        lambda: DeadlineProtocol(make(), head_timeout=head_timeout, write_timeout=write_timeout),
        sock=sock,
        backlog=2048,
    )
