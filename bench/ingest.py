"""Ingestion benchmark: starts the real server (`python run.py`) and measures, in one run,

  (a) a bare aiohttp hello-world on uvloop (bench/hello.py, one process): requests/s under wrk;
  (b) single-point `POST /update` (form body, key in it), each acknowledged after its commit: requests/s and
      p50/p99 latency with wrk at --connections keep-alive connections;
  (c) bulk points/s through `POST /channels/{id}/bulk_update.json`, 14,400 points a call, a few callers;
  (d) the storage path alone, in this process with no server: `write_feeds` on a fresh database of the same
      backend, one transaction per 14,400 points: the most (c) could reach if HTTP and parsing were free;
  and the server's peak memory (VmRSS sampled from /proc/<pid>/status all run long, and VmHWM at the end).

    .venv/bin/python bench/ingest.py [--database sqlite|postgresql] [--duration 10] [--connections 64]

wrk runs as `wrk -t1 -c64 -d<dur>s --latency`, so on 2 cores the client takes one and the server the other.
The account is made with `python -m server create-admin` before the server starts, then everything else
(login, the user's API key, channels) goes through the real HTTP API before any timing. It prints the
figures, the ratios and PASS/MISS per target; a missed target does not make it fail (exit 0). It exits 1 if it
could not measure (a non-2xx answer, a socket error or a wrong answer is a bug, not load; a server or database
that did not start), 2 if wrk is missing. `--py-spy PATH` also profiles the server during (b) and (c).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import re
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import orjson

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.e2e.server_process import HOST, free_port, running_server, stop_process, wait_for_http  # noqa: E402

BULK_POINTS = 14_400  # ThingSpeak's limit for one bulk update
BULK_PAYLOADS = 16  # distinct time ranges kept in memory; each channel gets each one once
BULK_CEILING = 1_500_000  # points/s the bulk phase is provisioned for (channels are made before timing)
WARMUP_SECONDS = 3
EMAIL = "bench-admin@example.test"

# Targets (the request ones set for SQLite, shown for both).
TARGET_RATIO = 0.5
TARGET_P99_MS = 25.0
TARGET_BULK = 200_000  # on PostgreSQL (COPY)
TARGET_STORAGE_RATIO = 0.8  # on SQLite: the storage path against plain sqlite3 executemany of the same rows
TARGET_RSS_MB = 200.0


class BenchError(Exception):
    """The benchmark could not measure: a failed request, a missing tool, a server that did not start."""


# -- wrk ----------------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    rps: float
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    percentiles: dict[str, float]
    non_2xx: int
    socket_errors: dict[str, int]
    output: str

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _ms(number: str, unit: str) -> float:
    return float(number) * _UNITS_MS[unit]


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", output, re.M)
    percentiles = {p: _ms(n, u) for p, n, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.M)}
    if rps is None or total is None or "50" not in percentiles or "99" not in percentiles:
        raise BenchError(f"cannot read wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    socket_errors = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, sockets.groups()), strict=True)) if sockets else {}
    )
    return WrkResult(
        rps=float(rps.group(1)),
        requests=int(total.group(1)),
        seconds=_ms(total.group(2), total.group(3)) / 1000,
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        percentiles=percentiles,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors={k: v for k, v in socket_errors.items() if v},
        output=output,
    )


def lua_post(body: str) -> str:
    """A wrk script that POSTs the same form body on every request (static: no per-request Lua cost)."""
    return (
        'wrk.method = "POST"\n'
        f"wrk.body = {_lua_string(body)}\n"
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
    )


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_wrk(url: str, script: Path, seconds: int, connections: int) -> WrkResult:
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk did not finish within {seconds + 30}s") from exc
    if done.returncode != 0:
        raise BenchError(f"wrk exited with {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    return parse_wrk(done.stdout)


# -- the server process: memory and CPU ---------------------------------------------------------------


class ProcessWatch(threading.Thread):
    """Samples a process's VmRSS every `interval` seconds; reads VmHWM (the kernel's own peak) at the end."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True, name=f"watch-{pid}")
        self.pid = pid
        self.interval = interval
        self.peak_rss_kb = 0
        self.hwm_kb = 0
        self._halt = threading.Event()

    def _status(self) -> dict[str, int]:
        values: dict[str, int] = {}
        try:
            with open(f"/proc/{self.pid}/status") as fh:
                for line in fh:
                    if line.startswith(("VmRSS:", "VmHWM:")):
                        name, value = line.split(":", 1)
                        values[name] = int(value.split()[0])
        except (OSError, ValueError):
            pass
        return values

    def sample(self) -> None:
        values = self._status()
        self.peak_rss_kb = max(self.peak_rss_kb, values.get("VmRSS", 0))
        self.hwm_kb = max(self.hwm_kb, values.get("VmHWM", 0))

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def finish(self) -> None:
        self.sample()
        self._halt.set()
        if self.ident is not None:
            self.join(timeout=2)

    @property
    def peak_mb(self) -> float:
        return max(self.peak_rss_kb, self.hwm_kb) / 1024

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far."""
        return self._cpu(f"/proc/{self.pid}/stat")

    def loop_cpu_seconds(self) -> float:
        """User + system CPU time of the process's main thread (the event loop's) so far; the rest of
        `cpu_seconds` is its other threads' (SQLite's, the thread pools')."""
        return self._cpu(f"/proc/{self.pid}/task/{self.pid}/stat")

    @staticmethod
    def _cpu(path: str) -> float:
        try:
            with open(path) as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def hello_server() -> Iterator[tuple[str, ProcessWatch]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "bench" / "hello.py"), str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    watch = ProcessWatch(proc.pid)
    try:
        url = f"http://{HOST}:{port}"
        if wait_for_http(url + "/", 15, proc) is None:
            raise BenchError(f"hello server did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
        watch.start()
        yield url, watch
    finally:
        try:
            watch.finish()
        finally:
            stop_process(proc)
            if proc.stderr:
                proc.stderr.close()


# -- PostgreSQL: a fresh database per run ---------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@contextlib.contextmanager
def fresh_postgres(admin_url: str) -> Iterator[str]:
    """CREATE DATABASE bench_<random> through `admin_url`, yield its URL, DROP it afterwards."""
    import asyncpg  # the server's own driver, so it is in the venv

    if urlsplit(admin_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise BenchError("--database-url must point at a loopback address")
    name = f"bench_{secrets.token_hex(4)}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin_url, timeout=10)
        try:
            await conn.execute(sql, timeout=60)
        finally:
            await conn.close(timeout=10)

    try:
        asyncio.run(run(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        raise BenchError(f"cannot create a database through {admin_url}: {exc}") from exc
    try:
        yield _with_database(admin_url, name)
    finally:
        try:
            asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except (OSError, asyncpg.PostgresError) as exc:
            print(f"warning: could not drop database {name}: {exc}", file=sys.stderr)


# -- setup through the real API ---------------------------------------------------------------------


def create_admin(data_dir: Path, env: dict[str, str], password: str) -> None:
    """`python -m server create-admin` against the DATA_DIR / DATABASE_URL the server will use."""
    child = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "MQTT_URL")}
    child.update({"DATA_DIR": str(data_dir), "APP_ENV": "development", "LOG_LEVEL": "WARNING"})
    child.update(env)
    child["ADMIN_PASSWORD"] = password
    done = subprocess.run(
        [sys.executable, "-m", "server", "create-admin", "--email", EMAIL, "--name", "Bench"],
        cwd=REPO_ROOT,
        env=child,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"create-admin failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")


@dataclass
class Setup:
    user_key: str
    update_channel: tuple[int, str]  # (id, write key)
    bulk_channels: list[list[tuple[int, str]]] = field(default_factory=list)  # per caller


async def _expect(resp: aiohttp.ClientResponse, status: int, what: str) -> dict:
    if resp.status != status:
        raise BenchError(f"{what}: HTTP {resp.status}: {(await resp.text())[:300]}")
    return await resp.json()


async def set_up(base: str, password: str, callers: int, per_caller: int) -> Setup:
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(base, timeout=timeout) as session:
        async with session.post("/api/auth/login", json={"email": EMAIL, "password": password}) as resp:
            grant = await _expect(resp, 200, "login")
        bearer = {"Authorization": f"Bearer {grant['access_token']}"}
        async with session.get("/api/me/api-key", headers=bearer) as resp:
            user_key = (await _expect(resp, 200, "GET /api/me/api-key"))["api_key"]

        async def channel(name: str) -> tuple[int, str]:
            body = {
                "api_key": user_key,
                "name": name,
                "field1": "temperature",
                "field2": "humidity",
                "field3": "pressure",
            }
            async with session.post("/channels.json", json=body) as resp:
                made = await _expect(resp, 200, "POST /channels.json")
            return int(made["id"]), next(k["api_key"] for k in made["api_keys"] if k["write_flag"])

        setup = Setup(user_key, await channel("bench update"))
        for c in range(callers):
            setup.bulk_channels.append([await channel(f"bench bulk {c}.{n}") for n in range(per_caller)])
        return setup


async def last_entry_id(base: str, channel_id: int, user_key: str) -> int:
    async with (
        aiohttp.ClientSession(base, timeout=aiohttp.ClientTimeout(total=30)) as session,
        session.get(f"/channels/{channel_id}.json", params={"api_key": user_key}) as resp,
    ):
        return int((await _expect(resp, 200, f"GET /channels/{channel_id}.json"))["last_entry_id"] or 0)


async def writer_stats(base: str) -> dict[str, float]:
    async with (
        aiohttp.ClientSession(base, timeout=aiohttp.ClientTimeout(total=30)) as session,
        session.get("/metrics") as resp,
    ):
        text = await resp.text()
    stats = {}
    for name in ("batches", "rows", "commit_seconds"):
        found = re.search(rf'^batch_writer_{name}\{{writer="feeds"\}} ([\d.e+]+)', text, re.M)
        stats[name] = float(found.group(1)) if found else 0.0
    return stats


# -- (c) bulk ---------------------------------------------------------------------------------------


def bulk_updates(index: int) -> bytes:
    """The `updates` array of one bulk call: BULK_POINTS points, one second apart, in the index-th time range."""
    start = datetime(2020, 1, 1, tzinfo=UTC).timestamp() + index * BULK_POINTS
    updates = [
        {
            "created_at": datetime.fromtimestamp(start + i, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "field1": round(20 + (i % 100) / 10, 1),
            "field2": round(40 + (i % 37) / 2, 1),
            "field3": 1000 + i % 30,
        }
        for i in range(BULK_POINTS)
    ]
    return orjson.dumps(updates)


@dataclass
class BulkResult:
    points: int
    calls: int
    seconds: float
    exhausted: bool
    call_ms: list[float]
    server_cpu: float  # seconds of server CPU during the timed part

    @property
    def points_per_second(self) -> float:
        return self.points / self.seconds if self.seconds else 0.0


async def bulk_phase(
    base: str, channels: list[list[tuple[int, str]]], payloads: list[bytes], seconds: float, cpu: Callable[[], float]
) -> BulkResult:
    """Each caller posts one call after another on its own channels: channel j // P gets payload j % P,
    so no channel sees a time twice. One untimed call per caller warms up first."""
    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=len(channels))
    counts = {"points": 0, "calls": 0}
    call_ms: list[float] = []
    exhausted = False

    async with aiohttp.ClientSession(base, timeout=timeout, connector=connector) as session:

        async def call(channel: tuple[int, str], payload: bytes) -> None:
            body = b'{"write_api_key":"' + channel[1].encode() + b'","updates":' + payload + b"}"
            async with session.post(
                f"/channels/{channel[0]}/bulk_update.json", data=body, headers={"Content-Type": "application/json"}
            ) as resp:
                answer = await _expect(resp, 202, "bulk_update.json")
            if answer.get("count") != BULK_POINTS or not answer.get("success"):
                raise BenchError(f"bulk_update.json answered {answer}")

        jobs = [iter([(ch, payloads[j]) for ch in mine for j in range(len(payloads))]) for mine in channels]
        await asyncio.gather(*(call(*next(job)) for job in jobs))  # warm-up, untimed

        deadline = time.monotonic() + seconds

        async def caller(job: Iterator[tuple[tuple[int, str], bytes]]) -> None:
            nonlocal exhausted
            while time.monotonic() < deadline:
                work = next(job, None)
                if work is None:
                    exhausted = True
                    return
                started = time.monotonic()
                await call(*work)
                call_ms.append((time.monotonic() - started) * 1000)
                counts["points"] += BULK_POINTS
                counts["calls"] += 1

        started, cpu0 = time.monotonic(), cpu()
        await asyncio.gather(*(caller(job) for job in jobs))
        elapsed, used = time.monotonic() - started, cpu() - cpu0
    return BulkResult(counts["points"], counts["calls"], elapsed, exhausted, call_ms, used)


@dataclass
class StorageResult:
    points: int
    seconds: float
    plain_points: int = 0  # SQLite only: the same rows through plain sqlite3 executemany
    plain_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.points / self.seconds if self.seconds else 0.0

    @property
    def plain_rate(self) -> float:
        return self.plain_points / self.plain_seconds if self.plain_seconds else 0.0


async def _bench_channel(url: str) -> tuple[Any, int]:
    """A fresh migrated database with one user and one channel; returns (database, channel id)."""
    from server.storage.database import connect
    from server.storage.migrations import migrate

    db = await connect(url)
    await migrate(db)
    now = time.time()
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO users (id, email_index, email, display_name, password_hash, created_at, updated_at)"
            " VALUES ('bench', $1, $1, $1, 'x', $2, $2)",
            b"bench",
            now,
        )
        channel_id = await tx.fetchval(
            "INSERT INTO channels (owner_id, name, created_at, updated_at) VALUES ('bench', 'bench', $1, $1)"
            " RETURNING id",
            now,
        )
    return db, int(channel_id)


def _call_points(call: int) -> list[Any]:
    from server.storage.channels import Point

    start = datetime(2020, 1, 1, tzinfo=UTC).timestamp() + call * BULK_POINTS
    fields = [["20.5", "41.0", "1013", None, None, None, None, None] for _ in range(8)]
    return [Point(start + i, fields[i % 8]) for i in range(BULK_POINTS)]


async def storage_phase(url: str, seconds: float, plain_url: str | None) -> StorageResult:
    """(d) The storage path alone, in this process with no server: `write_feeds` through the batch writer's
    one-step transaction, one per BULK_POINTS points (the work of one bulk call), each call's Points built
    untimed just before it. It is the ceiling (c) could reach if HTTP and parsing cost nothing.
    (e) With `plain_url` (SQLite): the same rows, as write_feeds would make them, written by plain sqlite3
    `executemany` into the same table of another fresh database with the server's pragmas, one transaction per
    call, rows built untimed. The two take turns, half a second at a time, so drift in the machine's speed
    falls on both alike."""
    import sqlite3

    from server.storage.channels import FEED_COLUMNS, FeedWrite, as_number, write_feeds
    from server.storage.sqlite import _PRAGMAS

    result = StorageResult(0, 0.0)
    db, channel_id = await _bench_channel(url)
    raw = None
    if plain_url is not None:
        plain_db, plain_channel = await _bench_channel(plain_url)
        await plain_db.close()
        raw = sqlite3.connect(plain_url.removeprefix("sqlite:///"), isolation_level=None)
        for pragma in _PRAGMAS:
            raw.execute(pragma)
        insert = f"INSERT INTO feeds ({', '.join(FEED_COLUMNS)}) VALUES ({', '.join('?' * len(FEED_COLUMNS))})"
    try:
        calls = plain_calls = 0
        entry = 1
        while result.seconds + result.plain_seconds < seconds * (2 if raw is not None else 1):
            turn_end = time.monotonic() + 0.5
            while time.monotonic() < turn_end:
                points = _call_points(calls)
                calls += 1
                started = time.perf_counter()
                await db.run_transaction(lambda tx, p=points: write_feeds(tx, [FeedWrite(channel_id, p)]))
                result.seconds += time.perf_counter() - started
                result.points += len(points)
            if raw is None:
                continue
            turn_end = time.monotonic() + 0.5
            while time.monotonic() < turn_end:
                rows = []
                for point in _call_points(plain_calls):
                    rows.append(
                        (
                            plain_channel,
                            entry,
                            point.created_at,
                            *point.fields,
                            *(as_number(v) for v in point.fields),
                            None,
                            None,
                            None,
                            None,
                        )
                    )
                    entry += 1
                plain_calls += 1
                started = time.perf_counter()
                raw.execute("BEGIN IMMEDIATE")
                raw.executemany(insert, rows)
                raw.execute("COMMIT")
                result.plain_seconds += time.perf_counter() - started
                result.plain_points += len(rows)
        return result
    finally:
        await db.close()
        if raw is not None:
            raw.close()


# -- optional profile of the server (py-spy) -----------------------------------------------------------


@contextlib.contextmanager
def profiled(py_spy: str | None, pid: int, seconds: int, out: Path | None) -> Iterator[None]:
    """Sample the server with py-spy while the block runs, then print where its time went."""
    if py_spy is None or out is None:
        yield
        return
    command = [py_spy, "record", "-p", str(pid), "-f", "raw", "-o", str(out), "-d", str(seconds + 2)]
    command += ["-r", "250", "-t", "--nolineno", "--nonblocking"]
    spy = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)  # py-spy attaches
    try:
        yield
    finally:
        try:
            _, errors = spy.communicate(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            spy.kill()
            _, errors = spy.communicate()
        if spy.returncode != 0:
            print(f"    py-spy failed ({spy.returncode}): {errors.decode(errors='replace').strip()[:500]}")
    print_profile(out)


def print_profile(path: Path, top: int = 15) -> None:
    """Top functions by own (self) and inclusive samples, per thread, from py-spy's raw (collapsed) output."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        print(f"    (no profile written to {path})")
        return
    threads: dict[str, int] = {}
    own: dict[tuple[str, str], int] = {}
    inclusive: dict[tuple[str, str], int] = {}
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        thread, *frames = stack.split(";")
        threads[thread] = threads.get(thread, 0) + count
        if frames:
            own[thread, frames[-1]] = own.get((thread, frames[-1]), 0) + count
        for frame in set(frames):
            inclusive[thread, frame] = inclusive.get((thread, frame), 0) + count
    total = sum(threads.values()) or 1
    print(f"    profile {path} ({total} samples while busy):")
    for thread, samples in sorted(threads.items(), key=lambda kv: -kv[1]):
        if samples < total * 0.02:
            continue
        print(f"      {thread}: {samples / total:.0%} of samples")
        for title, table in (("own", own), ("inclusive", inclusive)):
            rows = sorted(((n, f) for (t, f), n in table.items() if t == thread), reverse=True)[:top]
            print(f"        top {title}:")
            for n, frame in rows:
                print(f"          {n / total:6.1%}  {frame}")


# -- the run ----------------------------------------------------------------------------------------


def _pass(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _check_wrk(name: str, result: WrkResult) -> None:
    if result.errors:
        raise BenchError(
            f"{name}: {result.non_2xx} non-2xx answers, socket errors {result.socket_errors or 'none'} "
            f"(a 401/429 or an error here is a bug, not load)\n{result.output}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured phase (default 10)")
    parser.add_argument("--log-level", default="INFO", help="the server's LOG_LEVEL (default INFO, as in production)")
    parser.add_argument("--connections", type=int, default=64, help="wrk keep-alive connections (default 64)")
    parser.add_argument("--bulk-callers", type=int, default=4, help="concurrent bulk callers (default 4)")
    parser.add_argument("--batch-max-rows", type=int, help="BATCH_MAX_ROWS for the server (default: its own)")
    parser.add_argument("--batch-max-delay-ms", type=float, help="BATCH_MAX_DELAY_MS for the server")
    parser.add_argument(
        "--py-spy",
        metavar="PATH",
        help="a py-spy binary: profile the server during (b) and (c) and print top functions",
    )
    parser.add_argument("--profile-dir", type=Path, default=Path(tempfile.gettempdir()), help="where profiles go")
    args = parser.parse_args(argv)
    if not 1 <= args.duration <= 600 or not 1 <= args.connections <= 10_000 or not 1 <= args.bulk_callers <= 64:
        parser.error("--duration 1..600, --connections 1..10000, --bulk-callers 1..64")
    if shutil.which("wrk") is None:
        print("wrk is not installed: install it with `apt-get install -y wrk` (Debian) and run again", file=sys.stderr)
        return 2
    return run_and_report_noise(_run, args)


def run_and_report_noise(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a benchmark, then say how much else the machine did meanwhile (other processes, CPU steal): all of
    it competed for the same 2 cores. Returns the run's exit code, 1 if it could not measure."""
    machine0, own0, wall0, steal0 = _machine_cpu(), _own_cpu(), time.monotonic(), _steal()
    try:
        code = run(args)
    except BenchError as exc:
        print(f"\nBENCHMARK ERROR: {exc}", file=sys.stderr)
        return 1
    others = max(0.0, (_machine_cpu() - machine0) - (_own_cpu() - own0)) / (time.monotonic() - wall0)
    print(
        f"\nother processes used {others:.2f} cores on average during the run"
        + (" (includes the PostgreSQL server)" if args.database == "postgresql" else "")
        + ("; figures are lower than on an idle machine" if others > 0.1 else "")
    )
    steal1 = _steal()
    stolen = (steal1[0] - steal0[0]) / max(steal1[1] - steal0[1], 1e-9)
    print(
        f"CPU steal (the hypervisor running others on our cores): {stolen:.0%} of the run's CPU time"
        + ("; figures are lower than on a dedicated machine" if stolen > 0.05 else "")
    )
    return code


def _run(args: argparse.Namespace) -> int:
    # The server logs as in production (INFO: the access log included, device writes summarised), to a file.
    env = {"LOG_LEVEL": args.log_level}
    if args.batch_max_rows is not None:
        env["BATCH_MAX_ROWS"] = str(args.batch_max_rows)
    if args.batch_max_delay_ms is not None:
        env["BATCH_MAX_DELAY_MS"] = str(args.batch_max_delay_ms)
    duration, connections = args.duration, args.connections
    print(f"ingest benchmark: {args.database}, {duration}s per phase, wrk -t1 -c{connections}, {os.cpu_count()} CPUs")
    print(
        f"server batch settings: BATCH_MAX_ROWS={env.get('BATCH_MAX_ROWS', '1000 (default)')},"
        f" BATCH_MAX_DELAY_MS={env.get('BATCH_MAX_DELAY_MS', '2.0 (default)')}"
    )
    print(f"code: {_revision()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    busy, stolen = _busy_now()
    print(
        f"machine before start: {busy:.2f} of {os.cpu_count()} cores busy, {stolen:.0%} CPU steal"
        + (" (not idle!)" if busy > 0.2 or stolen > 0.05 else "")
    )
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        tmp_path = Path(tmp)
        script = tmp_path / "post.lua"
        form = "field1=23.5&field2=61.2&field3=1013"

        # (a) the baseline: hello world, same script shape, same load.
        script.write_text(lua_post(f"api_key=0123456789ABCDEF&{form}"))
        with hello_server() as (hello_url, hello_watch):
            run_wrk(hello_url + "/update", script, min(WARMUP_SECONDS, duration), connections)
            cpu0 = hello_watch.cpu_seconds()
            hello = run_wrk(hello_url + "/update", script, duration, connections)
            hello_cpu = hello_watch.cpu_seconds() - cpu0
        _check_wrk("hello", hello)
        print(
            f"\n(a) hello world:  {hello.rps:,.0f} req/s  p50 {hello.p50_ms:.2f} ms  p99 {hello.p99_ms:.2f} ms"
            f"  (server CPU {hello_cpu / hello.requests * 1e6:.0f} µs/request, {hello_cpu / hello.seconds:.2f} cores)"
        )

        with contextlib.ExitStack() as stack:
            if args.database == "postgresql":
                env["DATABASE_URL"] = stack.enter_context(fresh_postgres(args.database_url))
                args.storage_url = stack.enter_context(fresh_postgres(args.database_url))
            else:
                args.storage_url = f"sqlite:///{tmp_path / 'storage-alone.db'}"
            password = secrets.token_urlsafe(18)
            data_dir = tmp_path / "server" / "data"
            create_admin(data_dir, env, password)
            env["METRICS_PORT"] = str(free_port())  # GET /metrics is served on this listener only
            args.metrics_base = f"http://{HOST}:{env['METRICS_PORT']}"
            server = stack.enter_context(running_server(tmp_path / "server", env=env))
            watch = ProcessWatch(server.proc.pid)
            watch.start()
            stack.callback(watch.finish)  # runs before the server stops (reverse order)
            return _measure(args, server.url, watch, script, form, hello, password)


def _revision() -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown revision"
    return f"git {done.stdout.strip()}" if done.returncode == 0 else "not a git checkout"


def _machine_cpu() -> float:
    """CPU seconds every process on the machine has used so far (user, nice, system, irq, softirq)."""
    with open("/proc/stat") as fh:
        ticks = [int(v) for v in fh.readline().split()[1:]]
    return (ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]) / os.sysconf("SC_CLK_TCK")


def _steal() -> tuple[float, float]:
    """(stolen, total) CPU seconds so far: time the hypervisor gave our virtual CPUs to someone else."""
    with open("/proc/stat") as fh:
        ticks = [int(v) for v in fh.readline().split()[1:9]]
    return ticks[7] / os.sysconf("SC_CLK_TCK"), sum(ticks) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    """CPU seconds of this process and its waited-for children (wrk, the servers, create-admin, py-spy)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def _busy_now(seconds: float = 1.0) -> tuple[float, float]:
    """How many cores the machine keeps busy right now, and the share of CPU time stolen by the hypervisor."""
    before, steal = _machine_cpu(), _steal()
    time.sleep(seconds)
    after = _steal()
    return (_machine_cpu() - before) / seconds, (after[0] - steal[0]) / max(after[1] - steal[1], 1e-9)


def _profile_path(args: argparse.Namespace, phase: str) -> Path | None:
    return args.profile_dir / f"bench-ingest-{args.database}-{phase}.txt" if args.py_spy else None


def _measure(
    args: argparse.Namespace, base: str, watch: ProcessWatch, script: Path, form: str, hello: WrkResult, password: str
) -> int:
    duration, connections, callers = args.duration, args.connections, args.bulk_callers
    calls_per_caller = math.ceil(duration * BULK_CEILING / BULK_POINTS / callers) + 1
    per_caller = math.ceil(calls_per_caller / BULK_PAYLOADS)
    setup = asyncio.run(set_up(base, password, callers, per_caller))
    channel_id, write_key = setup.update_channel

    # (b) single-point /update, acknowledged after commit.
    script.write_text(lua_post(f"api_key={write_key}&{form}"))
    warm = run_wrk(base + "/update", script, min(WARMUP_SECONDS, duration), connections)
    _check_wrk("update warm-up", warm)
    before = asyncio.run(writer_stats(args.metrics_base))
    cpu0 = watch.cpu_seconds()
    with profiled(args.py_spy, watch.pid, duration, _profile_path(args, "update")):
        update = run_wrk(base + "/update", script, duration, connections)
    update_cpu = watch.cpu_seconds() - cpu0
    after = asyncio.run(writer_stats(args.metrics_base))
    _check_wrk("update", update)
    committed = asyncio.run(last_entry_id(base, channel_id, setup.user_key))
    acknowledged = warm.requests + update.requests
    if committed < acknowledged:
        raise BenchError(f"/update acknowledged {acknowledged} points but the channel holds {committed}")
    batches = after["batches"] - before["batches"]
    rows = after["rows"] - before["rows"]
    commit_ms = (after["commit_seconds"] - before["commit_seconds"]) * 1000 / batches if batches else 0.0
    print(
        f"(b) /update:       {update.rps:,.0f} req/s  p50 {update.p50_ms:.2f} ms  p99 {update.p99_ms:.2f} ms"
        f"  (server CPU {update_cpu / update.requests * 1e6:.0f} µs/request, {update_cpu / update.seconds:.2f} cores;"
        f" {rows / batches if batches else 0:.1f} rows/batch, {commit_ms:.2f} ms a commit;"
        f" {committed:,} committed >= {acknowledged:,} acknowledged)"
    )
    print("    latency " + ", ".join(f"p{p} {ms:.2f} ms" for p, ms in update.percentiles.items()))

    # (c) bulk: payloads made before timing.
    payloads = [bulk_updates(i) for i in range(BULK_PAYLOADS)]
    with profiled(args.py_spy, watch.pid, duration, _profile_path(args, "bulk")):
        bulk = asyncio.run(bulk_phase(base, setup.bulk_channels, payloads, duration, watch.cpu_seconds))
    del payloads
    call_ms = sorted(bulk.call_ms)
    median_call = call_ms[len(call_ms) // 2] if call_ms else 0.0
    print(
        f"(c) bulk:          {bulk.points_per_second:,.0f} points/s  ({bulk.calls} calls of {BULK_POINTS:,} by"
        f" {callers} callers in {bulk.seconds:.1f}s; median call {median_call:.0f} ms;"
        f" server CPU {bulk.server_cpu / max(bulk.points, 1) * 1e6:.1f} µs/point,"
        f" {bulk.server_cpu / bulk.seconds:.2f} cores)"
    )
    if bulk.exhausted:
        print(f"    note: a caller used up its {per_caller * BULK_PAYLOADS} prepared calls before the time was up")

    watch.finish()
    plain_url = args.storage_url.replace("storage-alone.db", "plain.db") if args.database == "sqlite" else None
    storage = asyncio.run(storage_phase(args.storage_url, duration, plain_url))
    storage_rate = storage.rate
    print(
        f"(d) storage alone: {storage_rate:,.0f} points/s  (write_feeds in this process, no server, no HTTP, no"
        f" parsing; {storage.points:,} points in {storage.seconds:.1f}s;"
        f" bulk reached {bulk.points_per_second / storage_rate:.0%} of it)"
    )
    storage_ratio = storage_rate / storage.plain_rate if storage.plain_rate else 0.0
    if plain_url is not None:
        print(
            f"(e) plain sqlite3: {storage.plain_rate:,.0f} points/s  (the same rows by executemany into the same"
            f" table, one transaction a call; {storage.plain_points:,} points in {storage.plain_seconds:.1f}s;"
            f" (d) is {storage_ratio:.2f} x (e))"
        )
    ratio = update.rps / hello.rps if hello.rps else 0.0
    peak = watch.peak_mb
    print(
        f"    server memory:   peak {peak:.0f} MB"
        f" (VmRSS sampled max {watch.peak_rss_kb / 1024:.0f} MB, VmHWM {watch.hwm_kb / 1024:.0f} MB)"
    )

    print(f"\nratio (b)/(a) requests/s: {ratio:.2f}")
    target = (
        "targets (set for SQLite)" if args.database == "sqlite" else "targets (set for SQLite; shown for reference)"
    )
    print(target + ":")
    targets = [
        (ratio >= TARGET_RATIO, f"/update req/s >= {TARGET_RATIO} x hello", f"{ratio:.2f}"),
        (update.p99_ms <= TARGET_P99_MS, f"/update p99 <= {TARGET_P99_MS:g} ms", f"{update.p99_ms:.2f} ms"),
        (peak <= TARGET_RSS_MB, f"peak RSS <= {TARGET_RSS_MB:g} MB", f"{peak:.0f} MB"),
    ]
    if args.database == "postgresql":  # bulk through COPY
        targets.append(
            (
                bulk.points_per_second >= TARGET_BULK,
                f"bulk >= {TARGET_BULK:,} points/s",
                f"{bulk.points_per_second:,.0f}",
            )
        )
    else:
        targets.append(
            (storage_ratio >= TARGET_STORAGE_RATIO, f"(d) >= {TARGET_STORAGE_RATIO} x (e)", f"{storage_ratio:.2f}")
        )
    for ok, what, measured in targets:
        print(f"  {_pass(ok)}  {what:<32} ({measured})")
    print("\n| database | hello req/s | /update req/s | ratio | p50 | p99 | bulk points/s | peak RSS |")
    print(
        f"| {args.database} | {hello.rps:,.0f} | {update.rps:,.0f} | {ratio:.2f} | {update.p50_ms:.2f} ms"
        f" | {update.p99_ms:.2f} ms | {bulk.points_per_second:,.0f} | {peak:.0f} MB |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
