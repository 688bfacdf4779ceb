"""What the fault tests share: services to put a proxy in front of, a server's accounts and channel, a load of
device writes, chat sends and sign-ins that keeps every answer, and waits on /readyz."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest

from tests.e2e.server_process import REPO_ROOT, ServerProcess, server_env

PASSWORD = "a long admin password"
EMAILS = ("ada@example.test", "bob@example.test")
ANSWER_TIMEOUT = 10.0  # a request not answered in this long counts as hung: a failure
READY_WITHIN = 8.0  # /readyz must say "not ready" within this long of a cut
RECOVER_WITHIN = 15.0  # and everything must work again within this long of the restore


def service_url(name: str) -> str:
    """The URL of a service CI provides, or skip."""
    url = os.environ.get(name)
    if not url:
        pytest.skip(f"{name} is not set (CI sets it)")
    return url


def host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


@contextlib.asynccontextmanager
async def postgres_database(admin_url: str) -> AsyncIterator[str]:
    """A database of its own (the server migrates it at start), dropped at the end."""
    name = f"t_faults_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    parts = urlsplit(admin_url)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))
    finally:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def create_admins(env: dict[str, str]) -> None:
    """Two verified accounts (EMAILS, PASSWORD), made by the command line before the server starts."""
    for email in EMAILS:
        subprocess.run(
            [sys.executable, "-m", "server", "create-admin", "--email", email],
            cwd=REPO_ROOT,
            env={**server_env(Path(env["DATA_DIR"]).parent, 0), **env, "ADMIN_PASSWORD": PASSWORD},
            check=True,
            capture_output=True,
            timeout=60,
        )


async def stored_entries(database_url: str, channel_id: int) -> list[int]:
    """The channel's entry ids as the database holds them (read directly, not through any proxy)."""
    if database_url.startswith("sqlite"):
        import sqlite3

        db = sqlite3.connect(database_url.removeprefix("sqlite://"))
        try:
            sql = "SELECT entry_id FROM feeds WHERE channel_id = ?"
            return sorted(row[0] for row in db.execute(sql, (channel_id,)))
        finally:
            db.close()
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT entry_id FROM feeds WHERE channel_id = $1", channel_id)
        return sorted(r["entry_id"] for r in rows)
    finally:
        await conn.close()


async def readyz(session: aiohttp.ClientSession, server: ServerProcess) -> tuple[int, dict[str, Any]]:
    async with session.get(f"{server.url}/readyz", timeout=aiohttp.ClientTimeout(total=ANSWER_TIMEOUT)) as resp:
        body: dict[str, Any] = await resp.json()
        return resp.status, body


async def until_ready(
    session: aiohttp.ClientSession, server: ServerProcess, ready: bool, within: float
) -> dict[str, Any]:
    """Poll /readyz until it answers 200 (`ready`) or 503; fail after `within` seconds. Returns its body."""
    deadline = time.monotonic() + within
    while True:
        status, body = await readyz(session, server)
        if (status == 200) == ready:
            assert status in (200, 503), body
            return body
        assert time.monotonic() < deadline, f"/readyz still {status} {body} after {within} s"
        await asyncio.sleep(0.1)


class Peer:
    """A signed-in WebSocket: `call` sends a command and returns its reply (pushes are kept in `pushes`)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.pushes: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            frame = message.json()
            waiter = self._replies.pop(frame.get("id"), None) if frame["type"] in ("result", "error") else None
            if waiter is not None:
                waiter.set_result(frame)
            else:
                self.pushes.append(frame)

    async def call(self, kind: str, **fields: Any) -> dict[str, Any]:
        frame_id = next(self._ids)
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[frame_id] = waiter
        await self.ws.send_json({"type": kind, "id": frame_id, **fields})
        return await asyncio.wait_for(waiter, ANSWER_TIMEOUT)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@dataclass
class Site:
    """A running server with two signed-in accounts, a direct chat between them and a channel."""

    server: ServerProcess
    session: aiohttp.ClientSession
    tokens: list[str] = field(default_factory=list)
    user_ids: list[str] = field(default_factory=list)
    chat_id: str = ""
    channel_id: int = 0
    write_key: str = ""

    @classmethod
    async def open(cls, server: ServerProcess, session: aiohttp.ClientSession) -> Site:
        site = cls(server, session)
        for email in EMAILS:
            status, body = await site.login(email)
            assert status == 200, body
            site.tokens.append(body["access_token"])
            site.user_ids.append(body["user"]["id"])
        resp = await session.post(
            f"{server.url}/api/chats", json={"kind": "direct", "user_id": site.user_ids[1]}, headers=site.auth(0)
        )
        assert resp.status in (200, 201), await resp.text()
        site.chat_id = (await resp.json())["id"]
        resp = await session.post(f"{server.url}/channels.json", json={"name": "faults"}, headers=site.auth(0))
        assert resp.status == 200, await resp.text()
        channel = await resp.json()
        site.channel_id = int(channel["id"])
        site.write_key = next(k["api_key"] for k in channel["api_keys"] if k["write_flag"])
        return site

    def auth(self, who: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def get(self, path: str, token: str) -> Any:
        resp = await self.session.get(f"{self.server.url}{path}", headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 200, await resp.text()
        return await resp.json()

    async def login(self, email: str) -> tuple[int, dict[str, Any]]:
        async with self.session.post(
            f"{self.server.url}/api/auth/login",
            json={"email": email, "password": PASSWORD},
            timeout=aiohttp.ClientTimeout(total=ANSWER_TIMEOUT),
        ) as resp:
            return resp.status, await resp.json()

    async def update(self, value: str) -> tuple[int, str]:
        """A device's write; (status, body): the entry id on success, "0" when refused."""
        async with self.session.post(
            f"{self.server.url}/update",
            data={"api_key": self.write_key, "field1": value},
            timeout=aiohttp.ClientTimeout(total=ANSWER_TIMEOUT),
        ) as resp:
            return resp.status, await resp.text()

    async def peer(self, who: int) -> Peer:
        peer = Peer(await self.session.ws_connect(self.server.ws_url))
        reply = await peer.call("auth", token=self.tokens[who])
        assert reply["type"] == "result", reply
        return peer

    async def history(self) -> list[str]:
        body = await self.get(f"/api/chats/{self.chat_id}/messages?limit=200", self.tokens[0])
        return [m["text"] for m in body["messages"]]


