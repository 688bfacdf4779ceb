"""Fixtures of the operations tests: an empty place to restore a backup into, on either backend."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests.conftest import TEST_DATABASE_URL


async def _admin(sql: str) -> None:
    admin = await asyncpg.connect(TEST_DATABASE_URL)
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


@pytest.fixture(name="restore_url")
async def restore_url_fixture(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A DATABASE_URL with nothing in it: an SQLite file not made yet (in tmp_path/restored/data), or a new
    PostgreSQL database made without the migrated template, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored' / 'data' / 'app.db'}"
        return
    assert TEST_DATABASE_URL
    name = f"t_restore_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}"')
    parts = urlsplit(TEST_DATABASE_URL)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
