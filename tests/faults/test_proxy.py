"""The fault proxy itself: it forwards, a reset cut resets what is open and what comes, a hang cut holds bytes
silently (the client's own timeout is what ends its wait), and a restore lets everything through again."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from tests.faults.proxy import FaultProxy


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):  # the proxy resets its side on a cut
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
    writer.close()


@pytest.fixture(name="proxy")
async def proxy_fixture() -> AsyncIterator[FaultProxy]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    proxy = FaultProxy("127.0.0.1", port).start()
    try:
        yield proxy
    finally:
        proxy.close()
        server.close()


async def _open(proxy: FaultProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", proxy.port)


async def _echoes(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> bytes:
    writer.write(data)
    await writer.drain()
    return await asyncio.wait_for(reader.readexactly(len(data)), 2)


async def test_a_reset_cut_resets_open_and_new_connections_until_restored(proxy: FaultProxy) -> None:
    reader, writer = await _open(proxy)
    assert await _echoes(reader, writer, b"before") == b"before"
    proxy.cut("reset")
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await _echoes(reader, writer, b"during")
    writer.close()
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):  # accepted, then reset at once
        reader, writer = await _open(proxy)
        await _echoes(reader, writer, b"new")
    proxy.restore()
    reader, writer = await _open(proxy)
    assert await _echoes(reader, writer, b"after") == b"after"
    writer.close()


async def test_a_hang_cut_holds_bytes_silently_and_a_restore_delivers_them(proxy: FaultProxy) -> None:
    reader, writer = await _open(proxy)
    assert await _echoes(reader, writer, b"before") == b"before"
    proxy.cut("hang")
    writer.write(b"held")
    with pytest.raises(TimeoutError):  # no error, no answer: only a timeout ends the wait
        await asyncio.wait_for(reader.readexactly(4), 0.5)
    new_reader, new_writer = await _open(proxy)  # a new connection is accepted but goes nowhere
    new_writer.write(b"late")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(new_reader.readexactly(4), 0.5)
    proxy.restore()
    assert await asyncio.wait_for(reader.readexactly(4), 2) == b"held"
    assert await asyncio.wait_for(new_reader.readexactly(4), 2) == b"late"
    writer.close()
    new_writer.close()
