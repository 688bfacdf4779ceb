"""A WebSocket client that stops reading cannot keep its socket: every close (auth timeout, too slow, heartbeat,
shutdown) ends within the close deadline, by a reset when the client takes nothing; and the socket is counted in
`websocket_connections` while it is open, signed in or not.

Each test runs the real app on a loopback listener with tiny socket buffers and talks to it with a raw client
that stops reading, so the kernel's buffers fill after a few kilobytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web

from server.app import create_app
from server.config import Settings
from server.keys import connections_key, metrics_key
from server.realtime import routes as ws_routes
from tests.stalled_client import StalledClient, client_frame, small_listener

PING = client_frame(orjson.dumps({"type": "ping", "id": 1}))
WS_PING = client_frame(b"p" * 125, opcode=0x9)  # a control ping with the largest payload: its pong is as big


class Served:
    def __init__(self, app: web.Application, runner: web.AppRunner, port: int) -> None:
        self.app, self.runner, self.port = app, runner, port

    def open_sockets(self) -> float:
        for line in self.app[metrics_key].exposition().decode().splitlines():
            if line.startswith("websocket_connections "):
                return float(line.split()[1])
        raise AssertionError("no websocket_connections figure")

    async def settled(self) -> int:
        """Open sockets once the event loop has run what is ready (a bounded number of turns)."""
        for _ in range(200):
            if not len(self.app[connections_key]):
                break
            await asyncio.sleep(0)
        return len(self.app[connections_key])


@pytest.fixture(name="serve")
async def serve_fixture(make_settings: Callable[..., Settings]) -> AsyncIterator[Callable[..., Awaitable[Served]]]:
    runners: list[web.AppRunner] = []

    async def serve(**overrides: Any) -> Served:
        app = create_app(make_settings(**{"ws_close_timeout": 0.5, **overrides}))
        runner = web.AppRunner(app, shutdown_timeout=1.0)
        await runner.setup()
        runners.append(runner)
        sock = small_listener()
        await web.SockSite(runner, sock).start()
        return Served(app, runner, sock.getsockname()[1])

    yield serve
    for runner in runners:
        if runner.server is not None:  # (a test may have shut it down)
            await runner.cleanup()


async def stalled_socket(served: Served, frame: bytes, count: int) -> StalledClient:
    """A WebSocket that answered one ping, then sent `count` frames and read nothing more."""
    client = StalledClient(served.port)
    await client.upgrade()
    await client.send(PING)
    assert orjson.loads(await client.read_frame())["type"] == "pong"  # its handler runs: it is registered
    for _ in range(count // 100):  # in bursts, so replies pile up in the server's buffers between them
        if not await client.send(frame * 100):
            break  # reset already
    return client


@pytest.mark.parametrize("frame", [PING, WS_PING], ids=["json-ping", "ws-ping"])
async def test_a_client_flooding_pings_without_reading_is_closed_as_too_slow(
    serve: Callable[..., Awaitable[Served]], frame: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_routes, "AUTH_TIMEOUT_SECONDS", 3600.0)
    served = await serve(ws_max_buffered_bytes=64 << 10)
    # Far more replies than the limit and the kernel's buffers hold; the server resets the socket part way.
    client = await stalled_socket(served, frame, 8000)
    try:
        assert await client.hung_up(), "the server kept a socket that stopped reading"
        assert await served.settled() == 0
    finally:
        client.close()


async def test_auth_timeout_closes_a_socket_that_does_not_read(
    serve: Callable[..., Awaitable[Served]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_routes, "AUTH_TIMEOUT_SECONDS", 1.0)
    served = await serve(ws_max_buffered_bytes=4 << 20)
    # Replies past what the kernel holds, within the output limit: they wait in the server's buffer.
    client = await stalled_socket(served, PING, 4000)
    try:
        assert served.open_sockets() == 1.0  # counted while open, though not signed in
        assert await client.hung_up(), "the auth deadline did not free a socket that stopped reading"
        assert await served.settled() == 0
        assert served.open_sockets() == 0.0
    finally:
        client.close()


async def test_heartbeat_closes_a_socket_that_does_not_read(
    serve: Callable[..., Awaitable[Served]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_routes, "AUTH_TIMEOUT_SECONDS", 3600.0)
    monkeypatch.setattr(ws_routes, "HEARTBEAT_SECONDS", 1.0)
    served = await serve(ws_max_buffered_bytes=4 << 20)
    client = await stalled_socket(served, PING, 4000)
    try:
        assert await client.hung_up(), "the heartbeat did not free a socket that stopped reading"
        assert await served.settled() == 0
    finally:
        client.close()


async def test_shutdown_ends_within_the_close_deadline_though_a_client_does_not_read(
    serve: Callable[..., Awaitable[Served]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_routes, "AUTH_TIMEOUT_SECONDS", 3600.0)
    served = await serve(ws_max_buffered_bytes=4 << 20)
    client = await stalled_socket(served, PING, 4000)
    try:
        async with asyncio.timeout(30):  # a bound for the test, far past the deadline: a hang fails here
            await served.runner.cleanup()
        assert await client.hung_up()
    finally:
        client.close()
