"""Scheduled backups inside the server process: every BACKUP_INTERVAL seconds, a backup into BACKUP_DIR, pruned to
the newest BACKUP_KEEP. Several processes on one machine sharing BACKUP_DIR take turns through a lock file there
and skip a turn when another already made a fresh backup; processes on other machines need a BACKUP_DIR of their
own or no BACKUP_INTERVAL (README, Operations)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from aiohttp import web

from server.config import Settings
from server.keys import settings_key
from server.ops.backup import archives, backup_key, create_backup

log = logging.getLogger(__name__)

LOCK_FILE = ".backup.lock"


def setup(app: web.Application) -> None:
    if app[settings_key].backup_interval > 0:
        app.cleanup_ctx.append(_scheduler_ctx)


async def _scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(run_scheduled(app[settings_key]), name="backup-scheduler")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@contextlib.contextmanager
def _turn(directory: Path) -> Iterator[bool]:
    """True while this process holds the backup lock of `directory`; False if another one does."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing the descriptor lets go of the lock


async def backup_once(settings: Settings) -> Path | None:
    """One scheduled turn: a backup unless another process holds the lock or made one within the interval."""
    directory = settings.backup_dir
    with _turn(directory) as mine:
        if not mine:
            log.info("backup skipped: another process is making one in %s", directory)
            return None
        newest = archives(directory)
        if newest and time.time() - newest[-1].stat().st_mtime < settings.backup_interval * 0.9:
            log.info("backup skipped: %s is recent enough", newest[-1].name)
            return None
        key, _ = backup_key(settings)
        started = time.monotonic()
        result = await create_backup(settings, key, directory, keep=settings.backup_keep)
    log.info(
        "backup written",
        extra={
            "path": str(result.path),
            "bytes": result.path.stat().st_size,
            "files": len(result.manifest["files"]),
            "ms": round((time.monotonic() - started) * 1000),
            "pruned": [p.name for p in result.pruned],
        },
    )
    return result.path


async def run_scheduled(settings: Settings) -> None:
    """Back up every `backup_interval` seconds, the first one an interval after start; a failed backup is logged
    and the next turn tries again."""
    while True:
        await asyncio.sleep(settings.backup_interval)
        try:
            await backup_once(settings)
        except Exception:
            log.exception("scheduled backup failed")
