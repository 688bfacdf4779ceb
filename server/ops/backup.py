"""Backups while the server runs: a consistent copy of the database (SQLite's online backup API, or pg_dump in
its custom format) and the uploaded files, in one tar archive sealed with the backup key (server/ops/sealed.py);
pruning to the newest N; and restoring one into an empty DATA_DIR or database."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import secrets
import shutil
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson

from server.config import SECRETS_FILE, ConfigError, Settings, load_or_create_dev_secrets, new_key, save_dev_secrets
from server.encoding import Base64Error, decode_base64
from server.ops.sealed import SealedError, SealedReader, SealedWriter
from server.storage.migrations import load as load_migrations

log = logging.getLogger(__name__)

FORMAT = 1
SUFFIX = ".rtbk"
PREFIX = "backup-"
_SQLITE_FILE = "database/app.db"
_PG_FILE = "database/db.dump"
_MANIFEST = "manifest.json"
_FILES = "files"
# DATA_DIR's folders of uploaded files (temporary parts of uploads in flight are left out).
_UPLOAD_DIRS = ("attachments",)
_SKIPPED_DIRS = ("tmp",)


class BackupError(Exception):
    """A backup or a restore could not be made; the message says why, and nothing was left half done."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: dict[str, Any]
    pruned: list[Path]


def backup_key(settings: Settings) -> tuple[bytes, bool]:
    """The backup key and whether it was generated beside the data (development only, never in production)."""
    if settings.backup_key:
        return settings.backup_key, False
    if settings.is_production:
        raise ConfigError(
            "BACKUP_KEY is not set: production backups need their own key (32 bytes, base64), kept away from "
            "the data and from ENCRYPTION_KEYS"
        )
    stored = load_or_create_dev_secrets(settings.data_dir)
    if "BACKUP_KEY" not in stored:
        stored["BACKUP_KEY"] = new_key()
        save_dev_secrets(settings.data_dir, stored)
    try:
        key = decode_base64(stored["BACKUP_KEY"])
    except Base64Error:
        key = b""
    if len(key) != 32:
        raise ConfigError(f"BACKUP_KEY in {settings.data_dir / SECRETS_FILE} is not 32 bytes, base64-encoded")
    log.warning(
        "BACKUP_KEY is not set: using a development key kept in %s, beside the data. A backup key kept beside "
        "the data protects nothing; in production set BACKUP_KEY and keep it somewhere else",
        settings.data_dir / SECRETS_FILE,
    )
    return key, True


def _pg_target(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and the environment that gives the password to pg_dump/pg_restore (so it is
    never on a command line other users can see)."""
    parts = urlsplit(url.replace("postgres://", "postgresql://", 1))
    env = dict(os.environ)
    if parts.password is not None:
        env["PGPASSWORD"] = parts.password
        host = parts.netloc.rsplit("@", 1)[1]
        user = parts.username or ""
        parts = parts._replace(netloc=f"{user}@{host}" if user else host)
    return urlunsplit(parts), env


async def _run(*args: str, env: dict[str, str]) -> None:
    try:
        proc = await asyncio.create_subprocess_exec(
            *args,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError:
        raise BackupError(f"{args[0]} is not installed (Debian: apt-get install postgresql-client)") from None
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise BackupError(f"{args[0]} failed: {err.decode(errors='replace').strip()}")


def _sqlite_snapshot(source: Path, target: Path) -> int:
    """Copy the live database with SQLite's online backup API in one step (one read transaction: a consistent
    snapshot that does not stop the writer, in WAL); returns the snapshot's migration version."""
    if not source.exists():
        raise BackupError(f"there is no database at {source}")
    src = sqlite3.connect(source, timeout=30)  # only read from; read-only would need WAL's -shm to exist
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=-1)
        row = dst.execute("SELECT max(version) FROM schema_migrations").fetchone()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot back up {source}: {exc}") from exc
    finally:
        dst.close()
        src.close()
    return int(row[0] or 0)


