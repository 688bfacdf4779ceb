"""A client that stops reading, for the deadline tests: a raw TCP socket on loopback with a tiny receive buffer,
so the kernel's buffers fill after a few kilobytes, and a server socket whose send buffer is tiny as well.

Its blocking calls run in a thread (the server under test runs on the test's event loop). `hung_up` waits for
the server to end the connection without reading what it sent: poll() reports a reset (POLLERR/POLLHUP) or a
FIN (POLLRDHUP) however much unread data is queued before it.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import struct

SMALL_BUFFER = 4096
WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def small_listener() -> socket.socket:
    """A bound, listening loopback socket whose accepted connections have a tiny send buffer."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)  # inherited by accepted sockets
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.setblocking(False)
    return sock


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A masked, final client frame (RFC 6455 5.2)."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = bytes((0x80 | opcode, 0x80 | size))
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class StalledClient:
    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)  # before connect: sets the window
        self.sock.settimeout(30)

    async def connect(self) -> None:
        await asyncio.to_thread(self.sock.connect, ("127.0.0.1", self.port))

    async def send(self, data: bytes) -> bool:
        """Send; False if the server had already reset the connection."""

        def send() -> bool:
            try:
                self.sock.sendall(data)
            except OSError:
                return False
            return True

        return await asyncio.to_thread(send)

    async def read_head(self) -> bytes:
        """Read an HTTP response head (and no more than the bytes it came in)."""

        def read() -> bytes:
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = self.sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            return data

        return await asyncio.to_thread(read)

    async def upgrade(self, path: str = "/ws") -> None:
        """Open a WebSocket (the handshake's answer is read; nothing after it)."""
        await self.connect()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await self.send(request.encode())
        head = await self.read_head()
        assert head.startswith(b"HTTP/1.1 101"), head[:200]

    async def read_frame(self) -> bytes:
        """One unmasked, unfragmented server frame's payload (for a handshake's check, before stalling)."""

        def exactly(n: int) -> bytes:
            data = b""
            while len(data) < n:
                chunk = self.sock.recv(n - len(data))
                if not chunk:
                    raise ConnectionError("closed")
                data += chunk
            return data

        def read() -> bytes:
            _, size = exactly(2)
            if size == 126:
                (size,) = struct.unpack("!H", exactly(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", exactly(8))
            return exactly(size)

        return await asyncio.to_thread(read)

    async def hung_up(self, timeout: float = 30.0) -> bool:
        """Wait (up to `timeout`, reading nothing) for the server to reset or finish the connection."""

        def wait() -> bool:
            poller = select.poll()
            poller.register(self.sock, select.POLLRDHUP | select.POLLERR | select.POLLHUP)
            return bool(poller.poll(int(timeout * 1000)))

        return await asyncio.to_thread(wait)

    def close(self) -> None:
        self.sock.close()
