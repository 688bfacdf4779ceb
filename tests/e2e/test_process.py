"""The real process: a clear one-line failure at start, and a clean stop on SIGTERM that loses nothing."""

from __future__ import annotations

import asyncio
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.server_process import REPO_ROOT, free_port, running_server, server_env

pytestmark = pytest.mark.slow


def start(tmp_path: Path, port: int, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "run.py"],
        cwd=REPO_ROOT,
        env=server_env(tmp_path, port, env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = start(tmp_path, port, {})
    assert result.returncode == 1
    lines = [ln for ln in result.stderr.splitlines() if '"level"' not in ln]  # JSON log lines aside
    assert lines == [f"cannot listen on 127.0.0.1:{port}: Address already in use"]
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "http"}, "configuration error: PORT must be an integer, got 'http'"),
        ({"LOG_LEVEL": "loud"}, "configuration error: LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR"),
        (
            {"APP_ENV": "production"},
            "configuration error: APP_ENV=production needs explicit secrets; missing: "
            "ENCRYPTION_KEYS, BLIND_INDEX_KEY, JWT_SECRET",
        ),
        ({"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, "cannot start: "),
    ],
)
def test_bad_setting_is_one_line(tmp_path: Path, env: dict[str, str], message: str) -> None:
    result = start(tmp_path, free_port(), env)
    assert result.returncode != 0
    lines = [ln for ln in result.stderr.splitlines() if '"level"' not in ln]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(message)
    assert "Traceback" not in result.stderr + result.stdout


async def test_sigterm_finishes_requests_closes_websockets_and_exits_0(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(server.ws_url)
            await ws.send_json({"type": "ping", "id": "p"})
            assert (await ws.receive_json())["type"] == "pong"

            # Registrations hash passwords with the production argon2 cost: each takes a while.
            # Five: the per-IP registration limit.
            async def register(n: int) -> int:
                resp = await session.post(
                    f"{server.url}/api/auth/register",
                    json={
                        "email": f"user{n}@example.test",
                        "password": "a long enough password",
                        "display_name": f"U{n}",
                    },
                )
                return resp.status

            inflight = [asyncio.create_task(register(n)) for n in range(5)]
            await asyncio.sleep(0.3)  # all five are on the wire and being handled
            server.proc.send_signal(signal.SIGTERM)
            closing = await ws.receive(timeout=10)
            statuses = await asyncio.gather(*inflight)
            await ws.close()
        assert closing.type == aiohttp.WSMsgType.CLOSE
        assert closing.data == 1001  # GOING_AWAY
        assert statuses == [202] * 5
        code = await asyncio.to_thread(server.proc.wait, 15)
        assert code == 0
        log = server.log_text()
        assert '"msg":"stopped"' in log
        assert "Traceback" not in log

    # Nothing acknowledged was lost.
    db = sqlite3.connect(tmp_path / "data" / "app.db")
    try:
        assert db.execute("SELECT count(*) FROM users").fetchone()[0] == 5
    finally:
        db.close()
