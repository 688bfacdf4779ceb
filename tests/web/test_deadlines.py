"""The connection deadlines aiohttp lacks (server/web/deadlines.py): a request head that does not arrive in time,
and a response to a client that stopped reading, end the connection.

An application served as run.py serves it (`listen`), on a listener with tiny socket buffers, and raw clients
that stop reading or send their head a line at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from server.web.deadlines import listen, setup_deadlines
from tests.stalled_client import StalledClient, small_listener

BIG = b"x" * (8 << 20)  # far past what the kernel's buffers hold


async def endless(request: web.Request) -> web.StreamResponse:
    """A streamed export that never ends: only the client going away stops it."""
    response = web.StreamResponse(headers={"Content-Type": "text/csv"})
    await response.prepare(request)
    chunk = b"1,2,3\n" * 10_000
    for _ in range(100_000):
        await response.write(chunk)  # waits while the client's buffers are full
    return response


async def big(request: web.Request) -> web.Response:
    return web.Response(body=BIG, content_type="text/csv")


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello")


Serve = Callable[..., Awaitable[int]]


@pytest.fixture(name="serve")
async def serve_fixture() -> AsyncIterator[Serve]:
    runners: list[tuple[web.AppRunner, asyncio.Server]] = []

    async def serve(head_timeout: float = 60.0, write_timeout: float = 60.0) -> int:
        app = web.Application()
        app.router.add_get("/endless", endless)
        app.router.add_get("/big", big)
        app.router.add_get("/", hello)
        setup_deadlines(app)
        runner = web.AppRunner(app, shutdown_timeout=1.0)
        await runner.setup()
        sock = small_listener()
        server = await listen(runner, sock, head_timeout=head_timeout, write_timeout=write_timeout)
        runners.append((runner, server))
        return int(sock.getsockname()[1])

    yield serve
    for runner, server in runners:
        server.close()
        await runner.cleanup()


@pytest.mark.parametrize("path", ["/endless", "/big"], ids=["streamed", "whole"])
async def test_a_response_to_a_client_that_stopped_reading_is_dropped(serve: Serve, path: str) -> None:
    port = await serve(write_timeout=0.5)
    client = StalledClient(port)
    await client.connect()
    await client.send(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    try:
        assert await client.hung_up(), "a response kept its connection though the client read nothing"
    finally:
        client.close()


async def test_a_head_sent_a_line_at_a_time_is_cut_off(serve: Serve) -> None:
    port = await serve(head_timeout=0.5)
    client = StalledClient(port)
    await client.connect()
    await client.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # ... and the next line never comes
    try:
        assert await client.hung_up(), "a half-sent head kept its connection"
    finally:
        client.close()


async def test_a_connection_that_sends_nothing_is_cut_off(serve: Serve) -> None:
    port = await serve(head_timeout=0.5)
    client = StalledClient(port)
    await client.connect()
    try:
        assert await client.hung_up()
    finally:
        client.close()


async def test_the_head_deadline_is_rearmed_for_the_next_request_on_a_kept_alive_connection(serve: Serve) -> None:
    port = await serve(head_timeout=2.0)
    client = StalledClient(port)
    await client.connect()
    try:
        # A head in two pieces, then the next request's first line only.
        await client.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        await client.send(b"\r\n")
        head = await client.read_head()
        assert head.startswith(b"HTTP/1.1 200"), head
        await client.send(b"GET / HTTP/1.1\r\n")
        assert await client.hung_up(), "the second head had no deadline"
    finally:
        client.close()
