"""Open WebSocket connections, each with a bounded output buffer, so one slow client never stalls the others;
all closed with GOING_AWAY on shutdown.

Frames are written straight to the socket, not through a writer task per connection: `send` appends the
frame to the connection's output, and once per turn of the event loop every connection with output gets
one write of all of it. A message to a group of a thousand becomes a thousand appends and, however many
messages the batch held, one write per member. A client whose unsent output (ours and the socket's) passes
its limit (the setting WS_MAX_BUFFERED_BYTES) is too slow: it is closed and resyncs when it comes back.

Every close (auth timeout, too slow, session ended, shutdown, the handler ending) ends within WS_CLOSE_TIMEOUT
seconds, whatever the client does: the close handshake is tried for that long, then the connection is reset, so
a client that never reads cannot keep its socket, nor our buffered bytes, alive.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar, cast

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from server.web.deadlines import abort_transport

T = TypeVar("T")

log = logging.getLogger(__name__)

# Close codes (documented in docs/protocol.md).
CLOSE_GOING_AWAY = int(WSCloseCode.GOING_AWAY)  # 1001: the server is shutting down; reconnect
CLOSE_TOO_SLOW = 4008  # the client fell too far behind; reconnect and resync
CLOSE_AUTH_TIMEOUT = 4001  # no successful auth frame in time
CLOSE_SESSION_ENDED = 4003  # the session was revoked
CLOSE_TRY_AGAIN = int(WSCloseCode.TRY_AGAIN_LATER)  # 1013: a dependency was down while signing in; reconnect
CLOSE_SERVER_ERROR = int(WSCloseCode.INTERNAL_ERROR)  # 1011: the handler ended without a close


def text_frame_header(size: int) -> bytes:
    """The header of an unmasked, final, uncompressed text frame (RFC 6455 5.2), as a server sends it."""
    if size < 126:
        return bytes((0x81, size))
    if size < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, size)
    return struct.pack("!BBQ", 0x81, 127, size)


def _pong_frame(payload: bytes) -> bytes:
    """An unmasked pong (RFC 6455 5.5.3); a ping's payload, and so the pong's, is at most 125 bytes."""
    return bytes((0x8A, len(payload))) + payload


class ConnKey(Generic[T]):
    """A typed slot on a connection for one domain's state (what web.AppKey is for the app)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<ConnKey {self.name}>"


class _Flusher:
    """Connections with output waiting, written once the current turn of the event loop is done."""

    def __init__(self) -> None:
        self._waiting: list[Connection] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, conn: Connection) -> None:
        loop = asyncio.get_running_loop()
        if not self._waiting or loop is not self._loop:  # (a loop that ended with output waiting: dropped)
            self._waiting, self._loop = [], loop
            loop.call_soon(self.flush)
        self._waiting.append(conn)

    def flush(self) -> None:
        waiting, self._waiting = self._waiting, []
        for conn in waiting:
            conn.flush()


_flusher = _Flusher()


