"""WORKERS: several processes need PostgreSQL and Redis, and say so clearly when either is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from server.config import ConfigError, Settings
from tests.e2e.server_process import REPO_ROOT, server_env

PG = "postgresql://app@127.0.0.1/app"
REDIS = "redis://127.0.0.1:6379/0"


def test_one_worker_by_default(tmp_path: Path) -> None:
    assert Settings.from_env({"DATA_DIR": str(tmp_path)}).workers == 1


def test_several_workers_on_postgresql_and_redis(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path), "WORKERS": "4", "DATABASE_URL": PG, "REDIS_URL": REDIS}
    assert Settings.from_env(env).workers == 4


@pytest.mark.parametrize(
    "env",
    [
        {"WORKERS": "2"},  # SQLite, no Redis
        {"WORKERS": "2", "REDIS_URL": REDIS},  # SQLite: one writer per file
        {"WORKERS": "2", "DATABASE_URL": PG},  # no Redis: no shared fan-out or presence
    ],
)
def test_several_workers_without_postgresql_or_redis_are_refused(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="WORKERS=2 needs DATABASE_URL=postgresql"):
        Settings.from_env({"DATA_DIR": str(tmp_path), **env})


def test_workers_and_metrics_ports_must_fit(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path), "WORKERS": "3", "DATABASE_URL": PG, "REDIS_URL": REDIS, "METRICS_PORT": "65534"}
    with pytest.raises(ConfigError, match="METRICS_PORT \\+ WORKERS - 1 must be at most 65535"):
        Settings.from_env(env)


@pytest.mark.parametrize("value", ["0", "65", "two"])
def test_workers_is_a_small_positive_number(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="WORKERS"):
        Settings.from_env({"DATA_DIR": str(tmp_path), "WORKERS": value})


def test_run_py_refuses_several_workers_on_sqlite_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "run.py"],
        cwd=REPO_ROOT,
        env=server_env(tmp_path, 0, {"WORKERS": "2"}),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert b"configuration error: WORKERS=2 needs DATABASE_URL=postgresql://... and REDIS_URL" in done.stderr
