"""Backups and restores on both backends: what is restored, what is refused, pruning, the schedule's turns."""

from __future__ import annotations

import asyncio
import base64
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from server.app import create_app
from server.config import ConfigError, Settings, new_vapid_key
from server.ops.backup import BackupError, RestoreTarget, archives, backup_key, create_backup, prune, restore_backup
from server.ops.backup_schedule import LOCK_FILE, backup_once
from server.storage import database as storage
from server.storage.migrations import migrate

ROOT = Path(__file__).resolve().parents[2]
BACKUP_KEY = os.urandom(32)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def env_for(data_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    return {
        "APP_ENV": "test",
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "ENCRYPTION_KEYS": f"k1:{b64(os.urandom(32))}",
        "BLIND_INDEX_KEY": b64(os.urandom(32)),
        "JWT_SECRET": b64(os.urandom(32)),
        "VAPID_PRIVATE_KEY": new_vapid_key(),
        "BACKUP_KEY": b64(BACKUP_KEY),
        **extra,
    }


async def _fill(database_url: str, rows: int) -> None:
    db = await storage.connect(database_url, readers=1, pool_size=2)
    try:
        await migrate(db)
        await db.execute("CREATE TABLE IF NOT EXISTS drill (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        for i in range(rows):
            await db.execute("INSERT INTO drill (id, v) VALUES ($1, $2)", i + 1, f"row {i + 1}")
    finally:
        await db.close()


async def _rows(database_url: str) -> list[tuple[int, str]]:
    db = await storage.connect(database_url, readers=1, pool_size=2)
    try:
        return [(r["id"], r["v"]) for r in await db.fetch("SELECT id, v FROM drill ORDER BY id")]
    finally:
        await db.close()


@pytest.fixture(name="source")
async def source_fixture(tmp_path: Path, database_url: str) -> Settings:
    """A server's data: rows in the database, an uploaded file, and a half-uploaded one in attachments/tmp."""
    data_dir = tmp_path / "data"
    (data_dir / "attachments" / "ab").mkdir(parents=True)
    (data_dir / "attachments" / "tmp").mkdir()
    (data_dir / "attachments" / "ab" / "ab01").write_bytes(b"\x89PNG picture bytes")
    (data_dir / "attachments" / "tmp" / "x.part").write_bytes(b"half")
    await _fill(database_url.replace(str(tmp_path / "app.db"), str(data_dir / "app.db")), 3)
    env = env_for(data_dir, database_url.replace(str(tmp_path / "app.db"), str(data_dir / "app.db")))
    return Settings.from_env(env)


async def test_a_backup_restores_into_an_empty_place(source: Settings, tmp_path: Path, restore_url: str) -> None:
    result = await create_backup(source, BACKUP_KEY, tmp_path / "backups")
    assert result.manifest["backend"] == source.database_backend
    assert result.manifest["migration"] >= 17
    assert result.manifest["files"] == [{"name": "attachments/ab/ab01", "size": 18}]
    assert b"picture" not in result.path.read_bytes()

    target = RestoreTarget(tmp_path / "restored" / "data", restore_url)
    manifest = await restore_backup(result.path, BACKUP_KEY, target)
    assert manifest["created_at"] == result.manifest["created_at"]
    assert await _rows(restore_url) == [(1, "row 1"), (2, "row 2"), (3, "row 3")]
    assert (target.data_dir / "attachments" / "ab" / "ab01").read_bytes() == b"\x89PNG picture bytes"
    assert not (target.data_dir / "attachments" / "tmp").exists()
    # Nothing of the restore's staging is left beside the target.
    assert sorted(p.name for p in target.data_dir.parent.iterdir()) == ["data"]


async def test_restore_refuses_a_place_that_is_not_empty(source: Settings, tmp_path: Path, database_url: str) -> None:
    result = await create_backup(source, BACKUP_KEY, tmp_path / "backups")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(BackupError, match="is not empty"):
        await restore_backup(result.path, BACKUP_KEY, RestoreTarget(busy, f"sqlite:///{busy / 'app.db'}"))
    assert sorted(p.name for p in busy.iterdir()) == ["notes.txt"]
    # Onto the database the backup came from (it has tables, or its file exists).
    with pytest.raises(BackupError, match="restore only into an empty"):
        await restore_backup(result.path, BACKUP_KEY, RestoreTarget(tmp_path / "fresh", source.database_url))
    assert not (tmp_path / "fresh").exists()


@pytest.mark.parametrize("damage", ["wrong key", "changed byte", "cut short"])
async def test_a_wrong_key_or_a_damaged_archive_restores_nothing(
    source: Settings, tmp_path: Path, restore_url: str, damage: str
) -> None:
    result = await create_backup(source, BACKUP_KEY, tmp_path / "backups")
    sealed = bytearray(result.path.read_bytes())
    key = BACKUP_KEY
    if damage == "wrong key":
        key = os.urandom(32)
    elif damage == "changed byte":
        sealed[len(sealed) // 2] ^= 0x40
    else:
        del sealed[-100:]
    result.path.write_bytes(bytes(sealed))
    target = RestoreTarget(tmp_path / "restored" / "data", restore_url)
    with pytest.raises(BackupError, match=r"another BACKUP_KEY|does not authenticate|cut short"):
        await restore_backup(result.path, key, target)
    assert not target.data_dir.exists()
    assert sorted(p.name for p in target.data_dir.parent.iterdir()) == []
    if restore_url.startswith("postgresql"):
        with pytest.raises(Exception, match="drill"):
            await _rows(restore_url)


async def test_the_data_keyring_does_not_open_a_backup(source: Settings, tmp_path: Path, restore_url: str) -> None:
    result = await create_backup(source, BACKUP_KEY, tmp_path / "backups")
    data_key = source.encryption_keys[0][1]
    with pytest.raises(BackupError, match="another BACKUP_KEY"):
        await restore_backup(result.path, data_key, RestoreTarget(tmp_path / "restored" / "data", restore_url))


async def test_keep_prunes_the_oldest(source: Settings, tmp_path: Path) -> None:
    directory = tmp_path / "backups"
    directory.mkdir()
    leftover = directory / ".staging-killed"
    leftover.mkdir()
    os.utime(leftover, (time.time() - 2 * 86400, time.time() - 2 * 86400))
    made = [(await create_backup(source, BACKUP_KEY, directory, keep=2)).path for _ in range(4)]
    assert not leftover.exists()
    assert archives(directory) == made[-2:]
    assert prune(directory, 1) == [made[-2]]
    assert prune(directory, 0) == []
    assert archives(directory) == made[-1:]


async def test_a_scheduled_turn_skips_while_another_process_holds_the_lock(source: Settings, tmp_path: Path) -> None:
    directory = tmp_path / "backups"
    directory.mkdir()
    settings = Settings.from_env(
        env_for(source.data_dir, source.database_url, BACKUP_DIR=str(directory), BACKUP_INTERVAL="3600")
    )
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert await backup_once(settings) is None
    finally:
        os.close(fd)
    first = await backup_once(settings)
    assert first is not None
    # Another turn within the interval (another process's, say) finds a fresh backup and makes none.
    assert await backup_once(settings) is None
    assert archives(directory) == [first]


def test_production_needs_a_backup_key(tmp_path: Path) -> None:
    env = env_for(tmp_path, f"sqlite:///{tmp_path / 'app.db'}", APP_ENV="production", BACKUP_INTERVAL="3600")
    env.pop("BACKUP_KEY")
    with pytest.raises(ConfigError, match="BACKUP_INTERVAL needs BACKUP_KEY"):
        Settings.from_env(env)


def test_development_generates_a_backup_key_into_data_dir(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    env = env_for(tmp_path, f"sqlite:///{tmp_path / 'app.db'}")
    env.pop("BACKUP_KEY")
    settings = Settings.from_env(env)
    key, beside_data = backup_key(settings)
    assert beside_data
    assert len(key) == 32
    stored = orjson.loads((tmp_path / "secrets.json").read_bytes())
    assert base64.b64decode(stored["BACKUP_KEY"]) == key
    assert backup_key(settings)[0] == key
    assert "protects nothing" in caplog.text
    # Never the keyring's key.
    assert key not in {k for _, k in settings.encryption_keys}


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BACKUP_KEY", "DATA_DIR")}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_command_line_backs_up_prunes_and_refuses_a_busy_target(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    env = env_for(data, f"sqlite:///{data / 'app.db'}")
    assert run(["migrate"], env).returncode == 0
    outputs = [run(["backup", "--dir", str(tmp_path / "b"), "--keep", "2"], env) for _ in range(3)]
    assert [o.returncode for o in outputs] == [0, 0, 0], outputs[-1].stderr
    assert outputs[0].stdout.startswith(f"wrote {tmp_path / 'b'}/backup-")
    assert "deleted" in outputs[2].stdout
    assert len(archives(tmp_path / "b")) == 2
    newest = archives(tmp_path / "b")[-1]
    busy = run(["restore", str(newest)], env)
    assert busy.returncode == 1
    assert f"restore failed: DATA_DIR {data} is not empty" in busy.stderr
    fresh = tmp_path / "fresh"
    restored = run(["restore", str(newest)], {**env, "DATA_DIR": str(fresh), "DATABASE_URL": ""})
    assert restored.returncode == 0, restored.stderr
    assert "restored the backup of" in restored.stdout
    assert "not in a backup" in restored.stdout  # the secrets come from the environment
    assert not (fresh / "secrets.json").exists()
    assert (fresh / "app.db").exists()
    no_key = run(["restore", str(newest)], {**env, "DATA_DIR": str(tmp_path / "other"), "BACKUP_KEY": ""})
    assert no_key.returncode == 2
    assert "restore needs BACKUP_KEY" in no_key.stderr


async def test_the_server_backs_up_by_itself_every_interval(
    aiohttp_client: Any, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    directory = tmp_path / "scheduled"
    settings = make_settings(backup_interval=0.3, backup_dir=directory, backup_key=BACKUP_KEY, backup_keep=2)
    await aiohttp_client(create_app(settings))
    for _ in range(200):
        if len(archives(directory)) == 2:
            break
        await asyncio.sleep(0.05)
    first = archives(directory)
    assert len(first) == 2
    for _ in range(200):  # a third one comes, and the oldest goes
        if archives(directory)[-1] != first[-1]:
            break
        await asyncio.sleep(0.05)
    now = archives(directory)
    assert len(now) == 2
    assert now[0] == first[1]
