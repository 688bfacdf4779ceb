"""Chat benchmark: starts the real server (`python run.py`) and measures, in one run, on loopback,

  (a) idle WebSocket connections held by the one server process: --connections of them (one user each,
      authenticated and synced), held --idle-seconds, past the server's 25 s heartbeat; server memory per
      connection (VmRSS before and after), and a check that each still answers a ping and was pinged;
  (b) deliveries per second (`message.new` frames received over all connections, the sender's own device
      included) and send-to-receive latency p50/p99, in a 1,000-member group (one connection per member)
      and across 2,000 direct chats (4,000 users, one connection each). Each in two kinds of step:
      flat out (closed loop: senders send again as soon as their last send is acknowledged), the most it
      delivers; then open loop at the target's rate (or, if flat out stayed below it, at 80% of flat out)
      and at half that (the group: at 25,000 deliveries/s, issue 16's second target): the latency near the
      most it takes, and with room to spare. Direct chats also report deliveries/s per core of server CPU,
      and a baseline from the same run: application pings flat out on the same connections (one frame in,
      one reply out, nothing stored or fanned out), the server's CPU a round trip;
  (c) persisted sends per second: the direct chats' flat-out step (an acknowledgement comes after the
      commit); afterwards the history API must hold at least as many of its messages as were acknowledged;
  (d) `--only broadcast`: a broadcast group (a channel: only admins post) of 10,000 members, one connection
      each, held by the one server process; its admins post flat out, then at a fixed rate: deliveries/s,
      p50/p99, server CPU; and the storage rows one message writes (chat_events, user_events rows and user_seq
      rows changed, counted in the database before and after) in channels of 100, 1,000 and 10,000 members.

    .venv/bin/python bench/chat.py [--database sqlite|postgresql] [--duration 10] [--connections 10000]

The load generator runs in --workers processes (default 1), each an asyncio loop (uvloop) with a small
WebSocket client of its own (frames parsed by hand, so it spends little CPU per frame). On 2 cores it
competes with the server: every step prints the CPU of both and of the whole machine. Latency: the sender
writes time.monotonic_ns() into the text; the receiver subtracts it from the time the frame arrived
(CLOCK_MONOTONIC is one clock for every process on the machine).

Accounts: registration and sign-in are rate limited per IP (5 an hour, 10 in 5 minutes) and sign-in runs
argon2 on purpose, so the accounts are made before the server starts, in this process, with the server's
own AccountRepository: verified users with one session each, as register + verify + login leave them, and
access tokens issued with the server's JWT secret (DATA_DIR/secrets.json) as login issues them. Chats are
made through POST /api/chats; everything else goes through the WebSocket and the HTTP API.

Sends stay under the per-user send limit (Settings.rate_chat_send): a sender sends at most once per
seconds / count. Error replies, connections the server closed and deliveries that never arrived are printed
as PROBLEM lines and fail the matching target. It prints PASS/MISS per target; a missed target does not
make it fail (exit 0). It exits 1 if it could not measure (the server or a worker did not start, a
connection could not be opened, the history API holds fewer messages than were acknowledged).
"""

from __future__ import annotations

import argparse
import array
import asyncio
import base64
import contextlib
import itertools
import math
import os
import random
import re
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar, cast

