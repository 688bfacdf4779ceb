"""Settings from the environment: defaults, clear failures, production's demands, development's generated secrets."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from server.config import ConfigError, Settings

KEY = base64.b64encode(b"k" * 32).decode()
SECRETS = {
    "ENCRYPTION_KEYS": f"main:{KEY}",
    "BLIND_INDEX_KEY": KEY,
    "JWT_SECRET": KEY,
    "VAPID_PRIVATE_KEY": "a" * 43,  # any P-256 scalar below the group order, base64url
}


def test_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env({"DATA_DIR": str(tmp_path)})
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.database_url == f"sqlite:///{tmp_path}/app.db"
    assert settings.sqlite_path == tmp_path / "app.db"
    assert settings.database_backend == "sqlite"
    assert settings.redis_url is None
    assert settings.smtp_host is None
    assert settings.public_url == "http://127.0.0.1:8080"
    assert settings.app_env == "development"
    assert settings.turn_secret is None
    assert settings.mqtt_url is None


def test_development_secrets_generated_once_with_mode_0600(tmp_path: Path) -> None:
    first = Settings.from_env({"DATA_DIR": str(tmp_path)})
    path = tmp_path / "secrets.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert set(first.generated_secrets) == {"ENCRYPTION_KEYS", "BLIND_INDEX_KEY", "JWT_SECRET", "VAPID_PRIVATE_KEY"}
    second = Settings.from_env({"DATA_DIR": str(tmp_path)})
    assert second.encryption_keys == first.encryption_keys
    assert second.jwt_secret == first.jwt_secret
    assert len(first.encryption_keys[0][1]) == 32


def test_production_refuses_missing_or_generated_secrets(tmp_path: Path) -> None:
    Settings.from_env({"DATA_DIR": str(tmp_path)})  # leaves generated secrets in DATA_DIR
    with pytest.raises(ConfigError, match="production needs explicit secrets; missing: ENCRYPTION_KEYS"):
        Settings.from_env({"DATA_DIR": str(tmp_path), "APP_ENV": "production"})
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        Settings.from_env(
            {"DATA_DIR": str(tmp_path), "APP_ENV": "production", "ENCRYPTION_KEYS": f"a:{KEY}", "BLIND_INDEX_KEY": KEY}
        )
    ok = Settings.from_env({"DATA_DIR": str(tmp_path / "p"), "APP_ENV": "production", **SECRETS})
    assert ok.generated_secrets == ()
    assert not (tmp_path / "p" / "secrets.json").exists()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "eighty"}, "PORT must be an integer"),
        ({"PORT": "70000"}, "PORT must be between 0 and 65535"),
        ({"APP_ENV": "staging"}, "APP_ENV must be one of"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL must start with"),
        ({"DATABASE_URL": "sqlite:data.db"}, "sqlite:///"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL must start with redis://"),
        ({"MQTT_URL": "tcp://x"}, "MQTT_URL must start with mqtt://"),
        ({"MQTT_ADMIN_USERNAME": "admin"}, "MQTT_ADMIN_USERNAME and MQTT_ADMIN_PASSWORD go together"),
        ({"MQTT_ADMIN_PASSWORD": "secret"}, "MQTT_ADMIN_USERNAME and MQTT_ADMIN_PASSWORD go together"),
        ({"SMTP_PORT": "0"}, "SMTP_PORT must be between"),
        ({"ENCRYPTION_KEYS": "nocolon"}, "keyid:base64key"),
        ({"ENCRYPTION_KEYS": "a:c2hvcnQ="}, "must be 32 bytes"),
        ({"ENCRYPTION_KEYS": f"a:{KEY},a:{KEY}"}, "twice"),
        ({"JWT_SECRET": "!!"}, "JWT_SECRET must be 32 bytes"),
        ({"WS_MAX_BUFFERED_BYTES": "100"}, "WS_MAX_BUFFERED_BYTES must be between 1024"),
    ],
)
def test_bad_values_fail_with_a_message_naming_them(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"DATA_DIR": str(tmp_path), **env})


def test_the_mqtt_admin_password_is_read_but_never_shown(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path), "MQTT_ADMIN_USERNAME": "admin", "MQTT_ADMIN_PASSWORD": "s3cret-pw"}
    settings = Settings.from_env(env)
    assert (settings.mqtt_admin_username, settings.mqtt_admin_password) == ("admin", "s3cret-pw")
    assert "s3cret-pw" not in repr(settings)


def test_several_problems_are_named_together(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"DATA_DIR": str(tmp_path), "PORT": "x", "SMTP_PORT": "y"})
    assert "PORT" in str(info.value)
    assert "SMTP_PORT" in str(info.value)


def test_explicit_values(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "HOST": "0.0.0.0",
            "PORT": "9000",
            "DATA_DIR": str(tmp_path),
            "DATABASE_URL": "postgresql://u@h/db",
            "REDIS_URL": "redis://localhost:6379/0",
            "PUBLIC_URL": "https://chat.example/",
            "TURN_URLS": "turn:a, turns:b",
            "ENCRYPTION_KEYS": f"new:{KEY}, old:{base64.b64encode(b'o' * 32).decode()}",
            "BLIND_INDEX_KEY": KEY,
            "JWT_SECRET": KEY,
            "WS_MAX_BUFFERED_BYTES": "65536",
        }
    )
    assert settings.database_backend == "postgresql"
    assert settings.ws_max_buffered_bytes == 65536
    assert settings.public_url == "https://chat.example"
    assert settings.turn_urls == ("turn:a", "turns:b")
    assert [kid for kid, _ in settings.encryption_keys] == ["new", "old"]


def test_production_refuses_the_placeholders_of_env_example(tmp_path: Path) -> None:
    env = {"APP_ENV": "production", "DATA_DIR": str(tmp_path), **SECRETS}
    with pytest.raises(ConfigError, match="TURN_SECRET still holds the placeholder"):
        Settings.from_env({**env, "TURN_SECRET": "change-me-turn-secret"})
    with pytest.raises(ConfigError, match="PGPASSWORD still holds the placeholder"):
        Settings.from_env({**env, "PGPASSWORD": "change-me-postgres-password"})
    assert Settings.from_env({**env, "TURN_SECRET": "a real one"}).turn_secret == "a real one"
    # Development takes anything: the placeholders are about deployments made from .env.example.
    assert Settings.from_env({"DATA_DIR": str(tmp_path), "TURN_SECRET": "change-me"}).turn_secret == "change-me"


def test_slow_query_ms(tmp_path: Path) -> None:
    assert Settings.from_env({"DATA_DIR": str(tmp_path)}).slow_query_ms == 200.0
    assert Settings.from_env({"DATA_DIR": str(tmp_path), "SLOW_QUERY_MS": "0"}).slow_query_ms == 0.0
    with pytest.raises(ConfigError, match="SLOW_QUERY_MS"):
        Settings.from_env({"DATA_DIR": str(tmp_path), "SLOW_QUERY_MS": "-1"})
