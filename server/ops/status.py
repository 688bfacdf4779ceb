"""The admins' status page (GET /api/admin/status): the figures an operator looks at first, read live from the
objects that own them — open WebSockets, rows written per second over the last minute, each batch writer, the
database's size, the version running and how long it has been up."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import time
import tomllib
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from server.auth.guard import require_admin
from server.keys import database_key, metrics_key
from server.ops import statusdoc
from server.ops.metrics import Metrics
from server.storage.database import Database, size_on_disk
from server.web.openapi import add_part

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

SAMPLE_SECONDS = 5.0  # how often the committed-row count is sampled for the rate
WINDOW_SECONDS = 60.0  # the rate is over this long (less just after start)
REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "realtime-server"


@dataclass
class WriteRate:
    """Rows committed by every batch writer, sampled every few seconds, so the rate over the last minute needs no
    work per write. `clock` is monotonic."""

    metrics: Metrics
    clock: Callable[[], float] = time.monotonic
    samples: deque[tuple[float, int]] = field(default_factory=deque)

    def total(self) -> int:
        return sum(writer.stats.rows for writer in self.metrics.writers)

    def sample(self) -> None:
        now = self.clock()
        self.samples.append((now, self.total()))
        while len(self.samples) > 1 and now - self.samples[1][0] >= WINDOW_SECONDS:
            self.samples.popleft()

    def per_second(self) -> tuple[float, float]:
        """(rows per second, the seconds it is measured over): from the oldest sample in the window to now."""
        now, total = self.clock(), self.total()
        if not self.samples:
            return 0.0, 0.0
        since, then = self.samples[0]
        span = now - since
        return ((total - then) / span if span > 0 else 0.0), span


@dataclass
class ServerFacts:
    started_at: float  # wall clock, for people
    started_monotonic: float  # for the uptime
    version: str
    revision: str | None
    rate: WriteRate


facts_key: web.AppKey[ServerFacts] = web.AppKey("server_facts")


def package_version(root: Path = REPO_ROOT) -> str:
    """The installed package's version, else pyproject.toml's (run from a checkout, as `make run` does)."""
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        with (root / "pyproject.toml").open("rb") as file:
            return str(tomllib.load(file)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


async def git_revision(root: Path = REPO_ROOT) -> str | None:
    """The short commit the code runs from, when it runs from a git checkout (not in a built image)."""
    if not (root / ".git").exists():
        return None
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            "-C",
            str(root),
            "rev-parse",
            "--short=12",
            "HEAD",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=5.0)
    except (OSError, TimeoutError):
        return None
    revision = out.decode().strip()
    return revision if proc.returncode == 0 and revision else None


async def database_bytes(db: Database) -> int | None:
    """The database's size on disk (see `size_on_disk`), or None when it cannot be read just now."""
    try:
        return await size_on_disk(db)
    except Exception as exc:  # noqa: BLE001 - the page shows the other figures; the size says unknown
        log.warning("database size: %s", type(exc).__name__)
        return None


async def _sampler(rate: WriteRate) -> None:
    while True:
        rate.sample()
        await asyncio.sleep(SAMPLE_SECONDS)


async def _facts_ctx(app: web.Application) -> AsyncIterator[None]:
    rate = WriteRate(app[metrics_key])
    app[facts_key] = ServerFacts(time.time(), time.monotonic(), package_version(), await git_revision(), rate)
    task = asyncio.create_task(_sampler(rate), name="status-write-rate")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def status_view(facts: ServerFacts, metrics: Metrics, db: Database, size: int | None) -> dict[str, Any]:
    rate, span = facts.rate.per_second()
    return {
        "websockets": metrics.open_websockets(),
        "writes_per_second": round(rate, 2),
        "writes_window_seconds": round(span, 1),
        "writers": [
            {
                "name": writer.name,
                "queued": writer.queued,
                "batches": writer.stats.batches,
                "rows": writer.stats.rows,
                "failed_rows": writer.stats.failed_rows,
                "refused_full": writer.stats.refused_full,
                "last_batch_rows": writer.stats.last_batch_rows,
                "last_commit_ms": round(writer.stats.last_commit_seconds * 1000, 3),
            }
            for writer in metrics.writers
        ],
        "database": {"backend": db.backend, "size_bytes": size, "connections": db.stats()},
        "version": facts.version,
        "revision": facts.revision,
        "started_at": round(facts.started_at, 3),
        "uptime_seconds": round(time.monotonic() - facts.started_monotonic, 1),
        "now": round(time.time(), 3),
    }


@routes.get("/api/admin/status")
async def admin_status(request: web.Request) -> web.Response:
    await require_admin(request)
    app = request.app
    db = app[database_key]
    view = status_view(app[facts_key], app[metrics_key], db, await database_bytes(db))
    return web.json_response(view, headers={"Cache-Control": "no-store"})


def setup(app: web.Application) -> None:
    app.add_routes(routes)
    app.cleanup_ctx.append(_facts_ctx)
    add_part(app, statusdoc)
