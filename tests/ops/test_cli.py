"""The operator's command line, run as an operator would: `python -m server ...` in a subprocess."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from server.storage.migrations import load

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "ADMIN_PASSWORD")}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        input=stdin,
        check=False,
    )


def test_create_admin_is_safe_to_run_twice(tmp_path: Path, database_url: str) -> None:
    env = {"DATA_DIR": str(tmp_path), "DATABASE_URL": database_url, "ADMIN_PASSWORD": "a long admin password"}
    first = run(["create-admin", "--email", "Root@Example.test"], env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("created admin ")
    second = run(["create-admin", "--email", "root@example.test"], env)
    assert second.returncode == 0, second.stderr
    assert "already exists; it is an admin now" in second.stdout
    if database_url.startswith("sqlite"):
        count = sqlite3.connect(tmp_path / "app.db").execute("SELECT count(*), min(role) FROM users").fetchone()
        assert count == (1, "admin")


def test_create_admin_needs_a_password(tmp_path: Path, database_url: str) -> None:
    result = run(
        ["create-admin", "--email", "x@example.test"], {"DATA_DIR": str(tmp_path), "DATABASE_URL": database_url}
    )
    assert result.returncode == 1
    assert "password" in result.stderr
    short = run(
        ["create-admin", "--email", "x@example.test"],
        {"DATA_DIR": str(tmp_path), "DATABASE_URL": database_url, "ADMIN_PASSWORD": "short"},
    )
    assert short.returncode == 1
    assert "at least 10 characters" in short.stderr


def test_migrate_and_bad_config(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path)}
    first = run(["migrate"], env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"applied {len(load('sqlite'))} migration(s): 1, 2, ")
    again = run(["migrate"], env)
    assert again.stdout.strip() == "applied 0 migration(s)"
    bad = run(["migrate"], {**env, "DATABASE_URL": "mysql://nope"})
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("configuration error: DATABASE_URL")
    assert "Traceback" not in bad.stderr


def test_rotate_keys_with_a_new_development_key(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path), "ADMIN_PASSWORD": "a long admin password"}
    assert run(["create-admin", "--email", "a@example.test"], env).returncode == 0
    result = run(["rotate-keys", "--new-key"], env)
    assert result.returncode == 0, result.stderr
    assert "re-encrypted 2 value(s)" in result.stdout  # e-mail and display name
    again = run(["rotate-keys"], env)
    assert "re-encrypted 0 value(s)" in again.stdout
    # The account still reads back under the new keyring.
    assert "already exists" in run(["create-admin", "--email", "a@example.test"], env).stdout


def test_generate_key() -> None:
    result = run(["generate-key"], {})
    kid, _, key = result.stdout.strip().partition(":")
    assert kid.startswith("k")
    assert len(key) == 44
