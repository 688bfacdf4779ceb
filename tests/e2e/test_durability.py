"""A server killed with SIGKILL in the middle of a write load keeps every point it acknowledged."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.e2e.server_process import REPO_ROOT, running_server

pytestmark = pytest.mark.slow


async def _channel(url: str, env: dict[str, str]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session:
        resp = await session.post(
            f"{url}/api/auth/login", json={"email": "admin@example.test", "password": env["ADMIN_PASSWORD"]}
        )
        assert resp.status == 200, await resp.text()
        token = (await resp.json())["access_token"]
        resp = await session.post(
            f"{url}/channels.json", json={"name": "load"}, headers={"Authorization": f"Bearer {token}"}
        )
        channel = await resp.json()
        write_key = next(k["api_key"] for k in channel["api_keys"] if k["write_flag"])
        return int(channel["id"]), write_key


async def _stored(database_url: str, channel_id: int) -> set[int]:
    if database_url.startswith("sqlite"):
        db = sqlite3.connect(database_url.removeprefix("sqlite://"))
        try:
            return {row[0] for row in db.execute("SELECT entry_id FROM feeds WHERE channel_id = ?", (channel_id,))}
        finally:
            db.close()
    conn = await asyncpg.connect(database_url)
    try:
        return {r["entry_id"] for r in await conn.fetch("SELECT entry_id FROM feeds WHERE channel_id = $1", channel_id)}
    finally:
        await conn.close()


async def test_sigkill_loses_no_acknowledged_point(tmp_path: Path, database_url: str) -> None:
    env = {"ADMIN_PASSWORD": "a long admin password", "DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": database_url}
    subprocess.run(
        [sys.executable, "-m", "server", "create-admin", "--email", "admin@example.test"],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        timeout=60,
    )
    acknowledged: list[int] = []
    with running_server(tmp_path, env={"BATCH_MAX_DELAY_MS": "5", "DATABASE_URL": database_url}) as server:
        channel_id, key = await _channel(server.url, env)

        async def device(n: int) -> None:
            async with aiohttp.ClientSession() as session:
                for i in range(10_000):
                    try:
                        resp = await session.get(f"{server.url}/update?api_key={key}&field1={n}.{i}")
                        text = await resp.text()
                    except aiohttp.ClientError:
                        return  # the server is gone
                    if resp.status == 200:
                        acknowledged.append(int(text))
                        if len(acknowledged) >= 500:
                            enough.set()

        enough = asyncio.Event()
        devices = [asyncio.create_task(device(n)) for n in range(16)]
        await asyncio.wait_for(enough.wait(), timeout=30)
        server.kill()  # SIGKILL: no shutdown, no flush
        await asyncio.gather(*devices)
    assert len(acknowledged) >= 500

    # The server restarts on the same data and every acknowledged id is there.
    with running_server(tmp_path, env={"DATABASE_URL": database_url}):
        stored = await _stored(database_url, channel_id)
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged points lost"
    # And the ids stored still run without gaps.
    assert sorted(stored) == list(range(1, len(stored) + 1))