import aiohttp
import orjson

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
for _path in (str(REPO_ROOT), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from ingest import (  # noqa: E402 - after the path is set
    BenchError,
    ProcessWatch,
    _busy_now,
    _expect,
    _machine_cpu,
    _revision,
    create_admin,
    fresh_postgres,
    profiled,
    run_and_report_noise,
)

from tests.e2e.server_process import HOST, free_port, running_server  # noqa: E402

GROUP_MEMBERS = 1000
BROADCAST_SIZES = (100, 1000, 10_000)  # channels whose storage cost per message (d) compares
BROADCAST_ADMINS = 20  # who posts in the channels: each stays under the per-user send limit
BROADCAST_RATE = 2.0  # messages/s of (d)'s fixed-rate step (x 10,000 deliveries each)
STORAGE_SENDS = 10  # messages per channel whose rows (d) counts
DIRECT_CHATS = 2000
WARMUP_SECONDS = 3.0
DRAIN_SECONDS = 60.0  # after the window: how long to wait for the answers and deliveries still due
QUIET_SECONDS = 1.0  # a worker stops waiting once nothing arrived for this long (and every send is answered)
CONNECT_CONCURRENCY = 200  # handshakes in flight per worker
FILLER = "the quick brown fox jumps over the lazy dog"  # makes a text of about 80 characters

# Targets (the issue's, on SQLite).
TARGET_CONNECTIONS = 10_000
TARGET_KB_PER_CONNECTION = 30.0
TARGET_DELIVERIES = 50_000  # direct chats (the group's are issue 16's, below)
TARGET_P99_MS = 200.0
TARGET_GROUP_DELIVERIES = 100_000  # a 1,000-member group: 100 messages/s ...
TARGET_GROUP_P99_MS = 200.0  # ... with this p99,
TARGET_GROUP_QUIET = 25_000  # and at 25 messages/s ...
TARGET_GROUP_QUIET_P99_MS = 50.0  # ... this one
TARGET_DIRECT_PER_CORE = 20_000  # direct deliveries/s per core of server CPU, flat out
TARGET_PERSISTED = 5_000


# == the load generator (runs in worker processes) ====================================================


def ws_frame(payload: bytes, opcode: int) -> bytes:
    """A client frame: FIN, the opcode, masked with a fresh key (RFC 6455 5.3)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = os.urandom(4)
    stream = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")
    return head + key + masked


class Conn(asyncio.Protocol):
    """One device's WebSocket to /ws: the handshake, frames, control calls and message sends."""

    def __init__(self, gen: LoadGenerator, index: int) -> None:
        self.gen = gen
        self.index = index  # the user's index: one connection per user
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.upgraded = False
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.sends: dict[int, tuple[int, int]] = {}  # frame id -> (run, monotonic ns when sent)
        self.next_id = 0
        self.close_code: int | None = None
        self.server_pings = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            f"GET /ws HTTP/1.1\r\nHost: {self.gen.host}:{self.gen.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if self.close_code is None:
            self.close_code = 1006
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed before the upgrade: {exc}"))
        for waiter in self.waiters.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError(f"connection closed ({self.close_code})"))
        self.waiters.clear()

    def data_received(self, data: bytes) -> None:
        if self.buf:
            data = self.buf + data
            self.buf = b""
        if not self.upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buf = data
                return
            head, data = data[:end], data[end + 4 :]
            if not head.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace")))
                assert self.transport is not None
                self.transport.close()
                return
            self.upgraded = True
            self.opened.set_result(None)
        now = time.monotonic_ns()
        pos, n = 0, len(data)
        while n - pos >= 2:
            length, head_size = data[pos + 1] & 0x7F, 2
            if length == 126:
                if n - pos < 4:
                    break
                length, head_size = (data[pos + 2] << 8) | data[pos + 3], 4
            elif length == 127:
                if n - pos < 10:
                    break
                length, head_size = int.from_bytes(data[pos + 2 : pos + 10], "big"), 10
            end = pos + head_size + length
            if end > n:
                break
            opcode = data[pos] & 0x0F
            payload = data[pos + head_size : end]
            pos = end
            if opcode == 1:
                self.gen.on_text(self, payload, now)
            elif opcode == 9:  # the server's heartbeat
                self.server_pings += 1
                self.write(payload, 10)
            elif opcode == 8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self.write(payload[:2], 8)
                assert self.transport is not None
                self.transport.close()
                return
        if pos < n:
            self.buf = data[pos:]

    def write(self, payload: bytes, opcode: int = 1) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(ws_frame(payload, opcode))

    def _frame_id(self) -> int:
        self.next_id += 1
        return self.next_id

    async def call(self, kind: str, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        frame_id = self._frame_id()
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiters[frame_id] = waiter
        self.write(orjson.dumps({"type": kind, "id": frame_id, **fields}))
        try:
            return await asyncio.wait_for(waiter, timeout)
        finally:
            self.waiters.pop(frame_id, None)

    def send_message(self, chat_id: str, run: int, wait: bool) -> asyncio.Future[dict[str, Any]] | None:
        """Send one message whose text carries the run, the send time and the sender; with `wait`, a future
        for the reply."""
        frame_id = self._frame_id()
        sent = time.monotonic_ns()
        if chat_id:
            text = f"~{run}~{sent}~{self.index}~ {FILLER}"
            frame = {"type": "message.send", "id": frame_id, "chat_id": chat_id, "client_id": str(uuid.uuid4())}
            frame["text"] = text
        else:  # the baseline: an application ping, answered by the WebSocket layer alone
            frame = {"type": "ping", "id": frame_id}
        self.sends[frame_id] = (run, sent)
        waiter: asyncio.Future[dict[str, Any]] | None = None
        if wait:
            waiter = asyncio.get_running_loop().create_future()
            self.waiters[frame_id] = waiter
        self.write(orjson.dumps(frame))
        self.gen.on_sent(sent)
        return waiter

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.write((1000).to_bytes(2, "big"), 8)
            self.transport.close()


@dataclass
class RunStats:
    """What one worker saw during one run (one scenario)."""

    run: int = 0
    t_start: int = 0
    t_end: int = 0
    sent: int = 0
    sent_in_window: int = 0
    acked: int = 0
    acks_in_window: int = 0
    acked_window_sends: int = 0  # sent in the window and acknowledged
    errors: Counter[str] = field(default_factory=Counter)
    arrivals_in_window: int = 0  # message.new frames that arrived in the window
    arrivals_in_window_others: int = 0  # ... on a connection other than the sender's
    received_window_sends: int = 0  # deliveries of messages sent in the window, whenever they arrived
    stale: int = 0  # deliveries of earlier runs
    timeouts: int = 0  # sends with no answer in 30 s
    last_arrival: int = 0
    latencies_us: array.array[int] = field(default_factory=lambda: array.array("q"))
    ack_latencies_us: array.array[int] = field(default_factory=lambda: array.array("q"))
    cpu_window: list[float] = field(default_factory=list)


class LoadGenerator:
    """A worker's state: its connections by user index and the current run's counters."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.conns: dict[int, Conn] = {}
        self.stats = RunStats()

    # -- frames --------------------------------------------------------------------------------------
    def on_text(self, conn: Conn, payload: bytes, now: int) -> None:
        if payload.startswith(b'{"type":"message.new"'):
            self.on_delivery(conn, payload, now)
        elif payload.startswith((b'{"type":"result"', b'{"type":"error"', b'{"type":"pong"')):
            frame = orjson.loads(payload)
            frame_id = frame.get("id")
            sent = conn.sends.pop(frame_id, None)
            if sent is not None:
                self.on_ack(frame, sent, now)
            waiter = conn.waiters.pop(frame_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(frame)

    def on_delivery(self, conn: Conn, payload: bytes, now: int) -> None:
        at = payload.find(b'"text":"~')
        if at < 0:
            return
        parts = payload[at + 9 : at + 80].split(b"~", 3)
        if len(parts) < 4:
            return
        s = self.stats
        if int(parts[0]) != s.run:
            s.stale += 1
            return
        sent = int(parts[1])
        s.last_arrival = now
        if s.t_start <= now < s.t_end:
            s.arrivals_in_window += 1
            if int(parts[2]) != conn.index:
                s.arrivals_in_window_others += 1
        if s.t_start <= sent < s.t_end:
            s.received_window_sends += 1
            s.latencies_us.append((now - sent) // 1000)

    def on_sent(self, sent: int) -> None:
        s = self.stats
        s.sent += 1
        if s.t_start <= sent < s.t_end:
            s.sent_in_window += 1

    def on_ack(self, frame: dict[str, Any], sent_at: tuple[int, int], now: int) -> None:
        run, sent = sent_at
        s = self.stats
        if run != s.run:
            return
        if frame["type"] not in ("result", "pong"):
            s.errors[str(frame.get("error", {}).get("code"))] += 1
            return
        s.acked += 1
        if s.t_start <= now < s.t_end:
            s.acks_in_window += 1
        if s.t_start <= sent < s.t_end:
            s.acked_window_sends += 1
            s.ack_latencies_us.append((now - sent) // 1000)

    # -- commands ------------------------------------------------------------------------------------
    async def connect(self, conns: list[list[Any]], sync: bool) -> dict[str, Any]:
        """Open, authenticate and (with `sync`) sync one connection per [index, token]."""
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        failures: Counter[str] = Counter()

        async def open_one(index: int, token: str) -> None:
            async with gate:
                try:
                    _, conn = await loop.create_connection(lambda: Conn(self, index), self.host, self.port)
                    await asyncio.wait_for(conn.opened, 30)
                    reply = await conn.call("auth", token=token)
                    if reply["type"] != "result":
                        raise ConnectionError(f"auth: {reply['error']['code']}")
                    if sync:
                        reply = await conn.call("sync", after_seq=0)
                        if reply["type"] != "result":
                            raise ConnectionError(f"sync: {reply['error']['code']}")
                except (OSError, TimeoutError, ConnectionError) as exc:
                    failures[f"{type(exc).__name__}: {exc}"[:120]] += 1
                    return
                self.conns[index] = conn

        started = time.monotonic()
        await asyncio.gather(*(open_one(int(index), str(token)) for index, token in conns))
        return {
            "connected": len(conns) - sum(failures.values()),
            "seconds": time.monotonic() - started,
            "failures": failures,
        }

    async def check(self) -> dict[str, Any]:
        """An application ping on every connection: how many answer, how many the server has pinged."""
        alive = 0
        closed: Counter[str] = Counter()

        async def ping(conn: Conn) -> None:
            nonlocal alive
            if conn.close_code is not None:
                closed[str(conn.close_code)] += 1
                return
            try:
                reply = await conn.call("ping", timeout=30)
            except (TimeoutError, ConnectionError):
                closed[str(conn.close_code or "no pong")] += 1
                return
            if reply["type"] == "pong":
                alive += 1

        await asyncio.gather(*(ping(c) for c in self.conns.values()))
        pinged = [c.server_pings for c in self.conns.values()]
        return {
            "alive": alive,
            "closed": closed,
            "server_pings": sum(pinged),
            "pinged_connections": sum(1 for p in pinged if p > 0),
        }

    def close_all(self) -> dict[str, Any]:
        closed = Counter(str(c.close_code) for c in self.conns.values() if c.close_code is not None)
        for conn in self.conns.values():
            conn.close()
        count = len(self.conns)
        self.conns.clear()
        return {"closed": count, "closed_by_server": closed}

    async def run(self, plan: dict[str, Any]) -> dict[str, Any]:
        """Send as the plan says, count what arrives; returns after the window and the drain."""
        loop = asyncio.get_running_loop()
        s = self.stats = RunStats(run=int(plan["run"]), t_start=int(plan["t_start"]), t_end=int(plan["t_end"]))
        t_warm = int(plan["t_warm"])
        closed_before = sum(1 for c in self.conns.values() if c.close_code is not None)

        def note_cpu() -> None:
            s.cpu_window.append(_self_cpu())

        for at in (s.t_start, s.t_end):
            loop.call_later(max(0.0, (at - time.monotonic_ns()) / 1e9), note_cpu)

        async def open_loop(conn: Conn, chat_id: str, interval: int, offset: int) -> None:
            n = 0
            while (due := t_warm + offset + n * interval) < s.t_end:
                delay = (due - time.monotonic_ns()) / 1e9
                if delay > 0:
                    await asyncio.sleep(delay)
                if conn.close_code is not None:
                    return
                conn.send_message(chat_id, s.run, wait=False)
                n += 1

        async def closed_loop(conn: Conn, chat_id: str, interval: int, offset: int) -> None:
            await asyncio.sleep(max(0.0, (t_warm + offset - time.monotonic_ns()) / 1e9))
            while (started := time.monotonic_ns()) < s.t_end and conn.close_code is None:
                waiter = conn.send_message(chat_id, s.run, wait=True)
                assert waiter is not None
                try:
                    await asyncio.wait_for(waiter, 30)
                except TimeoutError:
                    s.timeouts += 1
                    return
                except ConnectionError:
                    return
                rest = (started + interval - time.monotonic_ns()) / 1e9
                if rest > 0:
                    await asyncio.sleep(rest)

        senders = []
        for index, chat_id, mode, interval, offset in plan["senders"]:
            conn = self.conns.get(int(index))
            if conn is None:
                continue
            loop_of = open_loop if mode == "open" else closed_loop
            senders.append(loop_of(conn, str(chat_id), int(interval * 1e9), int(offset * 1e9)))
        await asyncio.gather(*senders)
        # Drain: wait for the answers to every send and the deliveries of the window's messages.
        deadline = s.t_end + int(DRAIN_SECONDS * 1e9)
        await asyncio.sleep(max(0.0, (s.t_end - time.monotonic_ns()) / 1e9))
        while (now := time.monotonic_ns()) < deadline:
            unanswered = sum(len(c.sends) for c in self.conns.values() if c.close_code is None)
            if unanswered == 0 and now - max(s.last_arrival, s.t_end) > QUIET_SECONDS * 1e9:
                break
            await asyncio.sleep(0.1)
        unanswered = sum(len(c.sends) for c in self.conns.values() if c.close_code is None)
        with open(plan["latency_file"], "wb") as fh:
            s.latencies_us.tofile(fh)
        with open(plan["latency_file"] + ".ack", "wb") as fh:
            s.ack_latencies_us.tofile(fh)
        closed = Counter(str(c.close_code) for c in self.conns.values() if c.close_code is not None)
        return {
            "sent": s.sent,
            "sent_in_window": s.sent_in_window,
            "acked": s.acked,
            "acks_in_window": s.acks_in_window,
            "acked_window_sends": s.acked_window_sends,
            "errors": s.errors,
            "arrivals_in_window": s.arrivals_in_window,
            "arrivals_in_window_others": s.arrivals_in_window_others,
            "received_window_sends": s.received_window_sends,
            "stale": s.stale,
            "unanswered": unanswered,
            "timeouts": s.timeouts,
            "closed": closed,
            "closed_during_run": sum(closed.values()) - closed_before,
            "cpu_window": s.cpu_window[1] - s.cpu_window[0] if len(s.cpu_window) == 2 else 0.0,
        }


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def worker_main(host: str, port: int) -> None:
    """Read one JSON command a line from stdin, answer one JSON line on stdout, until `exit`."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 28)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    gen = LoadGenerator(host, port)
    out = sys.stdout.buffer
    while line := await reader.readline():
        command = orjson.loads(line)
        kind = command["cmd"]
        if kind == "connect":
            answer = await gen.connect(command["conns"], bool(command.get("sync", True)))
        elif kind == "check":
            answer = await gen.check()
        elif kind == "run":
            answer = await gen.run(command["plan"])
        elif kind == "close":
            answer = gen.close_all()
            await asyncio.sleep(0.5)
        elif kind == "exit":
            gen.close_all()
            return
        else:
            answer = {"error": f"unknown command {kind}"}
        answer["cpu"] = _self_cpu()
        out.write(orjson.dumps(answer) + b"\n")
        out.flush()


def run_worker(host: str, port: int) -> int:
    import uvloop

    _raise_open_files()
    uvloop.run(worker_main(host, port))
    return 0


# == the driver ======================================================================================


class Worker:
    """A load-generator process, driven one JSON line at a time."""

    def __init__(self, number: int, port: int, log_path: Path) -> None:
        self.number = number
        self.log_path = log_path
        self._log: IO[bytes] = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", HOST, str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        self.watch = ProcessWatch(self.proc.pid)

    def send(self, command: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(orjson.dumps(command) + b"\n")
            self.proc.stdin.flush()
        except BrokenPipeError as exc:
            raise BenchError(f"worker {self.number} is gone: {self._tail()}") from exc

    def receive(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise BenchError(f"worker {self.number} exited ({self.proc.poll()}): {self._tail()}")
        answer: dict[str, Any] = orjson.loads(line)
        return answer

    def _tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-2000:]
        return "(no log)"

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(BenchError, OSError):
                self.send({"cmd": "exit"})
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        errors = self._tail().strip()
        if errors:
            print(f"load generator {self.number} wrote to stderr:\n{errors}", file=sys.stderr)


class Pool:
    """The workers; user index i goes to worker i % len(workers)."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers

    def of(self, index: int) -> Worker:
        return self.workers[index % len(self.workers)]

    def ask(self, commands: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send each worker its command, then collect the answers (they work meanwhile, in parallel)."""
        for worker, command in zip(self.workers, commands, strict=True):
            worker.send(command)
        return [worker.receive() for worker in self.workers]

    def ask_all(self, command: dict[str, Any]) -> list[dict[str, Any]]:
        return self.ask([command] * len(self.workers))

    def cpu(self) -> float:
        return sum(w.watch.cpu_seconds() for w in self.workers)


@dataclass
class Account:
    index: int
    user_id: str
    session_id: str


class Tokens:
    """Access tokens as login issues them (same secret, same lifetime), for the accounts made below."""

    def __init__(self, settings: Any) -> None:
        from server.auth.tokens import AccessTokens

        self._tokens = AccessTokens(settings.jwt_secret, settings.access_token_seconds)

    def __call__(self, account: Account) -> str:
        return self._tokens.issue(user_id=account.user_id, session_id=account.session_id, role="user", now=time.time())


def server_settings(data_dir: Path, env: dict[str, str]) -> Any:
    """The settings the server will read (same DATA_DIR, DATABASE_URL and secrets)."""
    from server.config import Settings

    environ = {"DATA_DIR": str(data_dir), "APP_ENV": "development", **env}
    return Settings.from_env(environ)


async def make_accounts(settings: Any, count: int) -> list[Account]:
    """Verified users with one session each, written with the server's own repository, before it starts."""
    from server.auth.passwords import PasswordHasher
    from server.crypto.keyring import BlindIndex, Keyring
    from server.storage.accounts import AccountRepository
    from server.storage.database import connect

    db = await connect(settings.database_url, readers=1, pool_size=2)
    try:
        repo = AccountRepository(db, Keyring(settings.encryption_keys), BlindIndex(settings.blind_index_key))
        hasher = PasswordHasher(time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib)
        password_hash = await hasher.hash(secrets.token_urlsafe(18))  # one real hash, shared: nobody signs in
        now = time.time()
        accounts = [Account(i, uuid.uuid4().hex, uuid.uuid4().hex) for i in range(count)]
        for start in range(0, count, 1000):
            async with db.transaction() as tx:
                for account in accounts[start : start + 1000]:
                    await repo.create_user(
                        tx,
                        user_id=account.user_id,
                        email=f"bench-{account.index}@example.test",
                        display_name=f"Bench {account.index}",
                        password_hash=password_hash,
                        role="user",
                        now=now,
                        verified=True,
                    )
                    await repo.create_session(
                        tx,
                        session_id=account.session_id,
                        user_id=account.user_id,
                        ip="127.0.0.1",
                        user_agent="bench/chat.py",
                        now=now,
                        expires_at=now + settings.refresh_token_days * 86400,
                    )
        return accounts
    finally:
        await db.close()


@dataclass
class Chats:
    group_id: str
    group: list[Account]  # members; group[0] made it
    direct: list[tuple[str, Account, Account]]  # (chat id, a, b)


async def make_chats(base: str, tokens: Tokens, group: list[Account], pairs: list[tuple[Account, Account]]) -> Chats:
    """The group and the direct chats, through POST /api/chats."""
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(base, timeout=timeout, connector=aiohttp.TCPConnector(limit=16)) as session:
        body = {"kind": "group", "name": "Bench group", "members": [a.user_id for a in group[1:]]}
        headers = {"Authorization": f"Bearer {tokens(group[0])}"}
        async with session.post("/api/chats", json=body, headers=headers) as resp:
            made = await _expect(resp, 201, "POST /api/chats (group)")
        if made["member_count"] != len(group):
            raise BenchError(f"the group has {made['member_count']} members, not {len(group)}")
        gate = asyncio.Semaphore(16)

        async def direct(a: Account, b: Account) -> tuple[str, Account, Account]:
            async with gate:
                headers = {"Authorization": f"Bearer {tokens(a)}"}
                body = {"kind": "direct", "user_id": b.user_id}
                async with session.post("/api/chats", json=body, headers=headers) as resp:
                    chat = await _expect(resp, 201, "POST /api/chats (direct)")
                return str(chat["id"]), a, b

        direct_chats = await asyncio.gather(*(direct(a, b) for a, b in pairs))
    return Chats(str(made["id"]), group, list(direct_chats))


async def count_committed(base: str, tokens: Tokens, chats: list[tuple[str, Account, Account]], run: int) -> int:
    """Messages of run `run` in these chats, read page by page through GET /api/chats/{id}/messages."""
    marker = f"~{run}~"
    timeout = aiohttp.ClientTimeout(total=120)
    gate = asyncio.Semaphore(8)
    async with aiohttp.ClientSession(base, timeout=timeout, connector=aiohttp.TCPConnector(limit=8)) as session:

        async def count(chat_id: str, reader: Account) -> int:
            found, after = 0, 0
            headers = {"Authorization": f"Bearer {tokens(reader)}"}
            async with gate:
                while True:
                    params = {"after": str(after), "limit": "100"}
                    async with session.get(f"/api/chats/{chat_id}/messages", params=params, headers=headers) as resp:
                        page = await _expect(resp, 200, "GET /api/chats/{id}/messages")
                    messages = page["messages"]
                    found += sum(1 for m in messages if str(m.get("text", "")).startswith(marker))
                    if not page["has_more"] or not messages:
                        return found
                    after = int(messages[-1]["id"])

        return sum(await asyncio.gather(*(count(chat_id, a) for chat_id, a, _ in chats)))


# -- measuring ------------------------------------------------------------------------------------------


def percentile(values: Sequence[int], q: float) -> float:
    """Nearest-rank percentile of sorted values (in µs), in ms."""
    if not values:
        return math.nan
    return values[min(len(values) - 1, max(0, math.ceil(q / 100 * len(values)) - 1))] / 1000


def read_latencies(paths: list[str]) -> list[int]:
    values = array.array("q")
    for path in paths:
        with open(path, "rb") as fh:
            data = fh.read()
        values.frombytes(data)
    return sorted(values)


@dataclass
class Scenario:
    name: str
    run: int
    fanout: int  # deliveries per message: every member's connection, the sender's own among them
    seconds: float
    sent: int
    acked: int
    acks_in_window: int
    acked_window_sends: int
    arrivals: int
    arrivals_others: int
    received_window_sends: int
    errors: Counter[str]
    unanswered: int
    timeouts: int
    closed_during_run: int
    closed_codes: Counter[str]
    latencies: list[int]
    ack_latencies: list[int]
    server_cores: float
    loop_cores: float  # of server_cores, the event loop's thread (the rest: SQLite's and the pools' threads)
    generator_cores: float
    machine_cores: float
    batches: int  # transactions the message writer committed in the window
    batch_rows: int

    @property
    def deliveries(self) -> float:
        return self.arrivals / self.seconds

    @property
    def persisted(self) -> float:
        return self.acks_in_window / self.seconds

    @property
    def expected(self) -> int:
        return self.acked_window_sends * self.fanout

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 99)

    def problems(self) -> list[str]:
        found = []
        if self.errors:
            found.append(f"error replies to sends: {dict(self.errors)}")
        if self.unanswered:
            found.append(f"{self.unanswered} sends never answered")
        if self.timeouts:
            found.append(f"{self.timeouts} senders gave up after 30 s without an answer")
        if self.closed_during_run:
            found.append(f"{self.closed_during_run} connections closed by the server ({dict(self.closed_codes)})")
        if self.received_window_sends < self.expected:
            found.append(f"{self.expected - self.received_window_sends:,} of {self.expected:,} deliveries missing")
        return found


def measure(
    args: argparse.Namespace,
    pool: Pool,
    watch: ProcessWatch,
    tmp: Path,
    name: str,
    run: int,
    fanout: int,
    senders: list[tuple[int, str, str, float, float]],
) -> Scenario:
    """One scenario: warm-up, a timed window of --duration seconds, then the drain."""
    now = time.monotonic_ns()
    t_warm = now + 500_000_000
    t_start = t_warm + int(WARMUP_SECONDS * 1e9)
    t_end = t_start + int(args.duration * 1e9)
    files = [str(tmp / f"latency-{run}-{w.number}.bin") for w in pool.workers]
    by_worker: list[list[tuple[int, str, str, float, float]]] = [[] for _ in pool.workers]
    for sender in senders:
        by_worker[sender[0] % len(pool.workers)].append(sender)
    plans = [
        {
            "cmd": "run",
            "plan": {
                "run": run,
                "t_warm": t_warm,
                "t_start": t_start,
                "t_end": t_end,
                "senders": mine,
                "latency_file": path,
            },
        }
        for mine, path in zip(by_worker, files, strict=True)
    ]
    for worker, plan in zip(pool.workers, plans, strict=True):
        worker.send(plan)
    time.sleep(max(0.0, (t_start - time.monotonic_ns()) / 1e9))
    server0, machine0, writer0 = watch.cpu_seconds(), _machine_cpu(), writer_stats(args.metrics_base)
    loop0 = watch.loop_cpu_seconds()
    with profiled(args.py_spy, watch.pid, args.duration, _profile_path(args, name)):
        time.sleep(max(0.0, (t_end - time.monotonic_ns()) / 1e9))
        server1, machine1, writer1 = watch.cpu_seconds(), _machine_cpu(), writer_stats(args.metrics_base)
        loop1 = watch.loop_cpu_seconds()
    answers = [worker.receive() for worker in pool.workers]
    seconds = args.duration

    def total(key: str) -> int:
        return sum(int(a[key]) for a in answers)

    errors: Counter[str] = Counter()
    closed: Counter[str] = Counter()
    for answer in answers:
        errors.update(answer["errors"])
        closed.update(answer["closed"])
    return Scenario(
        name=name,
        run=run,
        fanout=fanout,
        seconds=seconds,
        sent=total("sent"),
        acked=total("acked"),
        acks_in_window=total("acks_in_window"),
        acked_window_sends=total("acked_window_sends"),
        arrivals=total("arrivals_in_window"),
        arrivals_others=total("arrivals_in_window_others"),
        received_window_sends=total("received_window_sends"),
        errors=errors,
        unanswered=total("unanswered"),
        timeouts=total("timeouts"),
        closed_during_run=total("closed_during_run"),
        closed_codes=closed,
        latencies=read_latencies(files),
        ack_latencies=read_latencies([f + ".ack" for f in files]),
        server_cores=(server1 - server0) / seconds,
        loop_cores=(loop1 - loop0) / seconds,
        generator_cores=sum(float(a["cpu_window"]) for a in answers) / seconds,
        machine_cores=(machine1 - machine0) / seconds,
        batches=int(writer1[0] - writer0[0]),
        batch_rows=int(writer1[1] - writer0[1]),
    )


def writer_stats(base: str) -> tuple[float, float]:
    """(batches, rows) the server's message writer has committed so far, from GET /metrics."""
    with urllib.request.urlopen(base + "/metrics", timeout=30) as resp:  # noqa: S310 - our own http:// URL
        text = resp.read().decode()
    found = [
        re.search(rf'^batch_writer_{name}\{{writer="messages"\}} ([\d.e+]+)', text, re.M)
        for name in ("batches", "rows")
    ]
    batches, rows = (float(f.group(1)) if f else 0.0 for f in found)
    return batches, rows


def rss_kb(pid: int) -> int:
    """The process's resident memory now (VmRSS), in KB."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _profile_path(args: argparse.Namespace, phase: str) -> Path | None:
    return args.profile_dir / f"bench-chat-{args.database}-{phase}.txt" if args.py_spy else None


def connect(pool: Pool, tokens: Tokens, accounts: Sequence[Account], what: str) -> float:
    """One connection per account (authenticated, synced), spread over the workers; returns the seconds."""
    started = time.monotonic()
    parts: list[list[list[Any]]] = [[] for _ in pool.workers]
    for account in accounts:
        parts[account.index % len(pool.workers)].append([account.index, tokens(account)])
    answers = pool.ask([{"cmd": "connect", "conns": part} for part in parts])
    failures: Counter[str] = Counter()
    for answer in answers:
        failures.update(answer["failures"])
    if failures:
        raise BenchError(f"{what}: {sum(failures.values())} connections failed: {dict(failures.most_common(5))}")
    return time.monotonic() - started


def _default_send_limit() -> Any:
    """The per-user send limit when the settings have none of their own."""
    from server.chat.messages import SEND_LIMIT

    return SEND_LIMIT


def print_scenario(label: str, s: Scenario) -> None:
    others = f" ({s.arrivals_others / s.seconds:,.0f}/s to the other member)" if s.fanout == 2 else ""
    print(
        f"{label}: {s.deliveries:,.0f} deliveries/s{others}, {s.persisted:,.0f} msg/s acknowledged;"
        f" send->receive p50 {s.p50:.1f} ms, p99 {s.p99:.1f} ms, max {percentile(s.latencies, 100):.0f} ms"
    )
    print(
        f"    send->ack p50 {percentile(s.ack_latencies, 50):.1f} ms, p99 {percentile(s.ack_latencies, 99):.1f} ms;"
        f" {s.received_window_sends:,} of {s.expected:,} deliveries of the window's messages arrived;"
        f" {s.batches} writer transactions ({s.batch_rows / max(s.batches, 1):,.0f} messages each);"
        f" CPU: server {s.server_cores:.2f} cores (event loop {s.loop_cores:.2f}, other threads"
        f" {max(0.0, s.server_cores - s.loop_cores):.2f}), generator {s.generator_cores:.2f},"
        f" whole machine {s.machine_cores:.2f} of {os.cpu_count()}"
    )
    if s.persisted > 0:
        per = 1e6 / s.persisted
        print(
            f"    server CPU a message: {s.server_cores * per:.0f} us (event loop {s.loop_cores * per:.0f},"
            f" other threads {max(0.0, s.server_cores - s.loop_cores) * per:.0f}; read a tick apart, so roughly)"
        )
    for problem in s.problems():
        print(f"    PROBLEM: {problem}")


def wait_idle(watch: ProcessWatch, limit: float = 120.0) -> float:
    """Wait (up to `limit` seconds) until the server uses under a tenth of a core: the last step's backlog is
    done. Returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        cpu0 = watch.cpu_seconds()
        time.sleep(0.5)
        if watch.cpu_seconds() - cpu0 < 0.05:
            break
    return time.monotonic() - started


def at_load_rate(target: float, capacity: float, ceiling: float) -> tuple[float, str]:
    """The message rate for the latency step: the target's, unless the flat-out step showed the server
    cannot take it (then 80% of what it took), never past what the send limit allows."""
    if capacity >= target:
        rate, why = target, "the target"
    else:
        rate, why = 0.8 * capacity, "80% of the flat-out rate"
    if rate > ceiling:
        rate, why = ceiling, "the most the per-user send limit allows"
    return rate, why


T = TypeVar("T")
Senders = list[tuple[int, str, str, float, float]]  # (user index, chat id, "open" or "closed", gap s, offset s)


def spread(items: list[T], count: int) -> list[T]:
    """`count` of the items, evenly spread over the list."""
    step = len(items) / min(count, len(items))
    return [items[int(i * step)] for i in range(min(count, len(items)))]


def latency_steps(
    args: argparse.Namespace,
    pool: Pool,
    watch: ProcessWatch,
    tmp: Path,
    name: str,
    runs: Iterator[int],
    fanout: int,
    talkers: list[tuple[int, str]],
    rate: float,
    why: str,
    then: tuple[float, str] | None = None,
) -> list[tuple[float, Scenario]]:
    """Open loop at `rate` messages/s spread evenly over the talkers, then at `then`'s rate (default: half): the
    latency near the most it takes, and with room to spare."""
    steps: list[tuple[float, Scenario]] = []
    for step_rate, step_why in ((rate, why), then or (rate / 2, "half that")):
        gap = len(talkers) / step_rate
        senders: Senders = [(index, chat_id, "open", gap, random.uniform(0, gap)) for index, chat_id in talkers]
        wait_idle(watch)
        step = measure(args, pool, watch, tmp, f"{name}-{step_rate * fanout:.0f}", next(runs), fanout, senders)
        print_scenario(f"    open loop at {step_rate * fanout:,.0f} deliveries/s offered ({step_why})", step)
        steps.append((step_rate, step))
    return steps


# -- the run --------------------------------------------------------------------------------------------


def _raise_open_files() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def _open_files_limit(pid: int) -> str:
    """The soft limit the process really has, from /proc/<pid>/limits."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/limits") as fh:
        for line in fh:
            if line.startswith("Max open files"):
                return f"{int(line.split()[3]):,}"
    return "unknown"


def _pass(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) == 4 and sys.argv[1] == "--worker":
        return run_worker(sys.argv[2], int(sys.argv[3]))
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured window (default 10)")
    parser.add_argument("--connections", type=int, default=TARGET_CONNECTIONS, help="idle connections for (a)")
    parser.add_argument("--idle-seconds", type=float, default=35.0, help="how long (a) holds them (default 35)")
    parser.add_argument("--workers", type=int, default=1, help="load-generator processes (default 1)")
    parser.add_argument(
        "--group-senders", type=int, default=100, help="members sending in the group's open-loop steps (default 100)"
    )
    parser.add_argument(
        "--group-in-flight", type=int, default=40, help="members sending in the group's flat-out step (default 40)"
    )
    parser.add_argument(
        "--direct-in-flight",
        type=int,
        default=2 * DIRECT_CHATS,
        help="users sending in the direct chats' flat-out step, (c) (default: all 4000)",
    )
    parser.add_argument(
        "--only",
        choices=("idle", "group", "direct", "broadcast"),
        action="append",
        help="run only this part (repeatable); the default runs (a), the group and the direct chats (not broadcast)",
    )
    parser.add_argument("--py-spy", metavar="PATH", help="a py-spy binary: profile the server in each window")
    parser.add_argument("--profile-dir", type=Path, default=Path(tempfile.gettempdir()), help="where profiles go")
    args = parser.parse_args(argv)
    if not 1 <= args.duration <= 600 or not 1 <= args.connections <= 100_000 or not 1 <= args.workers <= 16:
        parser.error("--duration 1..600, --connections 1..100000, --workers 1..16")
    if not 1 <= args.group_senders <= GROUP_MEMBERS or not 1 <= args.group_in_flight <= GROUP_MEMBERS:
        parser.error(f"--group-senders and --group-in-flight 1..{GROUP_MEMBERS}")
    if not 1 <= args.direct_in_flight <= 2 * DIRECT_CHATS:
        parser.error(f"--direct-in-flight 1..{2 * DIRECT_CHATS}")
    return run_and_report_noise(_run, args)


def _run(args: argparse.Namespace) -> int:
    soft, hard = _raise_open_files()
    print(
        f"chat benchmark: {args.database}, {args.duration}s windows, {args.connections:,} idle connections,"
        f" {args.workers} generator process(es), {os.cpu_count()} CPUs"
    )
    print(f"open files limit: {soft:,} (hard {hard:,}) for this script, the server and the generator")
    per_worker = math.ceil(args.connections / args.workers)
    if soft < args.connections + 200 or soft < per_worker + 200:
        raise BenchError(
            f"the open files limit ({soft}) is too low for {args.connections} connections: raise it (ulimit -n)"
        )
    print(f"code: {_revision()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    busy, stolen = _busy_now()
    print(
        f"machine before start: {busy:.2f} of {os.cpu_count()} cores busy, {stolen:.0%} CPU steal"
        + (" (not idle!)" if busy > 0.2 or stolen > 0.05 else "")
    )
    env = {"LOG_LEVEL": "WARNING"}
    with tempfile.TemporaryDirectory(prefix="bench-chat-") as tmp, contextlib.ExitStack() as stack:
        tmp_path = Path(tmp)
        if args.database == "postgresql":
            env["DATABASE_URL"] = stack.enter_context(fresh_postgres(args.database_url))
        data_dir = tmp_path / "server" / "data"
        create_admin(data_dir, env, secrets.token_urlsafe(18))  # migrates, and makes the development secrets
        settings = server_settings(data_dir, env)
        users = max(args.connections if not args.only or "idle" in args.only else 0, GROUP_MEMBERS + 2 * DIRECT_CHATS)
        if args.only and "broadcast" in args.only:
            users = max(users, max(BROADCAST_SIZES))
        started = time.monotonic()
        accounts = asyncio.run(make_accounts(settings, users))
        print(f"made {users:,} verified accounts with a session each in {time.monotonic() - started:.1f}s")
        tokens = Tokens(settings)
        env["METRICS_PORT"] = str(free_port())  # GET /metrics is served on this listener only
        server = stack.enter_context(running_server(tmp_path / "server", env=env))
        watch = ProcessWatch(server.proc.pid)
        print(f"the server's open files limit: {_open_files_limit(server.proc.pid)}")
        watch.start()
        stack.callback(watch.finish)
        group = accounts[:GROUP_MEMBERS]
        pair_accounts = accounts[GROUP_MEMBERS : GROUP_MEMBERS + 2 * DIRECT_CHATS]
        pairs = list(zip(pair_accounts[::2], pair_accounts[1::2], strict=True))
        if args.only and "direct" not in args.only:
            pairs = []  # not measured: not made
        started = time.monotonic()
        chats = asyncio.run(make_chats(server.url, tokens, group, pairs))
        print(
            f"made a group of {len(group):,} and {len(pairs):,} direct chats through POST /api/chats"
            f" in {time.monotonic() - started:.1f}s"
        )
        workers = []
        for number in range(args.workers):
            worker = Worker(number, server.port, tmp_path / f"worker-{number}.log")
            stack.callback(worker.stop)
            workers.append(worker)
        pool = Pool(workers)
        args.base = server.url
        args.settings = settings
        args.metrics_base = f"http://{HOST}:{env['METRICS_PORT']}"
        limit = getattr(settings, "rate_chat_send", None) or _default_send_limit()
        args.send_interval = limit.seconds / limit.count * 1.03  # a little under the limit: the clocks differ
        print(
            f"per-user send limit: {limit.count} per {limit.seconds:g}s, so a sender sends at most every"
            f" {args.send_interval:.3f}s"
        )
        return _measure(args, server.url, watch, pool, tokens, accounts, chats, tmp_path)


def _measure(
    args: argparse.Namespace,
    base: str,
    watch: ProcessWatch,
    pool: Pool,
    tokens: Tokens,
    accounts: list[Account],
    chats: Chats,
    tmp: Path,
) -> int:
    parts = set(args.only or ("idle", "group", "direct"))
    targets: list[tuple[bool, str, str]] = []
    row = {"idle conns": "-", "KB/conn": "-", "group deliveries/s flat out": "-", "group p50 / p99 open loop": "-"}
    row |= {"direct deliveries/s flat out": "-", "direct p50 / p99 open loop": "-", "persisted msg/s": "-"}
    run = _Run(args, base, watch, pool, tokens, accounts, chats, tmp, itertools.count(1), targets, row)
    parts_in_order = (("idle", _idle_part), ("group", _group_part), ("direct", _direct_part))
    for part, measure_part in (*parts_in_order, ("broadcast", _broadcast_part)):
        if part in parts:
            measure_part(run)
    print("\ntargets (set for SQLite)" + ("" if args.database == "sqlite" else "; shown for reference") + ":")
    for ok, what, measured in targets:
        print(f"  {_pass(ok)}  {what:<52} ({measured})")
    print("\n| database | " + " | ".join(row) + " |")
    print(f"| {args.database} | " + " | ".join(row.values()) + " |")
    return 0


@dataclass
class _Run:
    """What every part of the measurement uses, and where each leaves its targets and table cells."""

    args: argparse.Namespace
    base: str
    watch: ProcessWatch
    pool: Pool
    tokens: Tokens
    accounts: list[Account]
    chats: Chats
    tmp: Path
    runs: Iterator[int]
    targets: list[tuple[bool, str, str]]
    row: dict[str, str]


def _idle_part(run: _Run) -> None:
    """(a) idle connections."""
    args, watch, pool, tokens, accounts = run.args, run.watch, run.pool, run.tokens, run.accounts
    targets, row = run.targets, run.row
    n = args.connections
    wait_idle(watch)
    rss0 = rss_kb(watch.pid)
    cpu0 = pool.cpu()
    seconds = connect(pool, tokens, accounts[:n], "(a)")
    generator_cpu = pool.cpu() - cpu0
    rss1 = rss_kb(watch.pid)
    cpu0, hold0 = watch.cpu_seconds(), time.monotonic()
    time.sleep(args.idle_seconds)
    idle_cores = (watch.cpu_seconds() - cpu0) / (time.monotonic() - hold0)
    rss2 = rss_kb(watch.pid)
    checks = pool.ask_all({"cmd": "check"})
    alive = sum(int(c["alive"]) for c in checks)
    pinged = sum(int(c["pinged_connections"]) for c in checks)
    closed_a: Counter[str] = Counter()
    for check in checks:
        closed_a.update(check["closed"])
    kb_per_conn = (max(rss1, rss2) - rss0) / max(n, 1)
    print(
        f"\n(a) idle connections: {alive:,} of {n:,} open and answering a ping after {args.idle_seconds:.0f}s idle"
        f" (one user each); {pinged:,} were pinged by the server's heartbeat meanwhile and answered"
    )
    print(
        f"    server RSS {rss0 / 1024:.0f} MB before, {rss1 / 1024:.0f} MB connected, {rss2 / 1024:.0f} MB after"
        f" the hold: {kb_per_conn:.1f} KB per connection; idle server CPU {idle_cores:.2f} cores"
    )
    print(
        f"    opened at {n / seconds:,.0f} connections/s (TCP, WebSocket upgrade, auth, sync;"
        f" generator CPU {generator_cpu / seconds:.2f} cores)"
    )
    if closed_a:
        print(f"    PROBLEM: connections closed: {dict(closed_a)}")
    if args.idle_seconds < 30:
        print("    note: a hold under 30 s does not wait for the 25 s heartbeat to reach every connection")
    pool.ask_all({"cmd": "close"})
    targets.append((alive >= TARGET_CONNECTIONS, f"idle connections >= {TARGET_CONNECTIONS:,}", f"{alive:,}"))
    targets.append(
        (kb_per_conn <= TARGET_KB_PER_CONNECTION, f"<= {TARGET_KB_PER_CONNECTION:g} KB each", f"{kb_per_conn:.1f} KB")
    )
    row["idle conns"], row["KB/conn"] = f"{alive:,}", f"{kb_per_conn:.1f}"


def _group_part(run: _Run) -> None:
    """(b) a 1,000-member group: flat out (closed loop), then open loop at a load it can take."""
    args, watch, pool, tokens = run.args, run.watch, run.pool, run.tokens
    chats, tmp, runs = run.chats, run.tmp, run.runs
    interval = args.send_interval
    members = chats.group
    connect(pool, tokens, members, "(b) group")
    k, flying = args.group_senders, args.group_in_flight
    talkers = spread([(m.index, chats.group_id) for m in members], k)
    fanout = len(members)
    print(f"\n(b) a group of {fanout:,} members, one connection each:")
    senders: Senders = [
        (index, chat_id, "closed", interval, random.uniform(0, interval)) for index, chat_id in spread(talkers, flying)
    ]
    wait_idle(watch)
    group_max = measure(args, pool, watch, tmp, "group-flat-out", next(runs), fanout, senders)
    print_scenario(f"    flat out ({flying} senders, each sending again when acknowledged)", group_max)
    rate, why = at_load_rate(TARGET_GROUP_DELIVERIES / fanout, group_max.persisted, 0.9 * k / interval)
    quiet = (TARGET_GROUP_QUIET / fanout, "the quieter target")
    group_steps = latency_steps(args, pool, watch, tmp, "group-at-load", runs, fanout, talkers, rate, why, quiet)
    pool.ask_all({"cmd": "close"})
    run.targets.append(
        _delivery_target("group", group_max, group_steps[:1], fanout, TARGET_GROUP_DELIVERIES, TARGET_GROUP_P99_MS)
    )
    run.targets.append(
        _delivery_target("group", group_max, group_steps[1:], fanout, TARGET_GROUP_QUIET, TARGET_GROUP_QUIET_P99_MS)
    )
    run.row["group deliveries/s flat out"] = f"{group_max.deliveries:,.0f}"
    run.row["group p50 / p99 open loop"] = _latencies(group_steps, fanout)


def _direct_part(run: _Run) -> None:
    """(b) and (c): 2,000 direct chats, both members sending: flat out (which is (c)), then at a load."""
    args, watch, pool, tokens = run.args, run.watch, run.pool, run.tokens
    chats, tmp, runs = run.chats, run.tmp, run.runs
    base = run.base
    interval = args.send_interval
    talkers = [(u.index, chat_id) for chat_id, a, b in chats.direct for u in (a, b)]
    connect(pool, tokens, [u for _, a, b in chats.direct for u in (a, b)], "(b) direct")
    ceiling = len(talkers) / interval
    print(
        f"\n(b) {len(chats.direct):,} direct chats, {len(talkers):,} users, one connection each, all sending"
        f" (a message goes to both members' connections; the send limit caps them at {ceiling:,.0f} msg/s):"
    )
    flying = args.direct_in_flight
    senders = [
        (index, chat_id, "closed", interval, random.uniform(0, interval)) for index, chat_id in spread(talkers, flying)
    ]
    wait_idle(watch)
    direct_max = measure(args, pool, watch, tmp, "direct-flat-out", next(runs), 2, senders)
    print_scenario(f"    flat out ({flying:,} senders, each sending again when acknowledged)", direct_max)
    rate, why = at_load_rate(TARGET_DELIVERIES / 2, direct_max.persisted, 0.9 * ceiling)
    direct_steps = latency_steps(args, pool, watch, tmp, "direct-at-load", runs, 2, talkers, rate, why)

    # The baseline: the same senders on the same connections, each frame an application ping (one frame in, one
    # reply out; no storage, no fan-out): what the WebSocket stack alone costs the server a round trip, measured
    # in this run. A message's CPU in those units says how much of it is the stack.
    wait_idle(watch)
    pings = [(index, "", "closed", 0.0, random.uniform(0, 0.05)) for index, _ in spread(talkers, flying)]
    floor = measure(args, pool, watch, tmp, "direct-ping-baseline", next(runs), 0, pings)
    floor_us = 1e6 * floor.server_cores / max(floor.persisted, 1)
    message_us = 1e6 * direct_max.server_cores / max(direct_max.persisted, 1)
    print_scenario(f"    baseline: application pings flat out ({flying:,} senders; 'msg/s' are round trips)", floor)
    print(
        f"    a ping round trip costs the server {floor_us:.0f} us of CPU (event loop"
        f" {1e6 * floor.loop_cores / max(floor.persisted, 1):.0f}); a direct message ({message_us:.0f} us) costs"
        f" {message_us / max(floor_us, 0.001):.1f} round trips"
    )
    pool.ask_all({"cmd": "close"})

    # (c) persisted sends: the direct flat-out step, checked against the history API.
    persisted = direct_max
    wait_idle(watch)
    committed = asyncio.run(count_committed(base, tokens, chats.direct, persisted.run))
    print(
        f"\n(c) persisted sends: {persisted.persisted:,.0f} msg/s acknowledged ({flying:,} senders in the"
        f" direct chats, each sending again as soon as its last send is acknowledged, i.e. committed);"
        f" the history API holds {committed:,} messages of that step, {persisted.acked:,} were acknowledged"
    )
    cap = flying / interval
    if persisted.persisted >= 0.9 * cap:
        print(f"    note: near the {cap:,.0f} msg/s the send limit allows {flying:,} senders: raise --direct-in-flight")

    run.targets.append(_delivery_target("direct", direct_max, direct_steps, 2))
    per_core = direct_max.deliveries / max(direct_max.server_cores, 0.01)
    run.targets.append(
        (
            per_core >= TARGET_DIRECT_PER_CORE,
            f"direct >= {TARGET_DIRECT_PER_CORE:,} deliveries/s per server core",
            f"{per_core:,.0f} ({direct_max.deliveries:,.0f}/s on {direct_max.server_cores:.2f} cores,"
            f" {1e6 * direct_max.server_cores / max(direct_max.persisted, 1):.0f} us of server CPU a message)",
        )
    )
    run.targets.append(
        (
            persisted.persisted >= TARGET_PERSISTED,
            f"persisted >= {TARGET_PERSISTED:,} msg/s",
            f"{persisted.persisted:,.0f}",
        )
    )
    run.row["direct deliveries/s flat out"] = f"{direct_max.deliveries:,.0f}"
    run.row["direct p50 / p99 open loop"] = _latencies(direct_steps, 2)
    run.row["persisted msg/s"] = f"{persisted.persisted:,.0f}"
    run.row["direct us/message (ping round trip)"] = f"{message_us:.0f} ({floor_us:.0f})"
    if committed < persisted.acked:
        raise BenchError(f"(c) {persisted.acked} sends were acknowledged but the history API holds {committed}")


async def make_channel(base: str, tokens: Tokens, members: list[Account], admins: int) -> str:
    """A broadcast group of `members` (members[0] its owner, the next `admins` its admins), through the HTTP API:
    made with its first thousand, then members added a thousand at a time (a body holds at most 64 KiB)."""
    timeout = aiohttp.ClientTimeout(total=300)
    headers = {"Authorization": f"Bearer {tokens(members[0])}"}
    ids = [a.user_id for a in members[1:]]
    async with aiohttp.ClientSession(base, timeout=timeout) as session:
        body = {"kind": "group", "name": "Bench channel", "broadcast": True, "members": ids[:1000]}
        async with session.post("/api/chats", json=body, headers=headers) as resp:
            chat_id = str((await _expect(resp, 201, "POST /api/chats (channel)"))["id"])
        for start in range(1000, len(ids), 1000):
            body = {"user_ids": ids[start : start + 1000]}
            async with session.post(f"/api/chats/{chat_id}/members", json=body, headers=headers) as resp:
                await _expect(resp, 200, "POST /api/chats/{id}/members")
        for admin in members[1 : 1 + admins]:
            url = f"/api/chats/{chat_id}/members/{admin.user_id}"
            async with session.patch(url, json={"role": "admin"}, headers=headers) as resp:
                await _expect(resp, 200, "PATCH /api/chats/{id}/members/{user_id}")
        async with session.get(f"/api/chats/{chat_id}", headers=headers) as resp:
            count = (await _expect(resp, 200, "GET /api/chats/{id}"))["member_count"]
        if count != len(members):
            raise BenchError(f"the channel has {count} members, not {len(members)}")
    return chat_id


async def storage_state(database_url: str) -> tuple[int, int, dict[str, tuple[Any, ...]]]:
    """Rows of chat_events and user_events, and every user's counter (user_seq), read from the database."""
    from server.storage.database import connect as connect_database

    db = await connect_database(database_url, readers=1, pool_size=1)
    try:
        chat_events = int(await db.fetchval("SELECT COUNT(*) FROM chat_events") or 0)
        user_events = int(await db.fetchval("SELECT COUNT(*) FROM user_events") or 0)
        rows = await db.fetch("SELECT user_id, last_seq, open_chat, open_seq, open_from FROM user_seq")
        counters = {r["user_id"]: (r["last_seq"], r["open_chat"], r["open_seq"], r["open_from"]) for r in rows}
        return chat_events, user_events, counters
    finally:
        await db.close()


async def post_messages(base: str, tokens: Tokens, chat_id: str, senders: list[Account], count: int) -> None:
    """`count` messages, one at a time (each its own transaction), from the senders in turn."""
    async with aiohttp.ClientSession(base, timeout=aiohttp.ClientTimeout(total=120)) as session:
        for i in range(count):
            sender = senders[i % len(senders)]
            body = {"client_id": str(uuid.uuid4()), "text": f"storage {i}"}
            headers = {"Authorization": f"Bearer {tokens(sender)}"}
            async with session.post(f"/api/chats/{chat_id}/messages", json=body, headers=headers) as resp:
                await _expect(resp, 201, "POST /api/chats/{id}/messages")


def rows_written(url: str, send: Any) -> tuple[float, float, float]:
    """(chat_events rows, user_events rows, user_seq rows changed) that `send()` caused."""
    before = asyncio.run(storage_state(url))
    sent = send()
    after = asyncio.run(storage_state(url))
    moved = sum(1 for user, state in after[2].items() if before[2].get(user) != state)
    return (after[0] - before[0]) / sent, (after[1] - before[1]) / sent, moved / sent


def _broadcast_part(run: _Run) -> None:
    """(d) channels: storage rows per message at each size, then 10,000 connections hearing the biggest."""
    args, watch, pool, tokens, base = run.args, run.watch, run.pool, run.tokens, run.base
    url = args.settings.database_url
    admins = run.accounts[1 : 1 + BROADCAST_ADMINS]
    channels: dict[int, str] = {}
    print("\n(d) broadcast groups (channels: the owner and 20 admins post, members read)")
    for size in BROADCAST_SIZES:
        started = time.monotonic()
        channels[size] = asyncio.run(make_channel(base, tokens, run.accounts[:size], BROADCAST_ADMINS))
        made = time.monotonic() - started

        def first(chat_id: str = channels[size]) -> int:
            asyncio.run(post_messages(base, tokens, chat_id, admins, 1))
            return 1

        def more(chat_id: str = channels[size]) -> int:
            asyncio.run(post_messages(base, tokens, chat_id, admins, STORAGE_SENDS))
            return STORAGE_SENDS

        opening = rows_written(url, first)
        steady = rows_written(url, more)
        print(
            f"    {size:>6,} members (made through the API in {made:.1f}s): a message writes {steady[0]:.1f}"
            f" chat_events rows, {steady[1]:.1f} user_events rows and changes {steady[2]:.1f} user_seq rows (mean of"
            f" {STORAGE_SENDS}, each its own transaction); its first message: {opening[0]:.0f}, {opening[1]:.0f} and"
            f" {opening[2]:,.0f}"
        )
        run.row[f"rows/msg at {size:,}"] = f"{steady[0]:.0f}+{steady[1]:.0f}+{steady[2]:.0f}"
    size = max(BROADCAST_SIZES)
    members = run.accounts[:size]
    seconds = connect(pool, tokens, members, "(d) channel")
    print(
        f"    {size:,} connections, one per member, opened and synced in {seconds:.1f}s; server RSS"
        f" {rss_kb(watch.pid) / 1024:.0f} MB"
    )
    interval = args.send_interval
    talkers = [(a.index, channels[size]) for a in run.accounts[: 1 + BROADCAST_ADMINS]]
    senders: Senders = [(index, chat_id, "closed", interval, random.uniform(0, interval)) for index, chat_id in talkers]
    wait_idle(watch)
    flat = measure(args, pool, watch, run.tmp, "broadcast-flat-out", next(run.runs), size, senders)
    print_scenario(f"    flat out ({len(talkers)} admins, each sending again when acknowledged)", flat)
    gap = len(talkers) / BROADCAST_RATE
    senders = [(index, chat_id, "open", gap, random.uniform(0, gap)) for index, chat_id in talkers]
    wait_idle(watch)
    fixed = measure(args, pool, watch, run.tmp, "broadcast-fixed", next(run.runs), size, senders)
    print_scenario(
        f"    fixed rate: {BROADCAST_RATE:g} messages/s ({BROADCAST_RATE * size:,.0f} deliveries/s offered)", fixed
    )
    pool.ask_all({"cmd": "close"})
    run.row["channel deliveries/s flat out"] = f"{flat.deliveries:,.0f} (p99 {flat.p99:.0f} ms)"
    run.row[f"channel p50 / p99 at {BROADCAST_RATE * size:,.0f}/s"] = f"{fixed.p50:.0f} / {fixed.p99:.0f} ms"
    run.row["channel server cores"] = f"{flat.server_cores:.2f} / {fixed.server_cores:.2f}"


def _latencies(steps: list[tuple[float, Scenario]], fanout: int) -> str:
    return "; ".join(f"{s.p50:.0f} / {s.p99:.0f} ms at {rate * fanout:,.0f}/s" for rate, s in steps)


def _delivery_target(
    name: str,
    flat_out: Scenario,
    steps: list[tuple[float, Scenario]],
    fanout: int,
    target: float = TARGET_DELIVERIES,
    p99_ms: float = TARGET_P99_MS,
) -> tuple[bool, str, str]:
    """>= `target` deliveries/s with p99 <= `p99_ms`: met if the open-loop step at the target's rate kept up
    (every send acknowledged in time, nothing lost) with that p99."""
    rate, first = steps[0]
    at_target = rate * fanout >= 0.999 * target
    kept_up = first.persisted >= 0.95 * rate and not first.problems()
    ok = at_target and kept_up and first.deliveries >= 0.95 * target and first.p99 <= p99_ms
    if at_target:
        measured = f"{first.deliveries:,.0f}/s, p99 {first.p99:.0f} ms"
    else:
        measured = f"flat out {flat_out.deliveries:,.0f}/s, below the target"
    return ok, f"{name} at {target:,.0f} deliveries/s, p99 <= {p99_ms:g} ms", measured


if __name__ == "__main__":
    sys.exit(main())
