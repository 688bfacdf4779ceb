"""Several server processes as one service (WORKERS=N): run.py becomes a small supervisor that binds the port,
starts N workers (each `python run.py` on its own event loop), restarts one that dies, forwards SIGTERM, and on
SIGHUP replaces them one at a time, each new one serving before the old one stops.

Why one socket per worker with SO_REUSEPORT, all bound here: the kernel spreads new connections evenly over the
workers (by a hash of the client's address and port; one shared socket would wake every worker for each
connection and let whichever runs first take it, which leaves long-lived WebSockets piled on one process); a
taken port is reported once, at start, before any worker runs; and a worker being replaced hands its socket to
the next one, so connections waiting in its accept queue are taken by the new worker instead of being reset (what
happens when a SO_REUSEPORT socket closes with connections queued, on Linux without `tcp_migrate_req`). N ports
behind Caddy's upstreams would do the same with more moving parts: a Caddyfile per N, health checks per port.

A worker finds its sockets in inherited file descriptors named by SERVER_WORKER (index, listening socket,
metrics socket or -, and a pipe it writes a line to once it serves), and names itself in an `X-Worker` response
header (`index/pid`), so a client (and a test) can tell the workers apart.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from server.config import Settings

log = logging.getLogger("server.workers")

WORKER_ENV = "SERVER_WORKER"
READY_TIMEOUT = 60.0  # seconds a new worker may take to open the database, migrate and serve
POLL_SECONDS = 0.2
QUICK_DEATH_SECONDS = 10.0  # a worker that dies younger than this is restarted after a growing pause
MAX_PAUSE_SECONDS = 30.0
RUN_PY = Path(__file__).resolve().parents[2] / "run.py"


def bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening socket; with `reuse_port`, one of a group that share (host, port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=2048, reuse_port=reuse_port)


def bind_all(settings: Settings) -> tuple[list[socket.socket], list[socket.socket | None]]:
    """Every worker's listening socket (the public port, shared) and metrics socket (METRICS_PORT + index)."""
    public: list[socket.socket] = []
    metrics: list[socket.socket | None] = []
    try:
        for index in range(settings.workers):
            public.append(bind(settings.host, settings.port, reuse_port=True))
            if settings.port == 0:  # a port the OS picked: the others join that one
                settings = _with_port(settings, public[0].getsockname()[1])
            if settings.metrics_port is None:
                metrics.append(None)
            else:
                metrics.append(bind(settings.metrics_host, settings.metrics_port + index))
    except OSError:
        for sock in (*public, *metrics):
            if sock is not None:
                sock.close()
        raise
    return public, metrics


def _with_port(settings: Settings, port: int) -> Settings:
    return dataclasses.replace(settings, port=port)


# -- the worker's side --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerSeat:
    """What the supervisor handed this worker: its index, sockets and the pipe that says it serves."""

    index: int
    sock: socket.socket
    metrics_sock: socket.socket | None
    ready_fd: int

    @classmethod
    def from_env(cls) -> WorkerSeat | None:
        value = os.environ.pop(WORKER_ENV, None)  # not for the programs this worker starts (the SFU)
        if not value:
            return None
        index, listen_fd, metrics_fd, ready_fd = value.split(":")
        return cls(
            index=int(index),
            sock=socket.socket(fileno=int(listen_fd)),
            metrics_sock=None if metrics_fd == "-" else socket.socket(fileno=int(metrics_fd)),
            ready_fd=int(ready_fd),
        )

    @property
    def name(self) -> str:
        return f"{self.index}/{os.getpid()}"

    def serving(self) -> None:
        """Tell the supervisor this worker accepts connections now."""
        with contextlib.suppress(OSError):
            os.write(self.ready_fd, b"ready\n")
        with contextlib.suppress(OSError):
            os.close(self.ready_fd)


# -- the supervisor ------------------------------------------------------------------------------------------


@dataclass
class _Worker:
    index: int
    proc: subprocess.Popen[bytes]
    ready_fd: int
    started: float = field(default_factory=time.monotonic)


