"""Shared fixtures: a database on each backend, a real SMTP server on loopback, settings, the app and a client."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import socket
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from aiosmtpd.controller import Controller

from server.app import create_app
from server.config import RateLimit, Settings
from server.storage import database as storage
from server.storage.migrations import migrate
from tests.fakes import Inbox

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL")
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(not TEST_DATABASE_URL, reason="TEST_DATABASE_URL is not set (CI sets it)"),
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def key() -> bytes:
    return os.urandom(32)


# -- running the suite on several workers (pytest-xdist, `make test`) ---------------------------------------

# The tests of a group run on one worker, one after another:
# - "services": the shared Redis and Mosquitto, where topics named by small integer ids (IoT channels) would be
#   heard by another worker's test with a channel of the same number in its own database;
# - "browser:<module>": a browser module's tests run on one worker (its Chromium and server are the module's); two
#   modules may run at once, one per worker (with the whole browser group on one worker the suite took 17 of its
#   20 minutes, that worker alone).
SHARED_SERVICES = ("TEST_REDIS_URL", "TEST_MQTT_URL")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Puts each test in its xdist group (see above); before xdist reads the groups, hence tryfirst."""
    sources: dict[Path, str] = {}
    for item in items:
        path = Path(str(item.path))
        if path.name.endswith("_browser.py"):
            item.add_marker(pytest.mark.xdist_group(f"browser:{path.stem}"))
            continue
        if path not in sources:
            sources[path] = path.read_text(encoding="utf-8")
        if any(name in sources[path] for name in SHARED_SERVICES):
            item.add_marker(pytest.mark.xdist_group("services"))


# -- databases --------------------------------------------------------------------------------------


@pytest.fixture(name="backend", params=BACKENDS)
def backend_fixture(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def _admin(sql: str) -> None:
    admin = await asyncpg.connect(TEST_DATABASE_URL)
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


async def _migrated_database(name: str) -> None:
    await _admin(f'CREATE DATABASE "{name}"')
    db = await storage.connect(_with_database(TEST_DATABASE_URL or "", name), readers=1, pool_size=2)
    try:
        await migrate(db)
    finally:
        await db.close()


class PostgresDatabases:
    """The session's PostgreSQL databases, made and dropped in threads of their own (the tests' event loops are
    pytest-asyncio's). The migrations run once, into a template each test's database copies: running them for
    every test cost more than the rest of its setup. A test's database is dropped once all of that test's
    fixtures are gone (an app may close after the database fixture), in the background while the next test runs:
    waiting for DROP DATABASE cost as much again. The session waits for every drop at its end."""

    def __init__(self, thread: ThreadPoolExecutor) -> None:
        self._thread = thread
        self.template = f"t_template_{uuid.uuid4().hex[:12]}"
        self._used: list[str] = []
        self._drops: list[Future[None]] = []

    def new(self) -> str:
        """A new database's name; the databases of the tests before are dropped now."""
        self._drop_used()
        name = f"t_{uuid.uuid4().hex[:16]}"
        self._used.append(name)
        return name

    def _drop_used(self) -> None:
        for name in self._used:
            drop = _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self._drops.append(self._thread.submit(asyncio.run, drop))
        self._used.clear()

    def finish(self) -> None:
        self._used.append(self.template)
        self._drop_used()
        for drop in self._drops:
            drop.result()


@pytest.fixture(name="postgres_databases", scope="session")
def postgres_databases_fixture() -> Iterator[PostgresDatabases]:
    # Several threads: with the suite on two workers, one thread's drops fell behind and the session's end waited
    # for a minute and a half of them.
    with ThreadPoolExecutor(4) as thread:
        databases = PostgresDatabases(thread)
        thread.submit(asyncio.run, _migrated_database(databases.template)).result()
        try:
            yield databases
        finally:
            databases.finish()


@pytest.fixture(name="database_url")
async def database_url_fixture(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A database of its own for each test, so tests never see each other's rows. SQLite starts empty (the app
    migrates it at start); PostgreSQL starts as a copy of the migrated template (the app finds nothing to do)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    assert TEST_DATABASE_URL
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    name = databases.new()
    await _admin(f'CREATE DATABASE "{name}" TEMPLATE "{databases.template}"')
    return _with_database(TEST_DATABASE_URL, name)


# -- mail -------------------------------------------------------------------------------------------


class Mailbox(Inbox):
    """What a real SMTP server on loopback received."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.deliver(message_from_bytes(envelope.content), envelope.rcpt_tos)
        return "250 OK"


def body_of(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def link_in(message: Message, path: str) -> str:
    """The link to `path` in a message's text, made relative to the server (for the test client)."""
    match = re.search(r"https?://[^\s/]+(" + re.escape(path) + r"\?[^\s]+)", body_of(message))
    assert match, f"no {path} link in: {body_of(message)}"
    return match[1]


@pytest.fixture(name="smtp")
def smtp_fixture() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


# -- settings and the app ---------------------------------------------------------------------------

GENEROUS = RateLimit(10_000, 60)


def server_env_for(tmp_path: Path, database_url: str, smtp_port: int | None) -> dict[str, str]:
    env = {
        "APP_ENV": "test",
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": database_url,
        "ENCRYPTION_KEYS": f"k1:{base64.b64encode(key()).decode()}",
        "BLIND_INDEX_KEY": base64.b64encode(key()).decode(),
        "JWT_SECRET": base64.b64encode(key()).decode(),
        "PUBLIC_URL": "http://testserver.local",
    }
    if smtp_port is not None:
        env.update({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port), "SMTP_FROM": "server@example.test"})
    return env


@pytest.fixture(name="make_settings")
def make_settings_fixture(tmp_path: Path, database_url: str, smtp: tuple[Mailbox, int]) -> Callable[..., Settings]:
    env = server_env_for(tmp_path, database_url, smtp[1])  # one set of keys per test, as one deployment has

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "argon2_time_cost": 1,
            "argon2_memory_kib": 1024,
            "rate_register": GENEROUS,
            "rate_login": GENEROUS,
            "rate_verify": GENEROUS,
            "rate_reset": GENEROUS,
        }
        values.update(overrides)
        return Settings.from_env(env, **values)

    return make


@pytest.fixture(name="mail")
def mail_fixture(smtp: tuple[Mailbox, int]) -> Mailbox:
    return smtp[0]


@pytest.fixture(name="settings")
def settings_fixture(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture(name="client")
async def client_fixture(aiohttp_client: Any, settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(settings))
