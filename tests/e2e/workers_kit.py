"""Steps the several-process tests share: the real server with WORKERS=2 on PostgreSQL and Redis, accounts made
with the server's own repository (sign-in is rate limited per address), and clients that land on a chosen worker
(each answer names its worker in `X-Worker: index/pid`)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from server.auth.tokens import AccessTokens
from server.config import Settings
from server.crypto.keyring import BlindIndex, Keyring
from server.storage.accounts import AccountRepository
from server.storage.database import connect
from tests.chat.chatkit import Peer
from tests.conftest import server_env_for
from tests.e2e.server_process import ServerProcess, free_port, running_server

TRIES = 60  # connections opened at most to land on a given worker (each lands on one at random)


def free_port_pair() -> int:
    """A loopback port that is free, with the one after it free too (worker i listens on METRICS_PORT + i)."""
    for _ in range(50):
        base = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", base + 1))
            except OSError:
                continue
        return base
    raise RuntimeError("no two free loopback ports in a row")


def workers_env(tmp_path: Path, database_url: str, redis_url: str, mqtt_url: str | None = None) -> dict[str, str]:
    env = server_env_for(tmp_path, database_url, None)
    env.update(
        {
            "WORKERS": "2",
            "REDIS_URL": redis_url,
            "METRICS_PORT": str(free_port_pair()),  # and the port after it, for worker 1
            "BATCH_MAX_DELAY_MS": "5",
        }
    )
    if mqtt_url:
        env["MQTT_URL"] = mqtt_url
    return env


@contextlib.contextmanager
def two_workers(tmp_path: Path, env: dict[str, str]) -> Iterator[ServerProcess]:
    """`python run.py` with WORKERS=2, once both workers serve."""
    with running_server(tmp_path, env=env) as server:
        deadline = time.monotonic() + 30
        while "all 2 workers serving" not in server.log_text():
            assert time.monotonic() < deadline, server.log_tail()
            time.sleep(0.1)
        yield server


@dataclass
class User:
    user_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_users(env: dict[str, str], count: int) -> list[User]:
    """Confirmed users with a session each, written as register + verify + login leave them."""
    settings = Settings.from_env(env)
    db = await connect(settings.database_url, readers=1, pool_size=2)
    tokens = AccessTokens(settings.jwt_secret, settings.access_token_seconds)
    made: list[User] = []
    try:
        repo = AccountRepository(db, Keyring(settings.encryption_keys), BlindIndex(settings.blind_index_key))
        now = time.time()
        async with db.transaction() as tx:
            for n in range(count):
                user_id, session_id = uuid.uuid4().hex, uuid.uuid4().hex
                await repo.create_user(
                    tx,
                    user_id=user_id,
                    email=f"worker-{n}-{secrets.token_hex(4)}@example.test",
                    display_name=f"User {n}",
                    password_hash="not used",
                    role="user",
                    now=now,
                    verified=True,
                )
                await repo.create_session(
                    tx,
                    session_id=session_id,
                    user_id=user_id,
                    ip="127.0.0.1",
                    user_agent="tests",
                    now=now,
                    expires_at=now + 86400,
                )
                token = tokens.issue(user_id=user_id, session_id=session_id, role="user", now=now)
                made.append(User(user_id, token))
    finally:
        await db.close()
    return made


def index_of(worker: str) -> str:
    return worker.split("/")[0]


async def http_on(base: str, worker: str) -> aiohttp.ClientSession:
    """A session whose one kept-alive connection is served by worker `worker` (an index)."""
    for _ in range(TRIES):
        session = aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=1))
        async with session.get("/healthz") as resp:
            await resp.read()
            if index_of(resp.headers.get("X-Worker", "")) == worker:
                return session
        await session.close()
    raise AssertionError(f"no connection landed on worker {worker} in {TRIES} tries")


@dataclass
class Socket:
    session: aiohttp.ClientSession
    peer: Peer
    worker: str  # index/pid

    async def close(self) -> None:
        await self.peer.close()
        await self.session.close()


def _worker_recorder(seen: dict[str, str]) -> aiohttp.TraceConfig:
    """Notes the `X-Worker` of each response (the WebSocket handshake's too, which aiohttp does not expose)."""

    async def on_end(session: Any, context: Any, params: aiohttp.TraceRequestEndParams) -> None:
        seen["worker"] = params.response.headers.get("X-Worker", "")

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_end)
    return trace


async def ws_on(base: str, user: User, worker: str | None = None, after_seq: int | None = None) -> Socket:
    """A signed-in WebSocket on worker `worker` (an index; None: wherever it lands), synced after `after_seq`."""
    for _ in range(TRIES):
        seen: dict[str, str] = {}
        session = aiohttp.ClientSession(base, trace_configs=[_worker_recorder(seen)])
        try:
            ws = await session.ws_connect("/ws", heartbeat=None)
        except (aiohttp.ClientError, OSError):
            await session.close()
            await asyncio.sleep(0.1)
            continue
        name = seen.get("worker", "")
        if worker is not None and index_of(name) != worker:
            await ws.close()
            await session.close()
            continue
        peer = Peer(ws)
        await peer.ok("auth", token=user.token)
        if after_seq is not None:
            await peer.ok("sync", after_seq=after_seq)
        return Socket(session, peer, name)
    raise AssertionError(f"no WebSocket landed on worker {worker} in {TRIES} tries")