class Supervisor:
    """Starts and keeps `settings.workers` workers; `run()` returns the exit code once they all stopped."""

    def __init__(
        self,
        settings: Settings,
        public: list[socket.socket],
        metrics: list[socket.socket | None],
        command: Sequence[str] = (sys.executable, str(RUN_PY)),
    ) -> None:
        self.settings = settings
        self.command = list(command)  # what a worker runs: run.py, or a test's stand-in
        self.public = public
        self.metrics = metrics
        self.workers: dict[int, _Worker] = {}
        self.deaths: dict[int, int] = {}  # quick deaths in a row, by index
        self.restart_at: dict[int, float] = {}
        self._stopping = False
        self._rolling = False

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)
        host, port = self.public[0].getsockname()[:2]
        log.info("starting %d workers on http://%s:%s (supervisor pid %d)", len(self.public), host, port, os.getpid())
        for index in range(len(self.public)):
            self.workers[index] = self._spawn(index)
        for index in range(len(self.public)):
            if not self._wait_ready(self.workers[index]):
                if not self._stopping:
                    log.error("worker %d did not start; stopping", index)
                self._stop_all()
                return 0 if self._stopping else 1
        log.info("all %d workers serving", len(self.workers))
        while not self._stopping:
            time.sleep(POLL_SECONDS)
            if self._rolling:
                self._rolling = False
                self._roll()
            self._reap()
        self._stop_all()
        log.info("stopped")
        return 0

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        self._rolling = True

    def _spawn(self, index: int) -> _Worker:
        read_fd, write_fd = os.pipe()
        listen_fd = self.public[index].fileno()
        metrics = self.metrics[index]
        metrics_fd = "-" if metrics is None else str(metrics.fileno())
        fds = [listen_fd, write_fd] + ([] if metrics is None else [metrics.fileno()])
        env = dict(os.environ, **{WORKER_ENV: f"{index}:{listen_fd}:{metrics_fd}:{write_fd}"})
        try:
            # This very program again, with the supervisor's own environment: nothing untrusted.
            proc = subprocess.Popen(  # noqa: S603
                self.command, env=env, pass_fds=fds, stdin=subprocess.DEVNULL
            )
        finally:
            os.close(write_fd)
        log.info("worker %d started (pid %d)", index, proc.pid)
        return _Worker(index, proc, read_fd)

    def _wait_ready(self, worker: _Worker, timeout: float = READY_TIMEOUT) -> bool:
        """Until the worker says it serves (True), or exits, times out or the supervisor is told to stop."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and not self._stopping:
                readable, _, _ = select.select([worker.ready_fd], [], [], POLL_SECONDS)
                if readable:
                    return bool(os.read(worker.ready_fd, 64))  # b"": it exited without saying so
                if worker.proc.poll() is not None:
                    return False
            return False
        finally:
            os.close(worker.ready_fd)
            worker.ready_fd = -1

    def _reap(self) -> None:
        """Restart workers that died (after a pause that grows while they keep dying young)."""
        now = time.monotonic()
        for index, worker in list(self.workers.items()):
            code = worker.proc.poll()
            if code is None:
                continue
            if index not in self.restart_at:
                quick = now - worker.started < QUICK_DEATH_SECONDS
                self.deaths[index] = self.deaths.get(index, 0) + 1 if quick else 0
                pause = min(MAX_PAUSE_SECONDS, 2.0 ** self.deaths[index] - 1) if quick else 0.0
                self.restart_at[index] = now + pause
                log.error(
                    "worker %d (pid %d) exited with code %s; restarting in %.0f s", index, worker.proc.pid, code, pause
                )
            if now >= self.restart_at[index]:
                del self.restart_at[index]
                self.workers[index] = self._spawn(index)
                if not self._wait_ready(self.workers[index]):
                    log.error("restarted worker %d did not start", index)

    def _roll(self) -> None:
        """Replace each worker in turn: the new one serves on the same socket before the old one stops."""
        log.info("rolling restart of %d workers", len(self.workers))
        for index in sorted(self.workers):
            if self._stopping:
                return
            old = self.workers[index]
            new = self._spawn(index)
            if not self._wait_ready(new):
                log.error("the new worker %d did not start; keeping the old one and stopping the restart", index)
                _stop(new.proc, self.settings.shutdown_timeout)
                return
            self.workers[index] = new
            _stop(old.proc, self.settings.shutdown_timeout + 5)
            log.info("worker %d replaced (pid %d -> %d)", index, old.proc.pid, new.proc.pid)
        log.info("rolling restart done")

    def _stop_all(self) -> None:
        procs = [w.proc for w in self.workers.values() if w.proc.poll() is None]
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.shutdown_timeout + 5
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker pid %d did not stop in time; killing it", proc.pid)
                proc.kill()
                proc.wait()
        for sock in (*self.public, *self.metrics):
            if sock is not None:
                sock.close()


def _stop(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM (the worker drains and flushes), then SIGKILL if it takes longer than `timeout`."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        log.error("worker pid %d did not stop in %.0f s; killing it", proc.pid, timeout)
        proc.kill()
        proc.wait()
