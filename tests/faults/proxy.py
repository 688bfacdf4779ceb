"""A TCP proxy on loopback that a test can cut and restore, to put between the server and a dependency.

    with FaultProxy("127.0.0.1", 5432) as proxy:   # listens on 127.0.0.1:proxy.port
        proxy.cut("reset")   # every connection reset; new ones are reset as soon as they are accepted
        proxy.cut("hang")    # nothing moves either way and new connections are accepted but never answered
        proxy.restore()      # new connections go through; after a hang, the held bytes flow again

A hang is a network partition: bytes stay in the socket buffers, and on restore they flow again (as TCP's
retransmissions would deliver them), unless a side gave up and closed its end meanwhile. It runs its own event
loop in a thread of its own, so a test may block (urllib, time.sleep) without stalling the traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from typing import Any, Literal, TypeVar

T = TypeVar("T")
Cut = Literal["reset", "hang"]
CHUNK = 64 * 1024


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a peer that vanished, rather than a polite FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.mode: Cut | None = None
        self.accepted = 0  # connections accepted so far, cut or not
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._flowing: asyncio.Event | None = None  # set unless hung
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]] = set()

    # -- from the test's thread ------------------------------------------------------------------
    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def start(self) -> FaultProxy:
        self._thread.start()
        self._run(self._start())
        return self

    def cut(self, mode: Cut = "reset") -> None:
        """`reset`: every connection reset now, new ones reset on accept. `hang`: everything stops, silently."""
        self._run(self._cut(mode))

    def restore(self) -> None:
        self._run(self._restore())

    def close(self) -> None:
        if self._thread.is_alive():
            self._run(self._close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()

    def url_for(self, url: str) -> str:
        """`url` (scheme://[user@]127.0.0.1:PORT/...) with its port swapped for the proxy's."""
        host, port = self.target
        assert f"{host}:{port}" in url, f"{url} does not name {host}:{port} (give the port explicitly)"
        return url.replace(f"{host}:{port}", f"127.0.0.1:{self.port}", 1)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- in the proxy's loop ---------------------------------------------------------------------
    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.mode == "reset":
            _reset(writer)
            return
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter | None] = (writer, None)
        self._pairs.add(pair)
        try:
            assert self._flowing is not None
            await self._flowing.wait()  # a connection made during a hang is held unanswered
            if self.mode == "reset" or writer.is_closing():
                _reset(writer)
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
            except OSError:
                _reset(writer)
                return
            self._pairs.discard(pair)
            pair = (writer, up_writer)
            self._pairs.add(pair)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._pairs.discard(pair)
            for side in pair:
                if side is not None:
                    side.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        try:
            while data := await reader.read(CHUNK):
                await self._flowing.wait()  # during a hang the bytes wait here; the socket buffers fill behind
                writer.write(data)
                await writer.drain()
        except (OSError, RuntimeError):  # the other side was reset or closed under us
            pass
        finally:
            if writer.can_write_eof() and not writer.is_closing():
                with contextlib.suppress(OSError):
                    writer.write_eof()

    async def _cut(self, mode: Cut) -> None:
        assert self._flowing is not None
        self.mode = mode
        if mode == "hang":
            self._flowing.clear()
            return
        self._flowing.set()  # held connections wake up only to be reset
        for pair in list(self._pairs):
            for side in pair:
                if side is not None:
                    _reset(side)

    async def _restore(self) -> None:
        assert self._flowing is not None
        self.mode = None
        self._flowing.set()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for pair in list(self._pairs):
            for side in pair:
                if side is not None:
                    _reset(side)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2)