async def _pg_version(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations") or 0)
    finally:
        await conn.close()


def _uploads(data_dir: Path) -> Iterator[tuple[Path, str]]:
    """(file, its name in the archive) for every uploaded file, sorted."""
    for folder in _UPLOAD_DIRS:
        root = data_dir / folder
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            if Path(dirpath) == root:
                dirnames[:] = [d for d in dirnames if d not in _SKIPPED_DIRS]
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                yield path, f"{_FILES}/{path.relative_to(data_dir).as_posix()}"


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def _write_archive(
    target: Path,
    key: bytes,
    database: tuple[Path, str],
    data_dir: Path,
    manifest: dict[str, Any],
    secrets_file: Path | None,
) -> dict[str, Any]:
    files: list[dict[str, Any]] = []
    part = target.with_name(target.name + ".part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            sealed = SealedWriter(out, key, salt=secrets.token_bytes(16))
            with tarfile.open(fileobj=sealed, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                tar.add(database[0], arcname=database[1], recursive=False)
                with_secrets = secrets_file is not None and secrets_file.exists()
                if secrets_file is not None and with_secrets:
                    tar.add(secrets_file, arcname=SECRETS_FILE, recursive=False)
                for path, name in _uploads(data_dir):
                    try:
                        tar.add(path, arcname=name, recursive=False)
                    except FileNotFoundError:  # swept since it was listed: it is no longer referenced
                        continue
                    files.append({"name": name.removeprefix(f"{_FILES}/"), "size": tar.members[-1].size})
                manifest = {**manifest, "secrets": with_secrets, "files": files}
                _add_bytes(tar, _MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
            sealed.close()
            out.flush()
            os.fsync(out.fileno())
        os.replace(part, target)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return manifest


def archive_name(moment: datetime) -> str:
    """backup-20261206T183000.123Z.rtbk: names sort in time order."""
    return f"{PREFIX}{moment:%Y%m%dT%H%M%S}.{moment.microsecond // 1000:03d}Z{SUFFIX}"


def archives(directory: Path) -> list[Path]:
    """The backups in `directory`, oldest first."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.name.startswith(PREFIX) and p.name.endswith(SUFFIX))


def _sweep_leftovers(directory: Path, age: float = 86400.0) -> None:
    """Remove what a backup killed half-way left behind (its staging folder, its unfinished archive)."""
    limit = time.time() - age
    for path in directory.iterdir() if directory.is_dir() else ():
        stale = path.name.startswith(".staging-") or path.name.endswith(f"{SUFFIX}.part")
        if stale and path.stat().st_mtime < limit:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups (0 keeps them all); returns those deleted."""
    _sweep_leftovers(directory)
    if keep <= 0:
        return []
    old = archives(directory)[:-keep]
    for path in old:
        path.unlink(missing_ok=True)
    return old


async def create_backup(settings: Settings, key: bytes, directory: Path, *, keep: int = 0) -> BackupResult:
    """Write a backup of the running server's data into `directory`, then prune to the newest `keep`."""
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    started = datetime.now(UTC)
    target = directory / archive_name(started)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "backend": settings.database_backend,
        "created_at": started.isoformat(),
    }
    with tempfile.TemporaryDirectory(dir=directory, prefix=".staging-") as staging:
        # The database first: every upload a row of the snapshot names was written before its row, so it is on
        # disk when the files are read afterwards.
        if settings.database_backend == "sqlite":
            dump = Path(staging) / "app.db"
            manifest["migration"] = await asyncio.to_thread(_sqlite_snapshot, settings.sqlite_path, dump)
            database = (dump, _SQLITE_FILE)
        else:
            url, env = _pg_target(settings.database_url)
            manifest["migration"] = await _pg_version(settings.database_url)
            dump = Path(staging) / "db.dump"
            await _run("pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={dump}", url, env=env)
            database = (dump, _PG_FILE)
        # Development secrets (the keyring among them) go along, so a restored development copy reads its data;
        # production secrets live in the environment and never enter a backup.
        dev_secrets = None if settings.is_production else settings.data_dir / SECRETS_FILE
        manifest = await asyncio.to_thread(
            _write_archive, target, key, database, settings.data_dir, manifest, dev_secrets
        )
    pruned = prune(directory, keep)
    return BackupResult(target, manifest, pruned)


# -- restoring ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestoreTarget:
    """Where a restore goes: the DATA_DIR and DATABASE_URL the restored server will run on."""

    data_dir: Path
    database_url: str

    @property
    def backend(self) -> str:
        return "postgresql" if self.database_url.startswith(("postgresql:", "postgres:")) else "sqlite"

    @property
    def sqlite_path(self) -> Path:
        return Path(self.database_url.removeprefix("sqlite://").removeprefix("/"))

    @classmethod
    def from_env(cls, environ: dict[str, str]) -> RestoreTarget:
        """Read as Settings reads them, without generating development secrets into the (empty) target."""
        data_dir = Path(environ.get("DATA_DIR", "").strip() or "./data")
        url = environ.get("DATABASE_URL", "").strip() or f"sqlite:///{data_dir / 'app.db'}"
        if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ConfigError("DATABASE_URL must start with sqlite:/// or postgresql://")
        return cls(data_dir, url)


async def _pg_tables(url: str) -> int:
    try:
        conn = await asyncpg.connect(url)
    except (OSError, asyncpg.PostgresError) as exc:
        raise BackupError(f"cannot reach the database to restore into: {exc}") from exc
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
            )
        )
    finally:
        await conn.close()


async def _refuse_non_empty(target: RestoreTarget) -> None:
    if target.data_dir.exists() and any(target.data_dir.iterdir()):
        raise BackupError(f"DATA_DIR {target.data_dir} is not empty: restore only into an empty one")
    if target.backend == "sqlite":
        if target.sqlite_path.exists():
            raise BackupError(f"the database {target.sqlite_path} already exists: restore only into an empty place")
    elif await _pg_tables(target.database_url):
        raise BackupError("the database DATABASE_URL names has tables: restore only into an empty database")


def _unseal(archive: Path, key: bytes, staging: Path) -> dict[str, Any]:
    """Extract the whole archive into `staging`, authenticating every byte; returns its manifest."""
    try:
        with archive.open("rb") as fh:
            reader = SealedReader(fh, key)
            with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
                tar.extractall(staging, filter="data")
            reader.finish()
    except SealedError as exc:
        raise BackupError(str(exc)) from None
    except tarfile.TarError as exc:
        raise BackupError(f"the archive's contents are not a backup: {exc}") from exc
    try:
        manifest: dict[str, Any] = orjson.loads((staging / _MANIFEST).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise BackupError("the archive has no manifest") from exc
    return manifest


def _check_manifest(manifest: dict[str, Any], target: RestoreTarget) -> None:
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup format {manifest.get('format')!r} is not known to this version")
    if manifest.get("backend") != target.backend:
        raise BackupError(
            f"this is a backup of a {manifest.get('backend')} database; DATABASE_URL names {target.backend}"
        )
    newest = max((m.version for m in load_migrations(target.backend)), default=0)
    if int(manifest.get("migration", 0)) > newest:
        raise BackupError(
            f"this backup is at migration {manifest.get('migration')}, newer than this version knows ({newest})"
        )


def _place(staging: Path, target: RestoreTarget) -> None:
    target.data_dir.mkdir(parents=True, exist_ok=True)
    uploads = staging / _FILES
    if uploads.is_dir():
        for entry in uploads.iterdir():
            shutil.move(entry, target.data_dir / entry.name)
    if (staging / SECRETS_FILE).exists():
        shutil.move(staging / SECRETS_FILE, target.data_dir / SECRETS_FILE)
    if target.backend == "sqlite":
        target.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(staging / _SQLITE_FILE, target.sqlite_path)


async def restore_backup(archive: Path, key: bytes, target: RestoreTarget) -> dict[str, Any]:
    """Restore `archive` into `target`, which must be empty. The whole archive is authenticated before anything
    is put in place: a wrong key or a damaged archive restores nothing."""
    if not await asyncio.to_thread(archive.is_file):
        raise BackupError(f"no backup archive at {archive}")
    await _refuse_non_empty(target)
    parent = target.data_dir.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    created_dir = not target.data_dir.exists()
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=".restore-"))
    try:
        manifest = await asyncio.to_thread(_unseal, archive, key, staging)
        _check_manifest(manifest, target)
        if target.backend == "postgresql":
            url, env = _pg_target(target.database_url)
            args = ("--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction")
            await _run("pg_restore", *args, f"--dbname={url}", str(staging / _PG_FILE), env=env)
        await asyncio.to_thread(_place, staging, target)
    except BaseException:
        if created_dir and target.data_dir.exists():
            shutil.rmtree(target.data_dir, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest
