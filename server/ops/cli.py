"""The operator's command line: migrate, create-admin, rotate-keys, generate-key, backup, restore."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import os
import sys
from pathlib import Path

from server.auth.mail import LogMailer
from server.auth.outbox import MailOutbox
from server.auth.service import AccountService
from server.config import (
    ConfigError,
    Settings,
    load_or_create_dev_secrets,
    new_key,
    new_keyring_entry,
    save_dev_secrets,
)
from server.crypto.keyring import BlindIndex, Keyring
from server.crypto.rotate import rotate
from server.encoding import Base64Error, decode_base64
from server.errors import ApiError
from server.ops.backup import BackupError, RestoreTarget, backup_key, create_backup, restore_backup
from server.ops.logs import setup_logging
from server.storage import database as storage
from server.storage.accounts import AccountRepository
from server.storage.encrypted import ENCRYPTED_COLUMNS
from server.storage.migrations import migrate
from server.web.ratelimit import MemoryRateLimiter


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m server", description="Operate the realtime server.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply database migrations")
    admin = commands.add_parser("create-admin", help="create the first admin, or make an account an admin")
    admin.add_argument("--email", required=True)
    admin.add_argument("--name", default="Administrator", help="display name (default: Administrator)")
    rot = commands.add_parser("rotate-keys", help="re-encrypt every encrypted value with the primary key")
    rot.add_argument(
        "--new-key", action="store_true", help="development only: first add a new primary key to DATA_DIR/secrets.json"
    )
    rot.add_argument("--batch", type=int, default=500)
    commands.add_parser("generate-key", help="print a new ENCRYPTION_KEYS entry (keyid:base64key)")
    commands.add_parser("generate-backup-key", help="print a new BACKUP_KEY (32 bytes, base64)")
    backup = commands.add_parser("backup", help="write an encrypted backup of the database and uploads, live")
    backup.add_argument("--dir", type=Path, help="where to write it (default: BACKUP_DIR)")
    backup.add_argument("--keep", type=int, help="then delete all but the newest N backups (default: BACKUP_KEEP)")
    restore = commands.add_parser("restore", help="restore a backup into an empty DATA_DIR or database")
    restore.add_argument("archive", type=Path)
    return parser


async def _migrate(settings: Settings) -> int:
    db = await storage.connect(settings.database_url, readers=1, pool_size=2)
    try:
        applied = await migrate(db)
    finally:
        await db.close()
    print(f"applied {len(applied)} migration(s)" + (f": {', '.join(map(str, applied))}" if applied else ""))
    return 0


def _admin_password() -> str | None:
    if os.environ.get("ADMIN_PASSWORD"):
        return os.environ["ADMIN_PASSWORD"]
    if not sys.stdin.isatty():
        return None
    first = getpass.getpass("Password for the admin: ")
    if getpass.getpass("Repeat it: ") != first:
        raise ApiError("the two passwords differ", field="password")
    return first


async def _create_admin(settings: Settings, email: str, name: str) -> int:
    db = await storage.connect(settings.database_url, readers=1, pool_size=2)
    try:
        await migrate(db)
        blind = BlindIndex(settings.blind_index_key)
        keyring = Keyring(settings.encryption_keys)
        repo = AccountRepository(db, keyring, blind)
        outbox = MailOutbox.from_settings(settings, db, keyring, LogMailer(settings.smtp_from))  # never started
        service = AccountService.from_settings(
            settings, repo, outbox=outbox, limiter=MemoryRateLimiter(), blind_index=blind
        )
        password = None if await repo.user_by_email(email) else _admin_password()
        user, created = await service.ensure_admin(email=email, password=password, display_name=name)
    finally:
        await db.close()
    print(f"created admin {user.id}" if created else f"{user.id} already exists; it is an admin now")
    return 0


async def _rotate_keys(settings: Settings, batch: int) -> int:
    db = await storage.connect(settings.database_url, readers=1, pool_size=2)
    try:
        keyring = Keyring(settings.encryption_keys)
        done = await rotate(db, keyring, ENCRYPTED_COLUMNS, batch=batch)
    finally:
        await db.close()
    total = sum(done.values())
    print(
        f"re-encrypted {total} value(s) with key {keyring.primary_id}: "
        + ", ".join(f"{t} {n}" for t, n in done.items())
    )
    return 0


def _add_dev_key(settings: Settings) -> Settings:
    if settings.is_production or "ENCRYPTION_KEYS" in os.environ:
        raise ConfigError(
            "--new-key only works with development secrets; in production put the new key first "
            "in ENCRYPTION_KEYS, restart, then run rotate-keys"
        )
    stored = load_or_create_dev_secrets(settings.data_dir)
    stored["ENCRYPTION_KEYS"] = f"{new_keyring_entry()},{stored['ENCRYPTION_KEYS']}"
    save_dev_secrets(settings.data_dir, stored)
    print("added a new primary key to", settings.data_dir / "secrets.json", "(restart the server to use it)")
    return dataclasses.replace(settings, encryption_keys=()).with_secrets({})


async def _backup(settings: Settings, directory: Path | None, keep: int | None) -> int:
    key, beside_data = backup_key(settings)
    if beside_data:
        print(
            f"WARNING: BACKUP_KEY is not set; the development key in {settings.data_dir / 'secrets.json'} is used. "
            "A backup key kept beside the data protects nothing: in production set BACKUP_KEY and keep it elsewhere.",
            file=sys.stderr,
        )
    keep = settings.backup_keep if keep is None else keep
    if keep < 0:
        raise ConfigError("--keep must be 0 (keep all) or more")
    result = await create_backup(settings, key, directory or settings.backup_dir, keep=keep)
    size, files = result.path.stat().st_size, len(result.manifest["files"])
    print(f"wrote {result.path} ({size} bytes, migration {result.manifest['migration']}, {files} file(s))")
    for path in result.pruned:
        print(f"deleted {path}")
    return 0


async def _restore(archive: Path) -> int:
    env = dict(os.environ)
    target = RestoreTarget.from_env(env)
    if not env.get("BACKUP_KEY"):
        raise ConfigError(
            "restore needs BACKUP_KEY: the key the backup was made with (in development: BACKUP_KEY in the old "
            "DATA_DIR/secrets.json)"
        )
    key = _key_from_env(env)
    manifest = await restore_backup(archive, key, target)
    print(
        f"restored the backup of {manifest['created_at']} ({manifest['backend']}, migration {manifest['migration']}, "
        f"{len(manifest['files'])} file(s)) into {target.data_dir}"
        + (" and the database" if target.backend == "postgresql" else "")
    )
    if not manifest.get("secrets"):
        print(
            "start the server with the ENCRYPTION_KEYS, BLIND_INDEX_KEY, JWT_SECRET and VAPID_PRIVATE_KEY of the "
            "server that was backed up: they are not in a backup"
        )
    return 0


def _key_from_env(env: dict[str, str]) -> bytes:
    try:
        key = decode_base64(env["BACKUP_KEY"].strip())
    except Base64Error:
        key = b""
    if len(key) != 32:
        raise ConfigError("BACKUP_KEY must be 32 bytes, base64-encoded")
    return key


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Quiet by default: the commands print what they did. LOG_LEVEL is checked with the other settings.
    setup_logging("WARNING")
    if args.command == "generate-key":
        print(new_keyring_entry())
        return 0
    if args.command == "generate-backup-key":
        print(new_key())
        return 0
    try:
        if args.command == "restore":
            # Before Settings: reading them would generate development secrets into the empty target.
            return asyncio.run(_restore(args.archive))
        settings = Settings.from_env()
        if args.command == "migrate":
            return asyncio.run(_migrate(settings))
        if args.command == "create-admin":
            return asyncio.run(_create_admin(settings, args.email.strip(), args.name))
        if args.command == "rotate-keys":
            if args.new_key:
                settings = _add_dev_key(settings)
            return asyncio.run(_rotate_keys(settings, args.batch))
        if args.command == "backup":
            return asyncio.run(_backup(settings, args.dir, args.keep))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except ApiError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except BackupError as exc:
        print(f"{args.command} failed: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cannot reach the database: {exc}", file=sys.stderr)
        return 1
    return 2
