"""Chat fan-out of one server process against two (WORKERS=2), on PostgreSQL and Redis, on loopback.

For each setup it starts the real server (`python run.py`) on a fresh PostgreSQL database, connects the members of
a --members group (one WebSocket each; with two workers the kernel spreads them over both), and measures, with
bench/chat.py's load generator and its measure step, flat out (each of --in-flight senders sends again when its
last send is acknowledged): deliveries per second (`message.new` frames received over all connections),
send-to-receive p50/p99, and the CPU of the server's processes, the generator and the whole machine.

The setups, in this order:
  1 process,  in-process broker  (REDIS_URL unset: today's single process, the baseline)
  1 process,  Redis broker       (the same fan-out path two processes take: every event through Redis)
  2 processes, Redis broker      (WORKERS=2)

    .venv/bin/python bench/processes.py [--duration 10] [--members 1000] [--in-flight 200]
        [--database-url postgresql://postgres@127.0.0.1:5432/test] [--redis-url redis://127.0.0.1:6379/0]

200 senders by default: each user may send 30 messages per 10 s (the server's send limit), so 40 senders (chat.py's
flat-out step) would cap a 1,000-member group at about 116,000 deliveries/s whatever the server could do.

On a 2-core machine everything shares two cores: the server's processes, PostgreSQL, Redis and the load
generator; the script prints each one's share, so read the figures with that in mind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import secrets
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
for _path in (str(REPO_ROOT), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import chat  # noqa: E402 - after the path is set
from ingest import BenchError, _busy_now, _revision, create_admin, fresh_postgres, run_and_report_noise  # noqa: E402

from tests.e2e.server_process import HOST, free_port, running_server, wait_for_http  # noqa: E402

SETUPS = (("1 process, in-process broker", 1, False), ("1 process, Redis", 1, True), ("2 processes, Redis", 2, True))


class TreeWatch:
    """CPU of a process and its children (the supervisor and its workers), as bench/chat.py's ProcessWatch."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def pids(self) -> list[int]:
        found = [self.pid]
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError), open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == self.pid:
                        found.append(int(entry))
        return found

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in self.pids():
            with contextlib.suppress(OSError, IndexError, ValueError):
                with open(f"/proc/{pid}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total


def _metrics_sum(bases: list[str], pattern: str) -> float:
    total = 0.0
    for base in bases:
        with urllib.request.urlopen(base + "/metrics", timeout=30) as resp:  # noqa: S310 - our own http:// URL
            found = re.search(pattern, resp.read().decode(), re.M)
        total += float(found.group(1)) if found else 0.0
    return total


def _writer_stats_of(bases: list[str]) -> Any:
    def stats(_: str) -> tuple[float, float]:
        return tuple(  # type: ignore[return-value]
            _metrics_sum(bases, rf'^batch_writer_{name}\{{writer="messages"\}} ([\d.e+]+)')
            for name in ("batches", "rows")
        )

    return stats


def _per_worker_sockets(bases: list[str]) -> list[int]:
    return [int(_metrics_sum([base], r"^websocket_connections(?:\{\})? ([\d.e+]+)")) for base in bases]


@contextlib.contextmanager
def _server(args: argparse.Namespace, workers: int, redis: bool, tmp: Path) -> Iterator[dict[str, Any]]:
    env = {"LOG_LEVEL": "WARNING"}
    with contextlib.ExitStack() as stack:
        env["DATABASE_URL"] = stack.enter_context(fresh_postgres(args.database_url))
        data_dir = tmp / "server" / "data"
        create_admin(data_dir, env, secrets.token_urlsafe(18))  # migrates, and makes the development secrets
        settings = chat.server_settings(data_dir, env)
        accounts = asyncio.run(chat.make_accounts(settings, args.members))
        tokens = chat.Tokens(settings)
        metrics = free_port()
        env["METRICS_PORT"] = str(metrics)
        if redis:
            env["REDIS_URL"] = args.redis_url
        if workers > 1:
            env["WORKERS"] = str(workers)
        server = stack.enter_context(running_server(tmp / "server", env=env))
        bases = [f"http://{HOST}:{metrics + n}" for n in range(workers)]
        for base in bases:  # each worker's metrics listener answers once that worker serves
            if wait_for_http(base + "/metrics", 60, server.proc) is None:
                raise BenchError(f"a worker did not start: {server.log_tail()}")
        chats = asyncio.run(chat.make_chats(server.url, tokens, accounts, []))
        generators = []
        for number in range(args.generators):
            generator = chat.Worker(number, server.port, tmp / f"generator-{number}.log")
            stack.callback(generator.stop)
            generators.append(generator)
        yield {
            "server": server,
            "watch": TreeWatch(server.proc.pid),
            "pool": chat.Pool(generators),
            "tokens": tokens,
            "chats": chats,
            "bases": bases,
            "settings": settings,
        }


def _measure(args: argparse.Namespace, name: str, workers: int, redis: bool, run: int) -> chat.Scenario:
    with tempfile.TemporaryDirectory(prefix="bench-processes-") as tmp, _server(args, workers, redis, Path(tmp)) as s:
        pool, chats, watch = s["pool"], s["chats"], s["watch"]
        chat.connect(pool, s["tokens"], chats.group, name)
        spread = _per_worker_sockets(s["bases"])
        limit = getattr(s["settings"], "rate_chat_send", None) or chat._default_send_limit()
        interval = limit.seconds / limit.count * 1.03
        talkers = chat.spread([(m.index, chats.group_id) for m in chats.group], args.in_flight)
        senders = [(index, chat_id, "closed", interval, random.uniform(0, interval)) for index, chat_id in talkers]
        chat.writer_stats = _writer_stats_of(s["bases"])  # every worker's message writer, not the first one's
        args.metrics_base = s["bases"][0]
        chat.wait_idle(watch)  # type: ignore[arg-type]
        scenario = chat.measure(args, pool, watch, Path(tmp), name, run, len(chats.group), senders)  # type: ignore[arg-type]
        print(f"\n{name}: sockets per worker {spread}")
        chat.print_scenario("    flat out", scenario)
        pool.ask_all({"cmd": "close"})
        return scenario


def _run(args: argparse.Namespace) -> int:
    chat._raise_open_files()
    print(
        f"processes benchmark: PostgreSQL + Redis, a group of {args.members:,}, {args.in_flight} senders flat out,"
        f" {args.duration}s windows, {os.cpu_count()} CPUs; code {_revision()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    busy, stolen = _busy_now()
    print(f"machine before start: {busy:.2f} of {os.cpu_count()} cores busy, {stolen:.0%} CPU steal")
    results = [
        (name, _measure(args, name, workers, redis, run))
        for run, (name, workers, redis) in enumerate(SETUPS, start=1)
        if workers <= args.max_workers
    ]
    print("\n| setup | deliveries/s | p50 / p99 ms | server CPU | generator CPU | machine CPU |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, s in results:
        print(
            f"| {name} | {s.deliveries:,.0f} | {s.p50:.0f} / {s.p99:.0f} | {s.server_cores:.2f} |"
            f" {s.generator_cores:.2f} | {s.machine_cores:.2f} of {os.cpu_count()} |"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured window (default 10)")
    parser.add_argument("--members", type=int, default=chat.GROUP_MEMBERS, help="group members, one socket each")
    parser.add_argument(
        "--in-flight", type=int, default=200, help="members sending flat out (default 200: above what one server takes)"
    )
    parser.add_argument("--generators", type=int, default=1, help="load-generator processes (default 1)")
    parser.add_argument("--max-workers", type=int, default=2, help="skip setups with more server processes")
    args = parser.parse_args()
    args.py_spy, args.profile_dir, args.database = None, Path(tempfile.gettempdir()), "postgresql"
    return run_and_report_noise(_run, args)


if __name__ == "__main__":
    sys.exit(main())
