"""The operator's command line: migrate, create-admin, rotate-keys, generate-key."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import os
import sys

from server.auth.mail import LogMailer
from server.auth.outbox import MailOutbox
from server.auth.service import AccountService
from server.config import (
    ConfigError,
    Settings,
    load_or_create_dev_secrets,
    new_keyring_entry,
    save_dev_secrets,
)
from server.crypto.keyring import BlindIndex, Keyring
from server.crypto.rotate import rotate
from server.errors import ApiError
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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Quiet by default: the commands print what they did. LOG_LEVEL is checked with the other settings.
    setup_logging("WARNING")
    if args.command == "generate-key":
        print(new_keyring_entry())
        return 0
    try:
        settings = Settings.from_env()
        if args.command == "migrate":
            return asyncio.run(_migrate(settings))
        if args.command == "create-admin":
            return asyncio.run(_create_admin(settings, args.email.strip(), args.name))
        if args.command == "rotate-keys":
            if args.new_key:
                settings = _add_dev_key(settings)
            return asyncio.run(_rotate_keys(settings, args.batch))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except ApiError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cannot reach the database: {exc}", file=sys.stderr)
        return 1
    return 2
