"""WORKERS: several processes need PostgreSQL and Redis, and say so clearly when either is missing; the supervisor
spreads connections over its workers, starts one that dies again, replaces them one at a time on SIGHUP without
refusing a connection, and stops them all on SIGTERM."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.config import ConfigError, Settings
from tests.e2e.server_process import REPO_ROOT, free_port, server_env, stop_process

PG = "postgresql://app@127.0.0.1/app"
REDIS = "redis://127.0.0.1:6379/0"


def test_one_worker_by_default(tmp_path: Path) -> None:
    assert Settings.from_env({"DATA_DIR": str(tmp_path)}).workers == 1


def test_several_workers_on_postgresql_and_redis(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path), "WORKERS": "4", "DATABASE_URL": PG, "REDIS_URL": REDIS}
    assert Settings.from_env(env).workers == 4


@pytest.mark.parametrize(
    "env",
    [
        {"WORKERS": "2"},  # SQLite, no Redis
        {"WORKERS": "2", "REDIS_URL": REDIS},  # SQLite: one writer per file
        {"WORKERS": "2", "DATABASE_URL": PG},  # no Redis: no shared fan-out or presence
    ],
)
def test_several_workers_without_postgresql_or_redis_are_refused(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="WORKERS=2 needs DATABASE_URL=postgresql"):
        Settings.from_env({"DATA_DIR": str(tmp_path), **env})


def test_workers_and_metrics_ports_must_fit(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path), "WORKERS": "3", "DATABASE_URL": PG, "REDIS_URL": REDIS, "METRICS_PORT": "65534"}
    with pytest.raises(ConfigError, match="METRICS_PORT \\+ WORKERS - 1 must be at most 65535"):
        Settings.from_env(env)


@pytest.mark.parametrize("value", ["0", "65", "two"])
def test_workers_is_a_small_positive_number(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="WORKERS"):
        Settings.from_env({"DATA_DIR": str(tmp_path), "WORKERS": value})


def test_run_py_refuses_several_workers_on_sqlite_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "run.py"],
        cwd=REPO_ROOT,
        env=server_env(tmp_path, 0, {"WORKERS": "2"}),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert b"configuration error: WORKERS=2 needs DATABASE_URL=postgresql://... and REDIS_URL" in done.stderr


# -- the supervisor, with stand-in workers (tests/ops/supervised.py) ----------------------------------------


@pytest.fixture(name="supervisor")
def supervisor_fixture(tmp_path: Path) -> Iterator[Supervised]:
    port = free_port()
    log = tmp_path / "supervisor.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("supervised.py")), str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    supervised = Supervised(proc, port, log)
    try:
        supervised.wait_for_log("all 2 workers serving")
        yield supervised
    finally:
        stop_process(proc)


class Supervised:
    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.proc = proc
        self.port = port
        self.log = log

    def wait_for_log(self, text: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log.read_text(errors="replace"):
            assert time.monotonic() < deadline, self.log.read_text(errors="replace")
            assert self.proc.poll() is None, self.log.read_text(errors="replace")
            time.sleep(0.05)

    def ask(self) -> str:
        """The name (index/pid) of the worker a new connection lands on."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", "/", headers={"Connection": "close"})
            return conn.getresponse().getheader("X-Worker") or ""
        finally:
            conn.close()

    def names(self, count: int = 40) -> set[str]:
        return {self.ask() for _ in range(count)}


def test_the_kernel_spreads_connections_over_both_workers(supervisor: Supervised) -> None:
    assert {name.split("/")[0] for name in supervisor.names()} == {"0", "1"}


def test_a_worker_that_dies_is_started_again(supervisor: Supervised) -> None:
    first = {name.split("/")[0]: name for name in supervisor.names()}
    os.kill(int(first["0"].split("/")[1]), signal.SIGKILL)
    deadline = time.monotonic() + 15
    while True:
        now = {name.split("/")[0]: name for name in supervisor.names(20)}
        if now.get("0", first["0"]) != first["0"]:
            break
        assert time.monotonic() < deadline, supervisor.log.read_text()
        time.sleep(0.1)
    assert now["1"] == first["1"]  # the other one was left alone


def test_sighup_replaces_the_workers_one_at_a_time_and_refuses_no_connection(supervisor: Supervised) -> None:
    before = supervisor.names()
    failures: list[str] = []
    answered: set[str] = set()
    done = threading.Event()

    def client() -> None:
        while not done.is_set():
            try:
                answered.add(supervisor.ask())
            except OSError as exc:
                failures.append(repr(exc))

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    try:
        supervisor.proc.send_signal(signal.SIGHUP)
        supervisor.wait_for_log("rolling restart done")
    finally:
        done.set()
        for thread in clients:
            thread.join()
    after = supervisor.names()
    assert not failures
    assert not before & after
    assert {name.split("/")[0] for name in after} == {"0", "1"}
    assert answered & before  # served by the old workers while they drained...
    assert answered & after  # ...and by the new ones


def test_sigterm_stops_every_worker_then_the_supervisor(supervisor: Supervised) -> None:
    pids = [int(name.split("/")[1]) for name in supervisor.names()]
    supervisor.proc.send_signal(signal.SIGTERM)
    assert supervisor.proc.wait(timeout=15) == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