class Connection:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport | None,
        *,
        max_buffered: int,
        close_timeout: float = 5.0,
        write_timeout: float = 30.0,
    ) -> None:
        self.ws = ws
        self._socket = transport  # the request's: frames are written to it directly
        self.user_id: str | None = None
        self.session_id: str | None = None
        self._max_buffered = max_buffered
        self._close_timeout = close_timeout
        self._write_timeout = write_timeout
        self._closing: asyncio.Task[None] | None = None
        self._out: list[bytes] = []  # frames (header, payload, header, ...) not yet written
        self._out_bytes = 0
        self.closed_reason: str | None = None
        self.language = "en"  # of the error messages it is sent (server/texts)
        # What this connection follows, by a key its domain chooses (("channel", 7), ("presence", "u1")): each
        # value stops one subscription. They all stop when the connection ends. As Home Assistant's
        # ActiveConnection, one registry for every domain.
        self.subscriptions: dict[Hashable, Callable[[], None]] = {}
        # Run when the connection ends, after the subscriptions stop.
        self.cleanups: list[Callable[[], None]] = []
        self.async_cleanups: list[Callable[[], Awaitable[None]]] = []  # awaited after the plain ones
        self._slots: dict[ConnKey[Any], Any] = {}  # each domain's state on this connection, by typed key
        self._finished = False

    def get(self, key: ConnKey[T]) -> T | None:
        """The domain state stored under `key`, if any."""
        return cast("T | None", self._slots.get(key))

    def setdefault(self, key: ConnKey[T], make: Callable[[], T]) -> T:
        """The domain state under `key`, made and stored by `make()` the first time."""
        if key not in self._slots:
            self._slots[key] = make()
        return cast(T, self._slots[key])

    def subscribe(self, key: Hashable, stop: Callable[[], None]) -> None:
        """Hold a subscription (its stop function) until `unsubscribe(key)` or the connection ends."""
        if key in self.subscriptions:
            raise ValueError(f"{key!r} is subscribed already")
        if self._finished:  # the socket ended while the subscription was being made: it ends too
            stop()
            return
        self.subscriptions[key] = stop

    def unsubscribe(self, key: Hashable) -> bool:
        """Stop one subscription; False if there was none under `key`."""
        stop = self.subscriptions.pop(key, None)
        if stop is None:
            return False
        stop()
        return True

    def _transport(self) -> asyncio.Transport | None:
        transport = self._socket
        return None if transport is None or transport.is_closing() else transport

    def buffered(self) -> int:
        """Bytes sent but not yet taken by the client: ours, and those in the socket's buffer."""
        transport = self._transport()
        return self._out_bytes + (transport.get_write_buffer_size() if transport is not None else 0)

    def send(self, frame: dict[str, Any]) -> bool:
        """Queue a frame without waiting. Too much unsent output means the client is too slow: it is closed."""
        if self.closed_reason is not None:
            return False
        return self.send_encoded(orjson.dumps(frame))

    def send_encoded(self, data: bytes) -> bool:
        """`send` for a frame serialised already (JSON bytes)."""
        if self.closed_reason is not None:
            return False
        size = len(data)
        return self._queue(bytes((0x81, size)) if size < 126 else text_frame_header(size), data)

    def pong(self, payload: bytes) -> bool:
        """Answer a WebSocket ping. Queued like any frame, so a client that pings without reading the answers
        reaches its limit as one that falls behind does."""
        if self.closed_reason is not None:
            return False
        return self._queue(_pong_frame(payload), b"")

    def _queue(self, header: bytes, data: bytes) -> bool:
        size = len(header) + len(data)
        after = self._out_bytes + size  # what buffered() would say after this frame, written out: runs per frame
        transport = self._socket
        if transport is not None and not transport.is_closing():
            after += transport.get_write_buffer_size()
        if after > self._max_buffered:
            self.close_soon(CLOSE_TOO_SLOW, "too slow: reconnect and resync")
            return False
        if not self._out:
            _flusher.add(self)
        self._out.append(header)
        if data:
            self._out.append(data)
        self._out_bytes += size
        return True

    async def send_wait(self, frame: dict[str, Any]) -> None:
        """Send a frame, waiting while the client is behind: for catching up from the log, where the client is
        not to blame. A client that takes nothing for WRITE_TIMEOUT seconds is too slow all the same."""
        if self.closed_reason is not None:
            return
        self.flush()
        if self.ws.closed:
            return
        try:
            async with asyncio.timeout(self._write_timeout):
                await self.ws.send_frame(orjson.dumps(frame), WSMsgType.TEXT)  # waits for the socket to drain
        except TimeoutError:
            self.close_soon(CLOSE_TOO_SLOW, "too slow: reconnect and resync")
        except (ConnectionError, RuntimeError):
            pass

    def flush(self) -> None:
        """Write the waiting frames in one go (dropped if the socket is closing)."""
        if not self._out:
            return
        out, self._out, self._out_bytes = self._out, [], 0
        transport = self._transport()
        if transport is not None and not self.ws.closed:
            transport.write(b"".join(out))

    def close_soon(self, code: int, reason: str) -> None:
        """Start closing (see `close`) without waiting for it."""
        if self._closing is None:
            self._start_close(code, reason)

    async def close(self, code: int, reason: str) -> None:
        """Close the socket: the close handshake for at most WS_CLOSE_TIMEOUT seconds, then a reset if the client
        has not taken everything. Returns when the socket is closed; a second call waits for the first."""
        closing = self._closing or self._start_close(code, reason)
        await asyncio.shield(closing)

    def _start_close(self, code: int, reason: str) -> asyncio.Task[None]:
        if self.closed_reason is None:
            self.closed_reason = reason
        self._out, self._out_bytes = [], 0
        self._closing = asyncio.get_running_loop().create_task(self._close(code, reason))
        return self._closing

    async def _close(self, code: int, reason: str) -> None:
        transport = self._socket
        in_time = False
        try:
            async with asyncio.timeout(self._close_timeout):
                await self.ws.close(code=code, message=reason.encode())  # waits for the client to drain and answer
                in_time = True
        except TimeoutError:
            pass
        except Exception:  # whatever went wrong, the socket is reset below
            log.debug("websocket close failed", exc_info=True)
        # aiohttp closes the transport, but a transport closes only once the client took all we wrote.
        if transport is not None and (not in_time or transport.get_write_buffer_size() > 0):
            abort_transport(transport)

    async def finish(self) -> None:
        """Stop the subscriptions and run the cleanups (called when the socket's handler ends)."""
        self._finished = True
        subscriptions, self.subscriptions = list(self.subscriptions.values()), {}
        for cleanup in [*subscriptions, *self.cleanups]:
            try:
                cleanup()
            except Exception:
                log.exception("connection cleanup failed")
        self.cleanups.clear()
        self._out, self._out_bytes = [], 0
        # What a connection holds refers back to it (its domains' state, the subscriptions' closures): let go of
        # it here, so a closed connection is freed at once instead of waiting, with everything it holds, for the
        # cyclic garbage collector, whose full passes over a big heap stall the event loop.
        self._slots.clear()
        self._socket = None
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
        """Shutdown: tell every client to go away (and come back to another process); within the close deadline,
        however many do not read."""
        conns = list(self._connections)
        await asyncio.gather(
            *(c.close(CLOSE_GOING_AWAY, "server shutting down") for c in conns),
            return_exceptions=True,
        )
