"""Run the real server (`python run.py`) as a subprocess for end-to-end tests.

    with running_server(tmp_path, env={"LOG_LEVEL": "DEBUG"}) as server:
        urllib.request.urlopen(server.url + "/healthz")

Standard library only, so it works from any test (sync or async) and from benchmarks.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0
# Variables that would point the server at external services; a test passes them explicitly if it wants them.
DROPPED_ENV = ("DATABASE_URL", "REDIS_URL", "MQTT_URL")


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_udp_port(host: str = HOST) -> int:
    """A UDP port nobody is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """SIGTERM, wait up to `timeout` seconds, then SIGKILL; returns the exit code."""
    if proc.poll() is None:
        proc.terminate()
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def wait_for_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> int | None:
    """Poll `url` until it answers 200; None if it did not in time (or `proc` exited), else 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return None
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own http:// URL
                if response.status == 200:
                    return 200
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.1)
    return None


class ServerProcess:
    """A running `python run.py`; the context manager of `running_server` owns its lifetime."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log_path: Path, log_file: IO[bytes]) -> None:
        self.proc = proc
        self.port = port
        self.host = HOST
        self.url = f"http://{HOST}:{port}"
        self.ws_url = f"ws://{HOST}:{port}/ws"
        self.log_path = log_path
        self._log_file = log_file

    def log_text(self) -> str:
        # The child writes straight to the file descriptor: nothing is buffered on our side.
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 60) -> str:
        return tail(self.log_path, lines)

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then wait up to `timeout` seconds; returns the exit code (raises TimeoutExpired if stuck)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> int:
        """SIGKILL and reap; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait()

    def close(self) -> None:
        try:
            self.terminate(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
        finally:
            self._log_file.close()

    def __repr__(self) -> str:
        return f"<ServerProcess pid={self.proc.pid} url={self.url}>"


def server_env(tmp_path: Path, port: int, env: dict[str, str] | None = None) -> dict[str, str]:
    result = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    result.update(
        {
            "HOST": HOST,
            "PORT": str(port),
            "DATA_DIR": str(tmp_path / "data"),
            "APP_ENV": "development",
            "PYTHONUNBUFFERED": "1",
        }
    )
    result.update(env or {})
    return result


@contextlib.contextmanager
def running_server(
    tmp_path: Path, env: dict[str, str] | None = None, port: int | None = None
) -> Iterator[ServerProcess]:
    """Start `python run.py` on 127.0.0.1, wait until GET /healthz answers 200, stop it (SIGTERM) on exit."""
    port = port or free_port()
    tmp_path.mkdir(parents=True, exist_ok=True)
    log_path = tmp_path / "server.log"
    log_file = open(log_path, "ab")  # noqa: SIM115 - closed by ServerProcess.close
    try:
        proc = subprocess.Popen(
            [sys.executable, "run.py"],
            cwd=REPO_ROOT,
            env=server_env(tmp_path, port, env),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    except BaseException:
        log_file.close()
        raise
    server = ServerProcess(proc, port, log_path, log_file)
    try:
        if wait_for_http(f"{server.url}/healthz", START_TIMEOUT, proc) is None:
            code = proc.poll()
            why = f"exited with code {code}" if code is not None else f"did not answer /healthz in {START_TIMEOUT:.0f}s"
            raise RuntimeError(f"server on port {port} {why}; log tail:\n{server.log_tail()}")
        yield server
    finally:
        server.close()
