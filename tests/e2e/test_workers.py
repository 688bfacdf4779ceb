"""Several processes as one service: `python run.py` with WORKERS=2 on PostgreSQL and Redis. A chat message sent
through one worker reaches a device on the other once, in seq order; presence and typing agree; a live channel
subscription on one sees points written through the other; MQTT points are written once; a rolling restart
(SIGHUP: one worker at a time) loses no acknowledged write, and every socket resumes from its seq."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import asyncpg
import pytest

from tests.e2e.workers_kit import Socket, User, http_on, index_of, make_users, two_workers, workers_env, ws_on

pytestmark = pytest.mark.slow

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL")
TEST_MQTT_URL = os.environ.get("TEST_MQTT_URL")


@pytest.fixture(name="backend")
def backend_fixture() -> str:
    """Only PostgreSQL: several processes are refused on SQLite (one writer per file)."""
    if not TEST_DATABASE_URL or not TEST_REDIS_URL:
        pytest.skip("TEST_DATABASE_URL and TEST_REDIS_URL are not set (CI sets them)")
    return "postgresql"


async def _channel(session: aiohttp.ClientSession, owner: User) -> tuple[int, str]:
    async with session.get("/api/me/api-key", headers=owner.headers) as resp:
        assert resp.status == 200, await resp.text()
        key = (await resp.json())["api_key"]
    async with session.post("/channels.json", json={"api_key": key, "name": "two workers"}) as resp:
        assert resp.status == 200, await resp.text()
        channel = await resp.json()
    write_key = next(k["api_key"] for k in channel["api_keys"] if k["write_flag"])
    return int(channel["id"]), str(write_key)


async def _stored_entries(database_url: str, channel_id: int) -> list[tuple[int, str]]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT entry_id, field1 FROM feeds WHERE channel_id = $1 ORDER BY entry_id", channel_id
        )
    finally:
        await conn.close()
    return [(int(r["entry_id"]), str(r["field1"])) for r in rows]


async def _ids_start_high(database_url: str) -> None:
    """Channel ids start at a random high number: the MQTT broker is shared, and topics carry the id."""
    conn = await asyncpg.connect(database_url)
    try:
        start = 1_000_000_000 + secrets.randbelow(10**12)
        await conn.fetchval("SELECT setval(pg_get_serial_sequence('channels', 'id'), $1)", start)
    finally:
        await conn.close()


def _metric(port: int, name: str, figure: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    found = re.search(rf'^{name}\{{figure="{figure}"\}} ([\d.e+]+)', text, re.M)
    return float(found.group(1)) if found else 0.0


def _entries_seen(sock: Socket, channel_id: int) -> list[int]:
    return [
        int(e["entry_id"])
        for p in sock.peer.pushes
        if p["type"] == "channel.entries" and p["channel_id"] == channel_id
        for e in p["entries"]
    ]


async def _until(check: Any, what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_two_workers_serve_as_one(tmp_path: Path, database_url: str) -> None:
    assert TEST_REDIS_URL
    env = workers_env(tmp_path, database_url, TEST_REDIS_URL, TEST_MQTT_URL)
    await _ids_start_high(database_url)
    alice, bob = await make_users(env, 2)
    with two_workers(tmp_path, env) as server:
        on = {w: await http_on(server.url, w) for w in ("0", "1")}
        socks: list[Socket] = []
        try:
            async with on["0"].post(
                "/api/chats", json={"kind": "direct", "user_id": bob.user_id}, headers=alice.headers
            ) as resp:
                assert resp.status == 201, await resp.text()
                chat_id = (await resp.json())["id"]
            here = await ws_on(server.url, alice, "0", after_seq=0)
            there = await ws_on(server.url, bob, "1", after_seq=0)
            socks += [here, there]
            assert index_of(here.worker) != index_of(there.worker)

            # Presence and typing agree across the workers.
            followed = await here.peer.ok("presence.follow", user_ids=[bob.user_id])
            assert followed["presence"][0]["online"] is True
            followed = await there.peer.ok("presence.follow", user_ids=[alice.user_id])
            assert followed["presence"][0]["online"] is True
            await there.close()
            await here.peer.wait_for("presence", user_id=bob.user_id, online=False)
            there = await ws_on(server.url, bob, "1", after_seq=0)
            socks.append(there)
            await here.peer.wait_for("presence", user_id=bob.user_id, online=True)
            assert (await there.peer.ok("chat.typing", chat_id=chat_id))["sent"] is True
            await here.peer.wait_for("typing", chat_id=chat_id, user_id=bob.user_id)

            # Messages sent through worker 0 reach Bob's device on worker 1 once each, in seq order.
            sent = [
                await here.peer.ok("message.send", chat_id=chat_id, client_id=str(uuid.uuid4()), text=f"m{n}")
                for n in range(10)
            ]
            assert [m["id"] for m in sent] == list(range(1, 11))
            await there.peer.wait_for("message.new", count=10)
            await asyncio.sleep(0.3)  # a duplicate, if any, would arrive in this time
            news = [p for p in there.peer.pushes if p["type"] == "message.new"]
            assert [p["message"]["id"] for p in news] == list(range(1, 11))
            seqs = [p["seq"] for p in there.peer.pushes if "seq" in p]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
            answer = await there.peer.ok("message.send", chat_id=chat_id, client_id=str(uuid.uuid4()), text="back")
            assert answer["id"] == 11
            await here.peer.wait_for("message.new", count=11)  # her own ten (every device sees them) and his
            assert (await here.peer.ok("chat.typing", chat_id=chat_id))["sent"] is True  # the chat is Bob's now too
            await there.peer.wait_for("typing", chat_id=chat_id, user_id=alice.user_id)

            # A live subscription on worker 0 sees points written through worker 1.
            channel_id, key = await _channel(on["1"], alice)
            await here.peer.ok("channel.subscribe", channel_id=channel_id)
            for n in range(5):
                async with on["1"].get(f"/update?api_key={key}&field1={n}") as resp:
                    assert resp.status == 200
                    assert index_of(resp.headers["X-Worker"]) == "1"
                    assert int(await resp.text()) == n + 1

            async def five_live() -> bool:
                return len(_entries_seen(here, channel_id)) >= 5

            await _until(five_live, "five live entries on worker 0")
            assert _entries_seen(here, channel_id) == [1, 2, 3, 4, 5]

            # MQTT: the workers share one subscription, so each point is written once.
            if TEST_MQTT_URL:
                await _mqtt_points_written_once(server.url, env, database_url, channel_id, key, here)
        finally:
            for sock in socks:
                with contextlib.suppress(Exception):
                    await sock.close()
            for session in on.values():
                await session.close()


async def _mqtt_points_written_once(
    url: str, env: dict[str, str], database_url: str, channel_id: int, key: str, live: Socket
) -> None:
    assert TEST_MQTT_URL
    metrics = int(env["METRICS_PORT"])

    async def bridges_connected() -> bool:
        async with aiohttp.ClientSession() as session:
            for _ in range(8):  # new connections land on either worker
                async with session.get(f"{url}/readyz", headers={"Connection": "close"}) as resp:
                    if resp.status != 200:
                        return False
        return True

    await _until(bridges_connected, "both workers' MQTT bridges connected")
    host, _, port = TEST_MQTT_URL.removeprefix("mqtt://").partition(":")
    async with aiomqtt.Client(host, int(port or 1883), identifier=f"test-dev-{secrets.token_hex(4)}") as device:
        for n in range(6):
            await device.publish(f"channels/{channel_id}/publish/{key}", f"field1=mqtt{n}", qos=1)

    async def all_stored() -> bool:
        return len(await _stored_entries(database_url, channel_id)) >= 11

    await _until(all_stored, "the MQTT points stored")
    await asyncio.sleep(0.5)  # a second copy, if any, would be written in this time
    stored = await _stored_entries(database_url, channel_id)
    assert [e for e, _ in stored] == list(range(1, 12))
    assert sorted(f for _, f in stored[5:]) == [f"mqtt{n}" for n in range(6)]
    written = sum(_metric(p, "mqtt_bridge", "written") for p in (metrics, metrics + 1))
    assert written == 6

    async def live_saw_them() -> bool:
        return len(_entries_seen(live, channel_id)) >= 11

    await _until(live_saw_them, "the MQTT points on the live subscription")
    assert _entries_seen(live, channel_id) == list(range(1, 12))


# -- a rolling restart ------------------------------------------------------------------------------------


class ResumingDevice:
    """A device of one user that reconnects whenever its socket closes and syncs from the last seq it saw."""

    def __init__(self, url: str, user: User, first_worker: str) -> None:
        self.url = url
        self.user = user
        self.first_worker = first_worker
        self.seqs: list[int] = []
        self.message_ids: list[int] = []
        self.workers: list[str] = []
        self.closes: list[int | None] = []

    @property
    def last_seq(self) -> int:
        return self.seqs[-1] if self.seqs else 0

    def _take(self, sock: Socket, taken: int) -> int:
        pushes = sock.peer.pushes
        for push in pushes[taken:]:
            # A live event that came between auth and sync comes again in the sync's replay (docs/protocol.md):
            # as the protocol asks, events at or below the highest seq processed are dropped.
            if "seq" in push and int(push["seq"]) > self.last_seq:
                self.seqs.append(int(push["seq"]))
                if push["type"] == "message.new":
                    self.message_ids.append(int(push["message"]["id"]))
        return len(pushes)

    async def run(self, stop: asyncio.Event) -> None:
        worker: str | None = self.first_worker
        while not stop.is_set():
            try:
                sock = await ws_on(self.url, self.user, worker, after_seq=self.last_seq)
            except (aiohttp.ClientError, OSError, AssertionError, TimeoutError):
                await asyncio.sleep(0.1)
                continue
            worker = None  # from now on, wherever the connection lands
            self.workers.append(sock.worker)
            taken = 0
            reader = asyncio.ensure_future(sock.peer.closed_by_server(timeout=3600))
            stopping = asyncio.ensure_future(stop.wait())
            while not reader.done() and not stop.is_set():
                await asyncio.wait({reader, stopping}, timeout=0.05, return_when=asyncio.FIRST_COMPLETED)
                taken = self._take(sock, taken)
            stopping.cancel()
            if reader.done():
                self.closes.append(sock.peer.ws.close_code)
            else:
                reader.cancel()
            self._take(sock, taken)
            await sock.close()


async def test_a_rolling_restart_loses_no_acknowledged_write_and_every_socket_resumes(
    tmp_path: Path, database_url: str
) -> None:
    assert TEST_REDIS_URL
    env = workers_env(tmp_path, database_url, TEST_REDIS_URL)
    alice, bob = await make_users(env, 2)
    with two_workers(tmp_path, env) as server:
        async with aiohttp.ClientSession(server.url) as session:
            async with session.post(
                "/api/chats", json={"kind": "direct", "user_id": bob.user_id}, headers=alice.headers
            ) as resp:
                assert resp.status == 201, await resp.text()
                chat_id = (await resp.json())["id"]
            channel_id, key = await _channel(session, alice)
        stop, stop_load = asyncio.Event(), asyncio.Event()
        devices = [ResumingDevice(server.url, bob, w) for w in ("0", "1")]
        acknowledged: list[int] = []
        messages: set[int] = set()

        async def writer() -> None:
            while not stop_load.is_set():
                try:
                    async with aiohttp.ClientSession(server.url) as s:
                        while not stop_load.is_set():
                            async with s.get(f"/update?api_key={key}&field1=1") as resp:
                                text = await resp.text()
                            if resp.status == 200 and text != "0":
                                acknowledged.append(int(text))
                except (aiohttp.ClientError, OSError):
                    await asyncio.sleep(0.02)  # the worker went away mid-request: not acknowledged, send again

        async def sender() -> None:
            while not stop_load.is_set():
                body = {"client_id": str(uuid.uuid4()), "text": "during the restart"}
                while True:  # the same client_id until acknowledged: a resend returns the original
                    try:
                        async with (
                            aiohttp.ClientSession(server.url) as s,
                            s.post(f"/api/chats/{chat_id}/messages", json=body, headers=alice.headers) as resp,
                        ):
                            if resp.status in (200, 201):
                                messages.add(int((await resp.json())["id"]))
                                break
                    except (aiohttp.ClientError, OSError):
                        pass
                    await asyncio.sleep(0.1)
                await asyncio.sleep(0.4)  # under the send limit (30 per 10 s)

        listening = [asyncio.create_task(d.run(stop)) for d in devices]
        load = [asyncio.create_task(writer()) for _ in range(4)]
        load.append(asyncio.create_task(sender()))
        try:
            await asyncio.sleep(2)
            server.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 60
            while "rolling restart done" not in server.log_text():
                assert time.monotonic() < deadline, server.log_tail()
                assert server.running, server.log_tail()
                await asyncio.sleep(0.1)
            await asyncio.sleep(2)
            stop_load.set()
            await asyncio.gather(*load)

            async def both_have_all() -> bool:
                return all(len(d.message_ids) >= len(messages) for d in devices)

            await _until(both_have_all, "every message on both devices")
        finally:
            stop_load.set()
            stop.set()
            await asyncio.gather(*load, *listening)
        before = {d.workers[0] for d in devices}
        assert {index_of(w) for w in before} == {"0", "1"}

        # Both workers were replaced, by new processes.
        async with aiohttp.ClientSession(server.url) as session:
            after = set()
            for _ in range(20):
                async with session.get("/healthz", headers={"Connection": "close"}) as resp:
                    after.add(resp.headers["X-Worker"])
        assert not after & before

        # Every acknowledged point is stored, and the ids still run without gaps.
        stored = [e for e, _ in await _stored_entries(database_url, channel_id)]
        assert len(acknowledged) > 100
        assert set(acknowledged) <= set(stored)
        assert stored == list(range(1, len(stored) + 1))

        # Each device was closed by its worker's restart, came back and got every message once, in seq order.
        assert messages == set(range(1, len(messages) + 1))
        for device in devices:
            assert device.closes, f"the device first on worker {device.first_worker} was never closed"
            assert device.closes[0] == aiohttp.WSCloseCode.GOING_AWAY
            assert len(device.workers) >= 2
        for device in devices:
            assert device.seqs == list(range(1, len(device.seqs) + 1))
            assert device.message_ids == sorted(messages)

        # A worker whose supervisor is killed stops by itself (nobody would restart it, nor give it new code).
        server.kill()
        deadline = time.monotonic() + 10
        for pid in (int(name.split("/")[1]) for name in after):
            while _alive(pid):
                assert time.monotonic() < deadline, f"worker {pid} outlived its supervisor"
                await asyncio.sleep(0.1)


def _alive(pid: int) -> bool:
    """Running (an exited worker nobody reaped yet is a zombie: not alive)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
