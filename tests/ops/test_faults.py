"""Faults answer honestly: a dependency that is down gives 503 with Retry-After (ThingSpeak's shape on its
routes), /readyz names it, a circuit breaker stops trying it per request, and a full write queue refuses at once."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import Settings
from server.keys import database_key, metrics_key
from server.storage.batch import BatchWriter
from server.storage.database import Database
from tests.chat.chatkit import client_id, connect, direct, users
from tests.conftest import free_port
from tests.helpers import PASSWORD, bearer, new_channel, verified_user


class CountingServer:
    """A loopback TCP server that counts connections and closes each at once: a Redis that is down."""

    def __init__(self) -> None:
        self.connections = 0
        self._server: asyncio.Server | None = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()

    async def start(self, port: int) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@pytest.fixture(name="own_redis")
def own_redis_fixture() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """Our own redis-server on a free loopback port (never the shared one), stopped at the end."""
    port = free_port()
    try:
        process = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    except FileNotFoundError:
        pytest.skip("redis-server is not installed")
    assert process.stdout is not None
    for _ in range(200):  # its log says when it takes connections
        line = process.stdout.readline()
        if not line or b"Ready to accept connections" in line:
            break
    yield port, process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)
    process.stdout.close()


@pytest.mark.slow  # starts its own redis-server
async def test_redis_down_answers_503_with_retry_after_and_the_breaker_stops_trying(
    aiohttp_client: Any, make_settings: Callable[..., Settings], own_redis: tuple[int, subprocess.Popen[bytes]]
) -> None:
    redis_port, process = own_redis
    settings = make_settings(
        redis_url=f"redis://127.0.0.1:{redis_port}/0", breaker_failures=2, breaker_cooldown_seconds=3600
    )
    client: TestClient = await aiohttp_client(create_app(settings))
    grant = await verified_user(client)
    email = grant["user"]["email"]
    assert (await client.get("/readyz")).status == 200

    process.kill()  # our own redis-server, by its pid
    process.wait(timeout=10)
    fake = CountingServer()
    for _ in range(100):  # the port frees as soon as the killed server is gone
        with contextlib.suppress(OSError):
            await fake.start(redis_port)
            break
        await asyncio.sleep(0.05)
    try:
        first = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert first.status == 503, await first.text()
        assert int(first.headers["Retry-After"]) >= 1
        assert (await first.json())["error"]["code"] == "unavailable"
        # Once a request has failed twice in a row the breaker is open: nothing more reaches the dead port.
        for _ in range(3):
            await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        tried = fake.connections
        assert tried >= 1
        for _ in range(5):
            resp = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
            assert resp.status == 503
            assert "Retry-After" in resp.headers
        ready = await client.get("/readyz")
        assert ready.status == 503
        assert (await ready.json())["checks"] == {"database": True, "redis": False}
        assert fake.connections == tried
    finally:
        await fake.stop()


async def test_database_down_answers_thingspeaks_503_on_update_and_json_503_elsewhere(client: TestClient) -> None:
    channel = await new_channel(client)
    grant = channel["grant"]
    await client.app[database_key].close()
    resp = await client.post("/update", data={"api_key": channel["write_key"], "field1": "1"})
    assert resp.status == 503
    assert await resp.text() == "0"
    assert "Retry-After" in resp.headers
    resp = await client.post("/update.json", data={"api_key": channel["write_key"], "field1": "1"})
    assert resp.status == 503
    assert (await resp.json())["error"]["error_code"] == "error_service_unavailable"
    resp = await client.get("/api/me", headers=bearer(grant))
    assert resp.status == 503
    assert "Retry-After" in resp.headers
    assert (await resp.json())["error"]["code"] == "unavailable"
    ready = await client.get("/readyz")
    assert ready.status == 503


async def test_database_down_answers_a_websocket_command_with_an_unavailable_frame(client: TestClient) -> None:
    # A command whose service cannot reach the database gets an error reply, as HTTP gets its 503; the socket stays.
    (alice,) = await users(client, 1)
    peer = await connect(client, alice, after_seq=0)
    await client.app[database_key].close()
    reply = await peer.call("sync", after_seq=0)
    assert reply["type"] == "error"
    assert reply["error"]["code"] == "unavailable"
    assert reply["error"]["retry_after"] >= 1
    pong = await peer.call("ping")
    assert pong["type"] == "pong"
    await peer.close()


def _writer(client: TestClient, name: str) -> BatchWriter[Any, Any]:
    return next(w for w in client.app[metrics_key].writers if w.name == name)


@contextlib.asynccontextmanager
async def _blocked_writes(db: Database, table: str) -> AsyncIterator[None]:
    """Hold a write transaction (SQLite: the one writer; PostgreSQL: a lock on `table`) until the block ends."""
    entered, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with db.transaction() as tx:
            if db.backend == "postgresql":
                await tx.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
            entered.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await entered.wait()
    try:
        yield
    finally:
        release.set()
        await holder


async def _until(writer: BatchWriter[Any, Any], writing: int, queued: int) -> None:
    for _ in range(1000):  # bounded: each turn yields to the requests under way
        if (writer.writing, writer.queued) == (writing, queued):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{writer.name} never had {writing} rows writing and {queued} queued")


@pytest.fixture(name="tiny_queue")
async def tiny_queue_fixture(aiohttp_client: Any, make_settings: Callable[..., Settings]) -> TestClient:
    client: TestClient = await aiohttp_client(create_app(make_settings(batch_max_rows=1, batch_max_pending=1)))
    return client


async def test_a_full_feed_queue_answers_503_with_retry_after_and_loses_nothing_acknowledged(
    tiny_queue: TestClient,
) -> None:
    client = tiny_queue
    channel = await new_channel(client)
    key = channel["write_key"]
    writer = _writer(client, "feeds")
    async with _blocked_writes(client.app[database_key], "feeds"):
        # One row in the (blocked) transaction, one waiting: the queue is full.
        first = asyncio.create_task(client.post("/update.json", data={"api_key": key, "field1": "1"}))
        await _until(writer, 1, 0)
        second = asyncio.create_task(client.post("/update.json", data={"api_key": key, "field1": "2"}))
        await _until(writer, 1, 1)
        refused = await client.post("/update.json", data={"api_key": key, "field1": "3"})
        assert refused.status == 503
        assert refused.headers["Retry-After"] == "1"
        assert (await refused.json())["error"]["error_code"] == "error_service_unavailable"
    answers = [await (await task).json() for task in (first, second)]
    assert sorted(a["field1"] for a in answers) == ["1", "2"]
    feed = await (await client.get(f"/channels/{channel['id']}/feeds.json?api_key={channel['read_key']}")).json()
    assert sorted(e["field1"] for e in feed["feeds"]) == ["1", "2"]


async def test_a_full_message_queue_answers_503_and_an_error_frame_with_retry_after(tiny_queue: TestClient) -> None:
    client = tiny_queue
    alice, bob = await users(client, 2)
    chat_id = await direct(client, alice, bob)
    alice_ws = await connect(client, alice)
    writer = _writer(client, "messages")
    path = f"/api/chats/{chat_id}/messages"
    async with _blocked_writes(client.app[database_key], "messages"):
        first = asyncio.create_task(
            client.post(path, json={"client_id": client_id(), "text": "a"}, headers=bearer(alice))
        )
        await _until(writer, 1, 0)
        second = asyncio.create_task(
            client.post(path, json={"client_id": client_id(), "text": "b"}, headers=bearer(alice))
        )
        await _until(writer, 1, 1)
        refused = await client.post(path, json={"client_id": client_id(), "text": "c"}, headers=bearer(alice))
        assert refused.status == 503
        assert refused.headers["Retry-After"] == "1"
        assert (await refused.json())["error"]["code"] == "unavailable"
        frame = await alice_ws.call("message.send", chat_id=chat_id, client_id=client_id(), text="d")
        assert frame["error"]["code"] == "unavailable"
        assert frame["error"]["retry_after"] == 1
    for task in (first, second):
        assert (await task).status == 201
    history = await (await client.get(path, headers=bearer(alice))).json()
    assert sorted(m["text"] for m in history["messages"]) == ["a", "b"]
    await alice_ws.close()
