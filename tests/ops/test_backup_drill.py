"""The restore drill: a server takes points and chat messages while `python -m server backup` runs; the backup is
restored into a fresh DATA_DIR and database, and a server started on it has every write acknowledged before the
backup began, continues the entry ids without a gap, signs the account in and serves the attachment."""

from __future__ import annotations

import asyncio
import base64
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from server.ops.backup import archives
from tests.e2e.server_process import REPO_ROOT, running_server

pytestmark = pytest.mark.slow

EMAIL = "admin@example.test"
PASSWORD = "a long admin password"
BACKUP_KEY = base64.b64encode(os.urandom(32)).decode()
ATTACHMENT = "".join(f"report line {i}: {uuid.uuid4()}\n" for i in range(80)).encode()  # a plain text document


def cli_env(data_dir: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "MQTT_URL")}
    env.update(
        {
            "DATA_DIR": str(data_dir),
            "DATABASE_URL": database_url,
            "BACKUP_KEY": BACKUP_KEY,
            "ADMIN_PASSWORD": PASSWORD,
            "APP_ENV": "development",
        }
    )
    return env


async def cli(*args: str, env: dict[str, str]) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", *args, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def sign_in(session: aiohttp.ClientSession, url: str) -> dict[str, str]:
    resp = await session.post(f"{url}/api/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    return {"Authorization": f"Bearer {(await resp.json())['access_token']}"}


async def stored_entries(database_url: str, channel_id: int) -> list[int]:
    sql = "SELECT entry_id FROM feeds WHERE channel_id = $1 ORDER BY entry_id"
    if database_url.startswith("sqlite"):
        db = sqlite3.connect(database_url.removeprefix("sqlite://"))
        try:
            return [row[0] for row in db.execute(sql.replace("$1", "?"), (channel_id,))]
        finally:
            db.close()
    conn = await asyncpg.connect(database_url)
    try:
        return [r["entry_id"] for r in await conn.fetch(sql, channel_id)]
    finally:
        await conn.close()


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the load did not get that far in time")


class Load:
    """Devices writing points and a person sending chat messages, each keeping what was acknowledged."""

    def __init__(self, url: str, headers: dict[str, str], write_key: str, chat_id: str) -> None:
        self.url, self.headers, self.write_key, self.chat_id = url, headers, write_key, chat_id
        self.points: list[int] = []
        self.messages: list[int] = []
        self.stop = asyncio.Event()

    async def device(self, n: int) -> None:
        async with aiohttp.ClientSession() as session:
            for i in range(2000):
                if self.stop.is_set():
                    return
                resp = await session.get(f"{self.url}/update?api_key={self.write_key}&field1={n}.{i}")
                text = await resp.text()
                if resp.status == 200 and text != "0":
                    self.points.append(int(text))

    async def chatter(self) -> None:
        async with aiohttp.ClientSession() as session:
            while not self.stop.is_set():
                resp = await session.post(
                    f"{self.url}/api/chats/{self.chat_id}/messages",
                    json={"client_id": str(uuid.uuid4()), "text": f"message {len(self.messages)}"},
                    headers=self.headers,
                )
                if resp.status == 201:
                    self.messages.append((await resp.json())["id"])
                await asyncio.sleep(0.2)  # under the chat's 30 messages per 10 s


async def test_restore_drill(tmp_path: Path, database_url: str, restore_url: str) -> None:
    data_dir = tmp_path / "data"
    await cli("create-admin", "--email", EMAIL, env=cli_env(data_dir, database_url))
    backups = tmp_path / "backups"
    with running_server(tmp_path, env={"DATABASE_URL": database_url, "BATCH_MAX_DELAY_MS": "5"}) as server:
        async with aiohttp.ClientSession() as session:
            headers = await sign_in(session, server.url)
            resp = await session.post(f"{server.url}/channels.json", json={"name": "load"}, headers=headers)
            channel: dict[str, Any] = await resp.json()
            channel_id = int(channel["id"])
            write_key = next(k["api_key"] for k in channel["api_keys"] if k["write_flag"])
            resp = await session.post(
                f"{server.url}/api/chats", json={"kind": "group", "name": "drill"}, headers=headers
            )
            chat_id = (await resp.json())["id"]
            form = aiohttp.FormData()
            form.add_field("file", ATTACHMENT, filename="report.txt", content_type="text/plain")
            resp = await session.post(f"{server.url}/api/chats/{chat_id}/attachments", data=form, headers=headers)
            assert resp.status == 201, await resp.text()
            attachment_id = (await resp.json())["id"]
            resp = await session.post(
                f"{server.url}/api/chats/{chat_id}/messages",
                json={"client_id": str(uuid.uuid4()), "text": "the report", "attachments": [attachment_id]},
                headers=headers,
            )
            assert resp.status == 201, await resp.text()

        load = Load(server.url, headers, write_key, chat_id)
        tasks = [asyncio.create_task(load.device(n)) for n in range(6)] + [asyncio.create_task(load.chatter())]
        try:
            await until(lambda: len(load.points) >= 300 and len(load.messages) >= 3)
            points_before, messages_before = set(load.points), set(load.messages)
            await cli("backup", "--dir", str(backups), env=cli_env(data_dir, database_url))
            after = len(load.points)
            await until(lambda: len(load.points) >= after + 100)  # the load goes on after the backup
        finally:
            load.stop.set()
            await asyncio.gather(*tasks)
    (archive,) = archives(backups)

    restored = tmp_path / "restored"
    out = await cli("restore", str(archive), env=cli_env(restored / "data", restore_url))
    assert "restored the backup of" in out
    entries = await stored_entries(restore_url, channel_id)
    assert points_before <= set(entries)
    assert entries == list(range(1, len(entries) + 1))
    assert len(entries) < len(load.points)  # the backup was taken mid-load: later points are not in it

    with running_server(restored, env={"DATABASE_URL": restore_url}) as server:
        async with aiohttp.ClientSession() as session:
            headers = await sign_in(session, server.url)
            resp = await session.get(f"{server.url}/update?api_key={write_key}&field1=1")
            assert await resp.text() == str(len(entries) + 1)
            resp = await session.get(f"{server.url}/api/chats/{chat_id}/messages?limit=100", headers=headers)
            page = await resp.json()
            assert messages_before <= {m["id"] for m in page["messages"]}
            resp = await session.get(f"{server.url}/api/attachments/{attachment_id}", headers=headers)
            assert resp.status == 200
            assert await resp.read() == ATTACHMENT
