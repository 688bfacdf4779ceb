"""SQLite's disk fills up: writes fail cleanly (503 with Retry-After in ThingSpeak's error shape; nothing acknowledged
is lost), reads go on, and once there is room again writes succeed with no restart. A real full disk
where a small tmpfs can be mounted (root); the same answer from SQLite's own SQLITE_FULL everywhere."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from server.keys import database_key
from tests.e2e.server_process import running_server
from tests.faults.kit import RECOVER_WITHIN, Site, create_admins, stored_entries
from tests.helpers import new_channel

BIG = "x" * 255  # the longest a field may be: each point is about 2 KB


def _point(n: int) -> dict[str, str]:
    return {f"field{i}": f"{n}{BIG}"[:255] for i in range(1, 9)}


@contextlib.contextmanager
def _tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    except FileNotFoundError:
        pytest.skip("no mount command here")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


def _fill(directory: Path) -> Path:
    """Write a file until the disk is full; returns it (delete it to make room)."""
    filler = directory / "filler"
    with open(filler, "wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return filler


@pytest.mark.slow
async def test_a_full_disk_refuses_writes_cleanly_and_recovers(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "data", "24m") as data:
        create_admins({"DATA_DIR": str(data)})
        with running_server(tmp_path, env={"DATA_DIR": str(data)}) as server:
            async with aiohttp.ClientSession() as session:
                site = await Site.open(server, session)
                url = f"{server.url}/update.json"
                acknowledged: list[int] = []
                filler = _fill(data)
                refused = None
                for n in range(3000):  # bounded: the little room left goes in a few hundred points at most
                    resp = await session.post(url, data={"api_key": site.write_key, **_point(n)})
                    if resp.status != 200:
                        refused = resp
                        break
                    acknowledged.append((await resp.json())["entry_id"])
                assert refused is not None, "the full disk never refused a write"
                assert refused.status == 503, await refused.text()
                assert int(refused.headers["Retry-After"]) >= 1
                resp = await session.get(f"{server.url}/channels/{site.channel_id}/feeds.json", headers=site.auth(0))
                assert resp.status == 200  # reads go on
                filler.unlink()
                deadline = time.monotonic() + RECOVER_WITHIN
                while True:
                    resp = await session.post(url, data={"api_key": site.write_key, "field1": "after"})
                    if resp.status == 200:
                        acknowledged.append((await resp.json())["entry_id"])
                        break
                    assert time.monotonic() < deadline, await resp.text()
                assert server.running
            stored = await stored_entries(f"sqlite://{data / 'app.db'}", site.channel_id)
            assert set(acknowledged) <= set(stored)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_sqlite_full_answers_503_and_writes_resume_when_there_is_room(client: TestClient) -> None:
    channel = await new_channel(client)
    db = client.app[database_key]
    pages = await db.fetchval("PRAGMA page_count")
    await db.execute(f"PRAGMA max_page_count = {pages}")  # the writer's file may not grow: SQLITE_FULL
    acknowledged: list[int] = []
    for n in range(2000):
        resp = await client.post("/update.json", data={"api_key": channel["write_key"], **_point(n)})
        if resp.status != 200:
            break
        acknowledged.append((await resp.json())["entry_id"])
    assert resp.status == 503, await resp.text()
    assert int(resp.headers["Retry-After"]) >= 1
    assert (await resp.json())["error"]["error_code"] == "error_service_unavailable"
    read = await client.get(f"/channels/{channel['id']}/feeds.json?api_key={channel['read_key']}&results=8000")
    assert read.status == 200  # reads go on
    await db.execute("PRAGMA max_page_count = 1073741823")  # room again
    resp = await client.post("/update.json", data={"api_key": channel["write_key"], "field1": "after"})
    assert resp.status == 200, await resp.text()
    acknowledged.append((await resp.json())["entry_id"])
    read = await client.get(f"/channels/{channel['id']}/feeds.json?api_key={channel['read_key']}&results=8000")
    assert {e["entry_id"] for e in (await read.json())["feeds"]} >= set(acknowledged)
