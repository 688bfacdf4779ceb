"""Numbered schema migrations, applied in order at start and by `python -m server migrate`.

Files are `NNNN_name.sql` for SQL both backends share, or `NNNN_name.sqlite.sql` and
`NNNN_name.postgresql.sql` where the SQL must differ. Each migration runs in one transaction.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from server.storage.database import Database

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+?)(?:\.(sqlite|postgresql))?\.sql$")
# Any constant works; it only has to be the same in every process that migrates this database.
_PG_LOCK_ID = 7_233_001


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load(backend: str, directory: Path = HERE) -> list[Migration]:
    """The migrations for `backend`, in order; a version with files for neither backend is an error."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name not understood: {path.name}")
        version, name, only = int(match[1]), match[2], match[3]
        if only is not None and only != backend:
            continue
        if version in found:
            raise ValueError(f"two migrations numbered {version:04d}")
        found[version] = Migration(version, name, path.read_text())
    return [found[v] for v in sorted(found)]


def split_statements(script: str) -> list[str]:
    """Split a script into complete statements (SQLite runs one statement per call)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(ln.strip().startswith("--") for ln in buffer.strip().splitlines()):
        raise ValueError("migration ends with an incomplete statement")
    return statements


async def migrate(db: Database) -> list[int]:
    """Apply every migration not applied yet; returns the versions applied now."""
    applied_now: list[int] = []
    for migration in load(db.backend):
        async with db.transaction() as tx:
            if db.backend == "postgresql":
                # Several processes may start at once; one migrates, the others wait and then see it done.
                await tx.execute(f"SELECT pg_advisory_xact_lock({_PG_LOCK_ID})")
            await tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
            )
            done = await tx.fetchval("SELECT 1 FROM schema_migrations WHERE version = $1", migration.version)
            if done:
                continue
            for statement in split_statements(migration.sql):
                await tx.execute(statement)
            await tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                time.time(),
            )
            applied_now.append(migration.version)
            log.info("applied migration %04d_%s", migration.version, migration.name)
    return applied_now
