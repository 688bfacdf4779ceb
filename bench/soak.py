"""Soak: starts the real server (`python run.py`) and runs a steady mixed load against it on loopback for --minutes
(20 by default), sampling the server every --sample-seconds (60): its RSS, open file descriptors
(/proc/PID/fd), threads, and p50/p99 per kind of operation over that interval. Then it checks that nothing
acknowledged was lost and says whether memory, descriptors and p99s stayed flat.

    .venv/bin/python bench/soak.py [--minutes 20] [--sample-seconds 60] [--database sqlite|postgresql]
        [--json PATH] [--plot PATH] [--no-mqtt]

The load, all at once (rates in `Load`):
  devices     POST /update with their write keys at a steady rate, one channel each; now and then a bulk write
              (POST /channels/{id}/bulk_update.json); and, when Mosquitto is installed, MQTT publishes to a
              broker of the script's own that the server reads (MQTT_URL), as devices publish to ThingSpeak;
  chat        members sending over their WebSocket in direct chats and in a group (under the per-user limit);
  churn       connections that open, authenticate, sync from the last seq they saw, stay a second and close;
  live        WebSocket subscribers following every device channel (`channel.subscribe`): each point must reach them.

Latency kinds: `update` (POST /update -> its answer, i.e. committed), `bulk` (a bulk write -> its answer),
`chat_ack` (message.send -> its result, committed), `chat_delivery` (message.send -> message.new on another
member's socket), `synced` (TCP connect -> auth -> sync answered), `live` (POST /update sent -> a subscriber has
the point), `mqtt_live` (MQTT publish -> a subscriber has the point).

Lost: every acknowledged point (answered /update, answered bulk write, MQTT publish the broker acknowledged) must
be in its channel's feed (GET /channels/{id}/feeds.json, read window by window), every acknowledged message in
its chat's history (GET /api/chats/{id}/messages), and on every socket that stayed open: every message of its
chats and every point of the channels it follows. Accounts are made as bench/chat.py makes them.

Flat: the first sample is warm-up and left out; the rest are cut in thirds, and the median of the last third is
compared with the median of the second third: RSS may grow by at most 10%, open descriptors by at most
max(5, 10%), threads by at most 2, and each p99 may reach at most 1.5 x + 5 ms (shared machines are noisy).
A MISS there does not fail the run; a lost acknowledged write, an error answer, a failed request or a socket the
server closed does (exit 1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
for _path in (str(REPO_ROOT), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from chat import Account, Conn, Tokens, make_accounts, make_chats, percentile, server_settings  # noqa: E402
from ingest import BenchError, _expect, _revision, create_admin, fresh_postgres, run_and_report_noise  # noqa: E402

from tests.e2e.server_process import HOST, free_port, running_server  # noqa: E402

KINDS = ("update", "bulk", "chat_ack", "chat_delivery", "synced", "live", "mqtt_live")
CALL_TIMEOUT = 30.0  # a request or command not answered in this long is a failure
DRAIN_SECONDS = 30.0  # after the load: how long deliveries and live points still due may take
SETUP_SECONDS = 120.0  # channels, chats, sockets, the MQTT bridge; and again for the checks at the end
FEED_PAGE = 8000  # the most entries one feed read returns
RSS_GROWTH, FD_GROWTH, FD_SLACK, THREAD_SLACK = 0.10, 0.10, 5, 2
P99_FACTOR, P99_SLACK_MS = 1.5, 5.0


@dataclass(frozen=True)
class Load:
    """How much of each kind of load runs at once."""

    devices: int = 8  # channels written by POST /update, one device each
    device_interval: float = 0.2  # seconds between one device's points (8 devices: 40 points/s)
    bulk_interval: float = 10.0  # seconds between bulk writes
    bulk_points: int = 500
    mqtt_devices: int = 2
    mqtt_interval: float = 0.5
    direct_pairs: int = 4  # direct chats, both members sending
    group_members: int = 10  # long-lived members of the group; the churning users are members too
    group_senders: int = 3
    chat_interval: float = 2.0  # seconds between one member's sends (the limit is 30 per 10 s)
    churners: int = 4  # users whose sockets connect, sync and drop, over and over
    churn_hold: float = 1.0
    subscribers: int = 3  # sockets following every device channel


@dataclass
class Sample:
    seconds: float  # since the load started
    rss_mb: float
    fds: int
    threads: int
    count: dict[str, int]
    p50_ms: dict[str, float | None]
    p99_ms: dict[str, float | None]


@dataclass
class SoakResult:
    samples: list[Sample]
    acknowledged: dict[str, int]
    lost: list[str]
    failures: Counter[str]
    verdict: list[tuple[bool, str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.lost and not self.failures


# -- the server's process --------------------------------------------------------------------------------


def process_sample(pid: int) -> tuple[float, int, int]:
    """(RSS in MB, open file descriptors, threads) of a process now."""
    rss_kb = threads = 0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss_kb / 1024, len(os.listdir(f"/proc/{pid}/fd")), threads


@contextlib.contextmanager
def mosquitto(tmp: Path) -> Iterator[str | None]:
    """A Mosquitto of our own on a free loopback port (anonymous, no persistence); None if it is not installed."""
    binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if binary is None:
        yield None
        return
    port = free_port()
    config = tmp / "mosquitto.conf"
    config.write_text(f"listener {port} {HOST}\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as sock:
                if sock.connect_ex((HOST, port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError("mosquitto did not start")
            time.sleep(0.05)
        yield f"mqtt://{HOST}:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Setup:
    base: str
    port: int
    pid: int
    tokens: Tokens
    accounts: list[Account]
    mqtt_url: str | None


def accounts_needed(load: Load) -> int:
    return 1 + load.group_members + 2 * load.direct_pairs + load.churners


@contextlib.contextmanager
def started_server(
    tmp: Path, load: Load, database: str = "sqlite", database_url: str = "", mqtt: bool = True
) -> Iterator[Setup]:
    """The real server on a fresh database (and Mosquitto, with `mqtt`), with the accounts the load uses."""
    env = {"LOG_LEVEL": "WARNING"}
    with contextlib.ExitStack() as stack:
        if database == "postgresql":
            env["DATABASE_URL"] = stack.enter_context(fresh_postgres(database_url))
        mqtt_url = stack.enter_context(mosquitto(tmp)) if mqtt else None
        if mqtt_url is not None:
            env["MQTT_URL"] = mqtt_url
        data_dir = tmp / "server" / "data"
        create_admin(data_dir, env, secrets.token_urlsafe(18))  # migrates, and makes the development secrets
        settings = server_settings(data_dir, env)
        accounts = asyncio.run(make_accounts(settings, accounts_needed(load)))
        server = stack.enter_context(running_server(tmp / "server", env=env))
        yield Setup(server.url, server.port, server.proc.pid, Tokens(settings), accounts, mqtt_url)


# -- the load ------------------------------------------------------------------------------------------------


class Soak:
    """The load's state: what was sent, acknowledged and seen, and the current interval's latencies."""

    def __init__(self, setup: Setup, load: Load) -> None:
        self.setup = setup
        self.load = load
        self.host, self.port = HOST, setup.port  # what chat.Conn reads from its generator
        self.window: dict[str, list[int]] = defaultdict(list)  # kind -> latencies in µs
        self.failures: Counter[str] = Counter()
        self.acked_points: dict[int, set[str]] = defaultdict(set)  # channel id -> status markers
        self.live_expected: dict[int, set[str]] = defaultdict(set)  # channel id -> markers subscribers must see
        self.live_seen: dict[int, set[tuple[int, str]]] = defaultdict(set)  # conn index -> (channel, marker)
        self.acked_messages: dict[str, dict[str, int]] = defaultdict(dict)  # chat id -> text -> sender index
        self.delivered: dict[int, set[str]] = defaultdict(set)  # conn index -> texts of message.new frames
        self.max_seq: dict[int, int] = defaultdict(int)
        self.counts: Counter[str] = Counter()
        self.deadline = 0.0

    # -- frames from chat.Conn ---------------------------------------------------------------------------
    def on_text(self, conn: Conn, payload: bytes, now: int) -> None:
        frame = orjson.loads(payload)
        kind = frame.get("type")
        if isinstance(frame.get("seq"), int):
            self.max_seq[conn.index] = max(self.max_seq[conn.index], frame["seq"])
        if kind in ("result", "error", "pong"):
            waiter = conn.waiters.pop(frame.get("id"), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(frame)
        elif kind == "message.new":
            text = str(frame.get("message", {}).get("text") or "")
            if text.startswith("~"):
                _, sent, sender, _ = text.split("~", 3)
                self.delivered[conn.index].add(text)
                if int(sender) != conn.index:
                    self.window["chat_delivery"].append((now - int(sent)) // 1000)
        elif kind == "channel.entries" and not frame.get("backfill"):
            for entry in frame["entries"]:
                status = str(entry.get("status") or "")
                if status[:1] in ("u", "m"):
                    self.live_seen[conn.index].add((int(frame["channel_id"]), status))
                    written = int(status.rsplit(".", 1)[1])
                    self.window["live" if status[0] == "u" else "mqtt_live"].append((now - written) // 1000)

    def on_sent(self, sent: int) -> None:
        """chat.Conn's send_message calls this; our sends go through Conn.call instead."""

    def fail(self, what: str) -> None:
        self.failures[what] += 1

    def running(self) -> bool:
        return time.monotonic() < self.deadline

    async def paced(self, interval: float, step: Callable[[int], Any]) -> None:
        """Call `step(n)` every `interval` seconds (from a random offset) until the deadline; a late step is not
        made up for."""
        due = time.monotonic() + secrets.randbelow(1000) / 1000 * interval
        n = 0
        while True:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if not self.running():
                return
            await step(n)
            n += 1
            due = max(due + interval, time.monotonic() - interval)

    # -- sockets -------------------------------------------------------------------------------------------
    async def open_socket(self, account: Account, index: int, after_seq: int | None = 0) -> Conn:
        """Connect, authenticate and (unless `after_seq` is None) sync from `after_seq`."""
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(lambda: Conn(self, index), HOST, self.port)  # type: ignore[arg-type]
        await asyncio.wait_for(conn.opened, CALL_TIMEOUT)
        reply = await conn.call("auth", timeout=CALL_TIMEOUT, token=self.setup.tokens(account))
        if reply["type"] != "result":
            raise BenchError(f"auth refused: {reply}")
        while after_seq is not None:
            reply = await conn.call("sync", timeout=CALL_TIMEOUT, after_seq=after_seq)
            if reply["type"] != "result":
                raise BenchError(f"sync refused: {reply}")
            after_seq = reply["result"]["last_seq"] if reply["result"]["more"] else None
        return conn

    async def churn(self, account: Account, index: int) -> None:
        async def once(_: int) -> None:
            started = time.monotonic_ns()
            try:
                conn = await self.open_socket(account, index, self.max_seq[index])
            except (OSError, TimeoutError, ConnectionError, BenchError) as exc:
                self.fail(f"churn connect: {type(exc).__name__}")
                return
            self.window["synced"].append((time.monotonic_ns() - started) // 1000)
            self.counts["connections"] += 1
            await asyncio.sleep(self.load.churn_hold)
            if conn.close_code is not None:
                self.fail(f"churn socket closed by the server ({conn.close_code})")
            conn.close()

        await self.paced(self.load.churn_hold / 4, once)

    async def chat_sender(self, conn: Conn, chat_id: str) -> None:
        async def send(n: int) -> None:
            sent = time.monotonic_ns()
            text = f"~{sent}~{conn.index}~ soak {n}"
            try:
                reply = await conn.call(
                    "message.send", timeout=CALL_TIMEOUT, chat_id=chat_id, client_id=str(uuid.uuid4()), text=text
                )
            except (TimeoutError, ConnectionError) as exc:
                self.fail(f"message.send: {type(exc).__name__}")
                return
            if reply["type"] != "result":
                self.fail(f"message.send answered {reply.get('error', {}).get('code')}")
                return
            self.window["chat_ack"].append((time.monotonic_ns() - sent) // 1000)
            self.acked_messages[chat_id][text] = conn.index

        await self.paced(self.load.chat_interval, send)

    # -- devices -------------------------------------------------------------------------------------------
    async def device(self, session: aiohttp.ClientSession, channel: tuple[int, str], number: int) -> None:
        channel_id, key = channel

        async def post(n: int) -> None:
            sent = time.monotonic_ns()
            marker = f"u{number}-{n}.{sent}"
            form = {"api_key": key, "field1": str(20 + n % 10), "field2": str(n), "status": marker}
            try:
                async with session.post("/update", data=form) as resp:
                    body = await resp.text()
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.fail(f"/update: {type(exc).__name__}")
                return
            if resp.status != 200 or not body.strip().isdigit() or int(body) <= 0:
                self.fail(f"/update answered {resp.status} {body[:40]!r}")
                return
            self.window["update"].append((time.monotonic_ns() - sent) // 1000)
            self.acked_points[channel_id].add(marker)
            self.live_expected[channel_id].add(marker)

        await self.paced(self.load.device_interval, post)

    async def bulk(self, session: aiohttp.ClientSession, channel: tuple[int, str]) -> None:
        channel_id, key = channel
        size = self.load.bulk_points
        start = datetime(2020, 1, 1, tzinfo=UTC).timestamp()

        async def post(n: int) -> None:
            first = start + n * size  # one second apart, never the same time twice
            updates = [
                {
                    "created_at": datetime.fromtimestamp(first + i, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "field1": str(i % 50),
                    "status": f"b{n}-{i}",
                }
                for i in range(size)
            ]
            sent = time.monotonic_ns()
            try:
                async with session.post(
                    f"/channels/{channel_id}/bulk_update.json", json={"write_api_key": key, "updates": updates}
                ) as resp:
                    answer = await resp.json(content_type=None) if resp.status == 202 else await resp.text()
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                self.fail(f"bulk_update: {type(exc).__name__}")
                return
            if resp.status != 202 or not isinstance(answer, dict) or answer.get("count") != size:
                self.fail(f"bulk_update answered {resp.status} {str(answer)[:60]!r}")
                return
            self.window["bulk"].append((time.monotonic_ns() - sent) // 1000)
            self.acked_points[channel_id].update(u["status"] for u in updates)

        await self.paced(self.load.bulk_interval, post)

    async def mqtt_device(self, client: Any, channel: tuple[int, str], number: int) -> None:
        channel_id, key = channel

        async def publish(n: int) -> None:
            marker = f"m{number}-{n}.{time.monotonic_ns()}"
            try:
                await client.publish(
                    f"channels/{channel_id}/publish/{key}", f"field1={n % 10}&status={marker}", qos=1, timeout=10
                )
            except Exception as exc:  # aiomqtt raises its own errors
                self.fail(f"MQTT publish: {type(exc).__name__}")
                return
            self.acked_points[channel_id].add(marker)
            self.live_expected[channel_id].add(marker)

        await self.paced(self.load.mqtt_interval, publish)

    # -- samples ---------------------------------------------------------------------------------------------
    def take_sample(self, seconds: float) -> Sample:
        window, self.window = self.window, defaultdict(list)
        rss, fds, threads = process_sample(self.setup.pid)
        p50: dict[str, float | None] = {}
        p99: dict[str, float | None] = {}
        for kind in KINDS:
            values = sorted(window.get(kind, []))
            p50[kind] = percentile(values, 50) if values else None
            p99[kind] = percentile(values, 99) if values else None
        count = {kind: len(window.get(kind, [])) for kind in KINDS}
        return Sample(round(seconds, 1), round(rss, 1), fds, threads, count, p50, p99)


async def _channel(session: aiohttp.ClientSession, user_key: str, name: str) -> tuple[int, str]:
    body = {"api_key": user_key, "name": name, "field1": "value", "field2": "count"}
    async with session.post("/channels.json", json=body) as resp:
        made = await _expect(resp, 200, "POST /channels.json")
    return int(made["id"]), next(k["api_key"] for k in made["api_keys"] if k["write_flag"])


async def feed_statuses(session: aiohttp.ClientSession, channel_id: int, headers: dict[str, str]) -> set[str]:
    """Every status the channel's feed holds, read window by window (a window that comes back full is halved)."""
    found: set[str] = set()

    async def window(start: float, end: float) -> None:
        params = {"start": f"{start:.6f}", "end": f"{end:.6f}", "status": "true", "results": str(FEED_PAGE)}
        async with session.get(f"/channels/{channel_id}/feeds.json", params=params, headers=headers) as resp:
            feeds = (await _expect(resp, 200, f"GET /channels/{channel_id}/feeds.json"))["feeds"]
        if len(feeds) >= FEED_PAGE and end - start > 0.001:
            middle = (start + end) / 2
            await window(start, middle)
            await window(middle, end)
            return
        found.update(str(f.get("status") or "") for f in feeds)

    await window(datetime(2000, 1, 1, tzinfo=UTC).timestamp(), time.time() + 3600)
    return found


async def history_texts(session: aiohttp.ClientSession, chat_id: str, headers: dict[str, str]) -> set[str]:
    texts: set[str] = set()
    after = 0
    while True:
        params = {"after": str(after), "limit": "100"}
        async with session.get(f"/api/chats/{chat_id}/messages", params=params, headers=headers) as resp:
            page = await _expect(resp, 200, f"GET /api/chats/{chat_id}/messages")
        texts.update(str(m.get("text") or "") for m in page["messages"])
        if not page["has_more"] or not page["messages"]:
            return texts
        after = int(page["messages"][-1]["id"])


async def _wait_for_bridge(
    session: aiohttp.ClientSession, client: Any, channel: tuple[int, str], headers: dict[str, str]
) -> None:
    """Publish a probe until the server's MQTT bridge has written one: it subscribes some time after it starts."""
    channel_id, key = channel
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        await client.publish(f"channels/{channel_id}/publish/{key}", "field1=0&status=probe", qos=1, timeout=10)
        await asyncio.sleep(0.5)
        if "probe" in await feed_statuses(session, channel_id, headers):
            return
    raise BenchError("the server's MQTT bridge wrote nothing in 30 s")


async def soak(
    setup: Setup, seconds: float, sample_seconds: float, load: Load, on_sample: Callable[[Sample], None] | None = None
) -> SoakResult:
    """Run the load for `seconds`, sampling every `sample_seconds`; then check what was acknowledged. Bounded:
    everything is over within seconds + DRAIN_SECONDS + 2 x SETUP_SECONDS."""
    limit = seconds + DRAIN_SECONDS + 2 * SETUP_SECONDS
    try:
        async with asyncio.timeout(limit):
            return await _soak(Soak(setup, load), seconds, sample_seconds, on_sample)
    except TimeoutError as exc:
        raise BenchError(f"the soak was not over {limit:.0f} s after it started: stopped") from exc


async def _soak(
    s: Soak, seconds: float, sample_seconds: float, on_sample: Callable[[Sample], None] | None
) -> SoakResult:
    setup, load = s.setup, s.load
    accounts = iter(setup.accounts)
    owner = next(accounts)
    group = [next(accounts) for _ in range(load.group_members)]
    pairs = [(next(accounts), next(accounts)) for _ in range(load.direct_pairs)]
    churners = [next(accounts) for _ in range(load.churners)]
    timeout = aiohttp.ClientTimeout(total=CALL_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=64)
    sockets: list[Conn] = []
    async with contextlib.AsyncExitStack() as stack:
        session = await stack.enter_async_context(
            aiohttp.ClientSession(setup.base, timeout=timeout, connector=connector)
        )

        @stack.callback
        def close_sockets() -> None:
            for conn in sockets:
                conn.close()

        def bearer() -> dict[str, str]:  # a fresh token each time: they last 15 minutes
            return {"Authorization": f"Bearer {setup.tokens(owner)}"}

        async with session.get("/api/me/api-key", headers=bearer()) as resp:
            user_key = (await _expect(resp, 200, "GET /api/me/api-key"))["api_key"]
        devices = [await _channel(session, user_key, f"soak device {n}") for n in range(load.devices)]
        bulk_channel = await _channel(session, user_key, "soak bulk")
        chats = await make_chats(setup.base, setup.tokens, [*group, *churners], pairs)
        mqtt_client = None
        mqtt_channels: list[tuple[int, str]] = []
        if setup.mqtt_url is not None:
            import aiomqtt

            mqtt_channels = [await _channel(session, user_key, f"soak mqtt {n}") for n in range(load.mqtt_devices)]
            mqtt_client = await stack.enter_async_context(
                aiomqtt.Client(HOST, int(setup.mqtt_url.rsplit(":", 1)[1]), identifier=f"soak-{uuid.uuid4().hex[:8]}")
            )
            await _wait_for_bridge(session, mqtt_client, mqtt_channels[0], bearer())

        # Long-lived sockets: chat members (group and direct), then the live subscribers (as the channels' owner).
        members: dict[int, Conn] = {}
        for account in [*group, *(u for pair in pairs for u in pair)]:
            members[account.index] = await s.open_socket(account, account.index)
            sockets.append(members[account.index])
        followed = [c for c, _ in devices + mqtt_channels]
        subscribers = []
        for n in range(load.subscribers):
            conn = await s.open_socket(owner, -1 - n, after_seq=None)
            for channel_id in followed:
                reply = await conn.call("channel.subscribe", timeout=CALL_TIMEOUT, channel_id=channel_id)
                if reply["type"] != "result":
                    raise BenchError(f"channel.subscribe refused: {reply}")
            subscribers.append(conn)
            sockets.append(conn)

        # The load, until the deadline; samples meanwhile.
        started = time.monotonic()
        s.deadline = started + seconds
        tasks = [s.device(session, channel, n) for n, channel in enumerate(devices)]
        tasks.append(s.bulk(session, bulk_channel))
        if mqtt_client is not None:
            tasks += [s.mqtt_device(mqtt_client, channel, n) for n, channel in enumerate(mqtt_channels)]
        tasks += [s.chat_sender(members[a.index], chats.group_id) for a in group[: load.group_senders]]
        tasks += [s.chat_sender(members[u.index], chat_id) for chat_id, a, b in chats.direct for u in (a, b)]
        tasks += [s.churn(account, account.index) for account in churners]
        s.window.clear()
        samples: list[Sample] = []

        async def sampler() -> None:
            for k in range(1, int(seconds // sample_seconds) + 1):
                await asyncio.sleep(max(0.0, started + k * sample_seconds - time.monotonic()))
                sample = s.take_sample(time.monotonic() - started)
                samples.append(sample)
                if on_sample is not None:
                    on_sample(sample)

        await asyncio.gather(sampler(), *tasks)

        # Drain: deliveries and live points still on their way.
        def due() -> int:
            missing = 0
            for chat_id, indexes in _chat_members(chats).items():
                for text, sender in s.acked_messages[chat_id].items():
                    missing += sum(1 for i in indexes if i in members and i != sender and text not in s.delivered[i])
            for conn in subscribers:
                seen = s.live_seen[conn.index]
                missing += sum(1 for c, ms in s.live_expected.items() for m in ms if (c, m) not in seen)
            return missing

        drain_until = time.monotonic() + DRAIN_SECONDS
        while due() and time.monotonic() < drain_until:  # noqa: ASYNC110 - the frames arrive on sockets
            await asyncio.sleep(0.5)

        # Checks: what was acknowledged is in the read APIs, and reached every socket that stayed open.
        lost: list[str] = []
        for conn in sockets:
            if conn.close_code is not None:
                s.fail(f"a long-lived socket was closed by the server ({conn.close_code})")
        for channel_id, markers in s.acked_points.items():
            stored = await feed_statuses(session, channel_id, bearer())
            if markers - stored:
                lost.append(f"channel {channel_id}: {len(markers - stored)} of {len(markers)} acknowledged points")
        member_of = _chat_members(chats)
        for chat_id, texts in s.acked_messages.items():
            reader = next(a for a in [*group, *(u for p in pairs for u in p)] if a.index in member_of[chat_id])
            stored = await history_texts(session, chat_id, {"Authorization": f"Bearer {setup.tokens(reader)}"})
            if set(texts) - stored:
                lost.append(f"chat {chat_id}: {len(set(texts) - stored)} of {len(texts)} acknowledged messages")
            undelivered = sum(
                1
                for text, sender in texts.items()
                for index in member_of[chat_id]
                if index in members and index != sender and text not in s.delivered[index]
            )
            if undelivered:
                lost.append(f"chat {chat_id}: {undelivered} deliveries to members' open sockets never arrived")
        for conn in subscribers:
            seen = s.live_seen[conn.index]
            missed = sum(1 for c, ms in s.live_expected.items() for m in ms if (c, m) not in seen)
            if missed:
                lost.append(f"subscriber {conn.index}: {missed} live points never arrived")
        acknowledged = {
            "points": sum(len(m) for m in s.acked_points.values()),
            "messages": sum(len(t) for t in s.acked_messages.values()),
            "connections": s.counts["connections"],
        }
        result = SoakResult(samples, acknowledged, lost, s.failures)
        result.verdict = verdict(samples)
        return result


def _chat_members(chats: Any) -> dict[str, set[int]]:
    members = {chats.group_id: {a.index for a in chats.group}}
    members.update({chat_id: {a.index, b.index} for chat_id, a, b in chats.direct})
    return members


# -- the verdict -----------------------------------------------------------------------------------------------


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def verdict(samples: list[Sample]) -> list[tuple[bool, str, str]]:
    """PASS/MISS per measure: the last third's median against the second third's (the first sample left out)."""
    rest = samples[1:]
    n = len(rest)
    if n < 3:
        return [(False, "flat: too few samples", f"{n} after the warm-up sample; need 3 or more")]
    second, last = rest[n // 3 : 2 * n // 3], rest[2 * n // 3 :]
    found: list[tuple[bool, str, str]] = []

    def check(name: str, pick: Callable[[Sample], float | None], limit: Callable[[float], float], unit: str) -> None:
        a = _median([v for x in second if (v := pick(x)) is not None])
        b = _median([v for x in last if (v := pick(x)) is not None])
        if a is None or b is None:
            return
        found.append((b <= limit(a), f"{name} flat", f"{a:.1f} -> {b:.1f}{unit}, limit {limit(a):.1f}"))

    check("RSS", lambda x: x.rss_mb, lambda a: a * (1 + RSS_GROWTH), " MB")
    check("fds", lambda x: x.fds, lambda a: a + max(FD_SLACK, a * FD_GROWTH), "")
    check("threads", lambda x: x.threads, lambda a: a + THREAD_SLACK, "")
    for kind in KINDS:
        check(f"{kind} p99", lambda x, k=kind: x.p99_ms[k], lambda a: a * P99_FACTOR + P99_SLACK_MS, " ms")  # type: ignore[misc]
    return found


# -- output ------------------------------------------------------------------------------------------------------


SHORT = {
    "update": "update",
    "bulk": "bulk",
    "chat_ack": "chat ack",
    "chat_delivery": "chat dlv",
    "synced": "synced",
    "live": "live",
    "mqtt_live": "mqtt live",
}


def table_header() -> str:
    cells = ["    t s", " RSS MB", "  fds", "thr", *(f"{SHORT[k]:>13}" for k in KINDS)]
    return " ".join(cells)


def table_row(x: Sample) -> str:
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    cells = [f"{x.seconds:7.0f}", f"{x.rss_mb:7.1f}", f"{x.fds:5d}", f"{x.threads:3d}"]
    cells += [f"{ms(x.p50_ms[k]) + '/' + ms(x.p99_ms[k]):>13}" for k in KINDS]
    return " ".join(cells)


def write_plot(samples: list[Sample], path: Path, title: str) -> None:
    """RSS, fds and threads over time above, the p99s below; an SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [x.seconds / 60 for x in samples]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7.5), sharex=True)
    top.plot(t, [x.rss_mb for x in samples], color="tab:blue", marker="o", label="RSS (MB)")
    top.set_ylabel("RSS (MB)")
    top.set_ylim(bottom=0)
    right = top.twinx()
    right.plot(t, [x.fds for x in samples], color="tab:orange", marker="s", label="open fds")
    right.plot(t, [x.threads for x in samples], color="tab:green", marker="^", label="threads")
    right.set_ylabel("count")
    right.set_ylim(bottom=0)
    lines = top.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    top.legend(lines, [str(line.get_label()) for line in lines], loc="center right")
    top.set_title(title)
    for kind in KINDS:
        values = [x.p99_ms[kind] for x in samples]
        if any(v is not None for v in values):
            bottom.plot(t, [math.nan if v is None else v for v in values], marker=".", label=kind)
    bottom.set_ylim(bottom=0)
    bottom.set_ylabel("p99 per interval (ms)")
    bottom.set_xlabel("minutes")
    bottom.set_xlim(left=0)
    bottom.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=len(KINDS), fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg")
    plt.close(fig)


def write_json(result: SoakResult, path: Path, meta: dict[str, Any]) -> None:
    """The run's settings, every sample, what was acknowledged and lost, and the verdict, as JSON."""
    body = {
        **meta,
        "samples": [asdict(x) for x in result.samples],
        "acknowledged": result.acknowledged,
        "lost": result.lost,
        "failures": dict(result.failures),
        "verdict": [{"pass": ok, "what": what, "measured": measured} for ok, what, measured in result.verdict],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=1) + "\n")


def report(result: SoakResult) -> None:
    print(
        f"\nacknowledged: {result.acknowledged['points']:,} points, {result.acknowledged['messages']:,} messages;"
        f" {result.acknowledged['connections']:,} churned connections synced"
    )
    for line in result.lost:
        print(f"  LOST: {line}")
    for what, count in result.failures.most_common():
        print(f"  FAILED: {what} ({count}x)")
    if result.ok:
        print("  nothing acknowledged was lost, no request failed")
    print(
        f"\nflat? median of the last third of samples against the second third (first sample left out);"
        f" RSS +{RSS_GROWTH:.0%}, fds +max({FD_SLACK}, {FD_GROWTH:.0%}), threads +{THREAD_SLACK},"
        f" p99 x{P99_FACTOR:g} + {P99_SLACK_MS:g} ms:"
    )
    for ok, what, measured in result.verdict:
        print(f"  {'PASS' if ok else 'MISS'}  {what:<24} ({measured})")


# -- the command line ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="how long the load runs (default 20)")
    parser.add_argument("--sample-seconds", type=float, default=60.0, help="seconds between samples (default 60)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the samples and the verdict here")
    parser.add_argument("--plot", type=Path, metavar="PATH", help="an SVG of RSS, fds and p99s over time")
    parser.add_argument("--no-mqtt", action="store_true", help="leave out the MQTT devices (and Mosquitto)")
    args = parser.parse_args(argv)
    if not 0.1 <= args.minutes <= 24 * 60 or not 1 <= args.sample_seconds <= args.minutes * 60:
        parser.error("--minutes 0.1..1440, --sample-seconds 1..(the run's length)")
    return run_and_report_noise(_run, args)


def _run(args: argparse.Namespace) -> int:
    import uvloop

    load = Load()
    seconds = args.minutes * 60
    print(
        f"soak: {args.database}, {args.minutes:g} minutes, a sample every {args.sample_seconds:g} s,"
        f" {os.cpu_count()} CPUs; code {_revision()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    print(
        f"load: {load.devices} devices x {1 / load.device_interval:g} points/s (POST /update), {load.bulk_points}"
        f" points in bulk every {load.bulk_interval:g} s, {load.mqtt_devices} MQTT devices x"
        f" {1 / load.mqtt_interval:g}/s, {2 * load.direct_pairs} direct + {load.group_senders} group senders x"
        f" {1 / load.chat_interval:g} msg/s, {load.churners} churning sockets, {load.subscribers} live subscribers"
    )
    with (
        tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp,
        started_server(Path(tmp), load, args.database, args.database_url, mqtt=not args.no_mqtt) as setup,
    ):
        if setup.mqtt_url is None and not args.no_mqtt:
            print("mosquitto is not installed: no MQTT devices")
        print(f"server pid {setup.pid}; latencies: p50/p99 in ms over each interval\n")
        print(table_header())
        result = uvloop.run(soak(setup, seconds, args.sample_seconds, load, lambda x: print(table_row(x))))
    report(result)
    if args.json:
        meta = {"database": args.database, "minutes": args.minutes, "sample_seconds": args.sample_seconds}
        write_json(result, args.json, {**meta, "load": asdict(load)})
        print(f"samples written to {args.json}")
    if args.plot:
        write_plot(
            result.samples, args.plot, f"soak, {args.database}, {args.minutes:g} min, {datetime.now(UTC):%Y-%m-%d}"
        )
        print(f"plot written to {args.plot}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