@dataclass
class Outcomes:
    """Every answer one kind of request got: acknowledged, refused honestly (503), or wrong (anything else)."""

    acknowledged: list[str] = field(default_factory=list)
    refused: int = 0
    wrong: list[str] = field(default_factory=list)
    last_ack: float = 0.0  # monotonic time of the latest acknowledgement


class Load:
    """Device writes, chat sends over a WebSocket and sign-ins, in a loop each, until stopped."""

    def __init__(self, site: Site, peer: Peer, pause: float = 0.05) -> None:
        self.site = site
        self.peer = peer
        self.pause = pause
        self.writes, self.sends, self.logins = Outcomes(), Outcomes(), Outcomes()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Load:
        self._tasks = [
            asyncio.create_task(self._loop(self._write, self.writes, self.pause)),
            asyncio.create_task(self._loop(self._send, self.sends, 0.4)),  # under the chat's send limit
            asyncio.create_task(self._loop(self._login, self.logins, 0.2)),
        ]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _loop(self, step: Any, outcomes: Outcomes, pause: float) -> None:
        for n in itertools.count():
            try:
                await step(n, outcomes)
            except (TimeoutError, aiohttp.ClientError) as exc:  # no answer in time, or the server went away
                outcomes.wrong.append(f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(pause)

    @staticmethod
    def _note(outcomes: Outcomes, status: int, acknowledged: str | None, answer: Any) -> None:
        if acknowledged is not None:
            outcomes.acknowledged.append(acknowledged)
            outcomes.last_ack = time.monotonic()
        elif status == 503:
            outcomes.refused += 1
        else:
            outcomes.wrong.append(f"{status} {answer}")

    async def _write(self, n: int, outcomes: Outcomes) -> None:
        status, body = await self.site.update(str(n))
        self._note(outcomes, status, body if status == 200 and body != "0" else None, body)

    async def _send(self, n: int, outcomes: Outcomes) -> None:
        text = f"m{n}"
        reply = await self.peer.call("message.send", chat_id=self.site.chat_id, client_id=str(uuid.uuid4()), text=text)
        if reply["type"] == "result":
            self._note(outcomes, 200, text, reply)
        else:
            unavailable = reply.get("error", {}).get("code") == "unavailable"
            self._note(outcomes, 503 if unavailable else 500, None, reply)

    async def _login(self, n: int, outcomes: Outcomes) -> None:
        status, body = await self.site.login(EMAILS[n % 2])
        self._note(outcomes, status, "ok" if status == 200 else None, body)

    def every(self) -> list[Outcomes]:
        return [self.writes, self.sends, self.logins]

    async def until_all_acknowledge_after(self, moment: float, within: float) -> float:
        """Wait until each kind has been acknowledged after `moment`; returns how long that took."""
        deadline = moment + within
        while not all(o.last_ack > moment for o in self.every()):
            late = [
                name
                for name, o in zip(("writes", "sends", "logins"), self.every(), strict=True)
                if o.last_ack <= moment
            ]
            assert time.monotonic() < deadline, f"no acknowledged {late} within {within} s of the restore"
            await asyncio.sleep(0.05)
        return max(o.last_ack for o in self.every()) - moment
