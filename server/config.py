"""Settings: one frozen dataclass read from the environment; a bad value fails fast with a clear message."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from cryptography.hazmat.primitives.asymmetric import ec

from server.encoding import Base64Error, decode_base64, decode_base64url, encode_base64, encode_base64url

log = logging.getLogger(__name__)

SECRETS_FILE = "secrets.json"
# .env.example's secrets start with this; production refuses them (docker-compose.yml passes them in these names).
PLACEHOLDER = "change-me"
_SECRET_NAMES = (
    "ENCRYPTION_KEYS",
    "BLIND_INDEX_KEY",
    "JWT_SECRET",
    "VAPID_PRIVATE_KEY",
    "PGPASSWORD",
    "TURN_SECRET",
    "MQTT_ADMIN_PASSWORD",
)
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class RateLimit:
    """At most `count` attempts per `seconds` window."""

    count: int
    seconds: float


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("./data")
    database_url: str = ""
    redis_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "noreply@localhost"
    # The mail outbox: attempts per mail before it is kept as failed, and the wait after the first failed
    # attempt (doubling after each one, up to an hour, with jitter).
    mail_max_attempts: int = 10
    mail_retry_seconds: float = 30.0
    public_url: str = ""
    app_env: str = "development"
    # Keyring: key id -> 32-byte key; the first listed is primary.
    encryption_keys: tuple[tuple[str, bytes], ...] = ()
    blind_index_key: bytes = b""
    jwt_secret: bytes = b""
    turn_secret: str | None = None
    turn_urls: tuple[str, ...] = ()
    turn_ttl_seconds: int = 6 * 3600  # how long a TURN credential from /api/calls/ice-servers is good for
    rate_call_invite: RateLimit = RateLimit(10, 60)  # call invites per user (no ring spam)
    call_max_participants: int = 8  # in one group call on the SFU
    call_max_rooms: int = 20  # group calls one process carries at once
    # The TURN URL the SFU itself allocates relays on (default: the first of TURN_URLS), as the server reaches
    # coturn (in docker-compose, the host's address on the app's network).
    sfu_turn_url: str | None = None
    mqtt_url: str | None = None
    # The broker's dynamic-security admin: set, the server provisions MQTT devices on the broker (and the bridge
    # logs in with it unless MQTT_URL carries a user); unset, devices are stored but no broker enforces them.
    mqtt_admin_username: str | None = None
    mqtt_admin_password: str | None = field(default=None, repr=False)
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    # Tokens.
    access_token_seconds: int = 900
    refresh_token_days: int = 30
    email_token_hours: int = 24
    # Passwords (argon2id). Tests lower the cost; production keeps the defaults.
    password_min_length: int = 10
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    # Abuse limits, per IP and per account.
    rate_register: RateLimit = RateLimit(5, 3600)
    # Sign-in throttling (README, "Sign-in throttling"): failures only are counted, never successes.
    rate_login: RateLimit = RateLimit(10, 900)  # failures per account and address pair
    rate_login_address: RateLimit = RateLimit(100, 900)  # failures per address, any account (an office NAT fits)
    login_slowdown: RateLimit = RateLimit(5, 3600)  # an account's failures (any address) before attempts wait
    login_slowdown_max_seconds: float = 60.0  # the longest wait between attempts on a slowed-down account
    login_device_days: int = 180  # how long a device that signed in is known (and skips the slowdown)
    rate_verify: RateLimit = RateLimit(20, 3600)
    rate_reset: RateLimit = RateLimit(5, 3600)
    rate_chat_send: RateLimit = RateLimit(30, 10)  # messages per user
    # Finding people: username availability checks per address (sign-up asks as the user types), username
    # changes per user, lookups by username per user, and lookups by e-mail address per user and, apart, per
    # address (few: they must not serve to try address after address).
    rate_username_check: RateLimit = RateLimit(60, 60)
    rate_username_change: RateLimit = RateLimit(10, 3600)
    rate_username_lookup: RateLimit = RateLimit(60, 60)
    rate_email_lookup: RateLimit = RateLimit(10, 3600)
    rate_email_lookup_address: RateLimit = RateLimit(30, 3600)
    # Storage.
    sqlite_readers: int = 3
    pg_pool_size: int = 10
    batch_max_rows: int = 1000
    batch_max_delay_ms: float = 2.0
    # Rows a batch writer holds waiting for their transaction; when full, writes answer 503 with Retry-After.
    batch_max_pending: int = 100_000
    # Dependencies that fail: Redis calls give up after this long, and a circuit breaker stops trying Redis or
    # the database after this many failures in a row, for this many seconds (then one trial call).
    redis_timeout_seconds: float = 2.0
    # PostgreSQL: a connect, a wait for a pooled connection or a statement gives up after this long.
    database_timeout_seconds: float = 10.0
    # The MQTT bridge pings the broker this often when idle, and takes it as lost after 1.5 times as long silent.
    mqtt_keepalive_seconds: int = 10
    breaker_failures: int = 3
    breaker_cooldown_seconds: float = 5.0
    max_body_bytes: int = 16 << 20  # the largest any route takes (bulk updates); routes set their own
    shutdown_timeout: float = 10.0
    retention_sweep_seconds: float = 300.0
    # Rule webhooks may call private, loopback and link-local addresses (off: only public ones).
    webhook_allow_private: bool = False
    # Outbound calls (webhooks, pushes): the most of an answer read, and how many run at once, overall (for each
    # kind) and per user. Calls beyond that wait, up to 16 times as many; past that they fail as busy.
    outbound_max_reply_bytes: int = 16 << 10
    outbound_max_in_flight: int = 64
    outbound_max_in_flight_per_user: int = 4
    # Web Push (VAPID): the application server's P-256 private key (the raw 32 bytes), the contact it signs
    # with (mailto: or https:), and how long a push service keeps a push the device has not fetched yet.
    vapid_private_key: bytes = b""
    vapid_subject: str = "mailto:noreply@localhost"
    push_ttl_seconds: int = 86400
    # Push endpoints on loopback over plain http (a local push server, the tests); never on in production
    # unless asked for.
    push_allow_loopback: bool = False
    # Chat attachments: the largest upload (video, voice, documents, end-to-end files), the largest image, and
    # the most pixels an image may decode to (all frames of an animation counted).
    max_upload_bytes: int = 25 << 20
    max_image_upload_bytes: int = 10 << 20
    max_image_pixels: int = 40_000_000
    # Unsent output a WebSocket client may have (ours and its socket's) before it counts as too slow and is closed.
    ws_max_buffered_bytes: int = 512 << 10
    # A WebSocket close handshake gets this long; then the connection is reset, whether the client reads or not.
    ws_close_timeout: float = 5.0
    # Connection deadlines aiohttp lacks: the request head must arrive within `header_read_timeout` (slowloris),
    # and a write may wait at most `write_timeout` for a client that stopped reading; past either it is reset.
    header_read_timeout: float = 10.0
    write_timeout: float = 30.0
    # Device routes' quick successes are logged as one summary line per route every this many seconds (0: every
    # request gets its own line); their errors, and answers slower than `access_log_slow_ms`, always do.
    access_log_summary_seconds: float = 10.0
    access_log_slow_ms: float = 500.0
    # A database statement that takes this long is logged (by name, never with its values) and counted as slow.
    slow_query_ms: float = 200.0
    # Prometheus metrics on a listener of their own (never the public one); no port: no metrics listener.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    # Server processes run.py starts on one port (server/ops/workers.py); more than one needs PostgreSQL and Redis.
    workers: int = 1
    log_level: str = "INFO"
    # Backups (server/ops/backup.py): their own key, never derived from the keyring (unset in development: one is
    # generated into DATA_DIR, beside the data, where it protects nothing), where they go, how often the server
    # makes one itself (0: never) and how many it keeps (0: all).
    backup_key: bytes = field(default=b"", repr=False)
    backup_dir: Path = Path("./backups")
    backup_interval: float = 0.0
    backup_keep: int = 7
    generated_secrets: tuple[str, ...] = field(default=(), compare=False)

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def database_backend(self) -> str:
        return "postgresql" if self.database_url.startswith(("postgresql:", "postgres:")) else "sqlite"

    @property
    def sqlite_path(self) -> Path:
        return Path(_sqlite_path(self.database_url))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read settings from `environ` (default: os.environ); `overrides` win over both."""
        env = dict(os.environ if environ is None else environ)
        reader = _Reader(env)
        app_env = reader.choice("APP_ENV", "development", ("development", "production", "test"))
        host = reader.text("HOST", "127.0.0.1")
        port = reader.integer("PORT", 8080, 0, 65535)
        data_dir = Path(reader.text("DATA_DIR", "./data"))
        database_url = reader.text("DATABASE_URL", f"sqlite:///{data_dir / 'app.db'}")
        _check_database_url(database_url)
        values: dict[str, Any] = {
            "host": host,
            "port": port,
            "data_dir": data_dir,
            "database_url": database_url,
            "redis_url": reader.url("REDIS_URL", ("redis", "rediss", "unix")),
            "smtp_host": reader.optional("SMTP_HOST"),
            "smtp_port": reader.integer("SMTP_PORT", 25, 1, 65535),
            "smtp_from": reader.text("SMTP_FROM", "noreply@localhost"),
            "mail_max_attempts": reader.integer("MAIL_MAX_ATTEMPTS", 10, 1, 100),
            "mail_retry_seconds": reader.number("MAIL_RETRY_SECONDS", 30.0, 0.01, 86400.0),
            "public_url": reader.text("PUBLIC_URL", f"http://{host}:{port}").rstrip("/"),
            "app_env": app_env,
            "turn_secret": reader.optional("TURN_SECRET"),
            "turn_urls": reader.csv("TURN_URLS"),
            "turn_ttl_seconds": reader.integer("TURN_TTL_SECONDS", 6 * 3600, 60, 7 * 86400),
            "call_max_participants": reader.integer("CALL_MAX_PARTICIPANTS", 8, 2, 64),
            "call_max_rooms": reader.integer("CALL_MAX_ROOMS", 20, 0, 10_000),
            "sfu_turn_url": reader.optional("SFU_TURN_URL"),
            "mqtt_url": reader.url("MQTT_URL", ("mqtt", "mqtts")),
            "mqtt_admin_username": reader.optional("MQTT_ADMIN_USERNAME"),
            "mqtt_admin_password": reader.optional("MQTT_ADMIN_PASSWORD"),
            "trusted_proxies": reader.csv("TRUSTED_PROXIES", ("127.0.0.1", "::1")),
            "password_min_length": reader.integer("PASSWORD_MIN_LENGTH", 10, 8, 128),
            "batch_max_rows": reader.integer("BATCH_MAX_ROWS", 1000, 1, 100_000),
            "batch_max_delay_ms": reader.number("BATCH_MAX_DELAY_MS", 2.0, 0.0, 10_000.0),
            "batch_max_pending": reader.integer("BATCH_MAX_PENDING", 100_000, 1, 10_000_000),
            "redis_timeout_seconds": reader.number("REDIS_TIMEOUT_SECONDS", 2.0, 0.05, 60.0),
            "database_timeout_seconds": reader.number("DATABASE_TIMEOUT_SECONDS", 10.0, 0.1, 3600.0),
            "mqtt_keepalive_seconds": reader.integer("MQTT_KEEPALIVE_SECONDS", 10, 1, 3600),
            "breaker_failures": reader.integer("BREAKER_FAILURES", 3, 1, 1000),
            "breaker_cooldown_seconds": reader.number("BREAKER_COOLDOWN_SECONDS", 5.0, 0.1, 3600.0),
            "log_level": reader.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"), upper=True),
            "webhook_allow_private": reader.choice("WEBHOOK_ALLOW_PRIVATE", "false", ("true", "false", "1", "0"))
            in ("true", "1"),
            "outbound_max_reply_bytes": reader.integer("OUTBOUND_MAX_REPLY_BYTES", 16 << 10, 0, 1 << 20),
            "outbound_max_in_flight": reader.integer("OUTBOUND_MAX_IN_FLIGHT", 64, 1, 10_000),
            "outbound_max_in_flight_per_user": reader.integer("OUTBOUND_MAX_IN_FLIGHT_PER_USER", 4, 1, 1000),
            "push_ttl_seconds": reader.integer("PUSH_TTL_SECONDS", 86400, 0, 2_419_200),
            "push_allow_loopback": reader.choice(
                "PUSH_ALLOW_LOOPBACK", "true" if app_env == "development" else "false", ("true", "false", "1", "0")
            )
            in ("true", "1"),
            "max_upload_bytes": reader.integer("MAX_UPLOAD_BYTES", 25 << 20, 1024, 2 << 30),
            "max_image_upload_bytes": reader.integer("MAX_IMAGE_UPLOAD_BYTES", 10 << 20, 1024, 2 << 30),
            "max_image_pixels": reader.integer("MAX_IMAGE_PIXELS", 40_000_000, 1, 89_000_000),
            "ws_max_buffered_bytes": reader.integer("WS_MAX_BUFFERED_BYTES", 512 << 10, 1024, 64 << 20),
            "ws_close_timeout": reader.number("WS_CLOSE_TIMEOUT", 5.0, 0.1, 60.0),
            "header_read_timeout": reader.number("HEADER_READ_TIMEOUT", 10.0, 0.1, 300.0),
            "write_timeout": reader.number("WRITE_TIMEOUT", 30.0, 0.1, 3600.0),
            "access_log_summary_seconds": reader.number("ACCESS_LOG_SUMMARY_SECONDS", 10.0, 0.0, 3600.0),
            "access_log_slow_ms": reader.number("ACCESS_LOG_SLOW_MS", 500.0, 1.0, 600_000.0),
            "slow_query_ms": reader.number("SLOW_QUERY_MS", 200.0, 0.0, 600_000.0),
            "metrics_host": reader.text("METRICS_HOST", "127.0.0.1"),
            "metrics_port": reader.integer("METRICS_PORT", 0, 0, 65535) or None,
            "workers": reader.integer("WORKERS", 1, 1, 64),
            "backup_key": reader.key("BACKUP_KEY") if reader.optional("BACKUP_KEY") else b"",
            "backup_dir": Path(reader.text("BACKUP_DIR", "./backups")),
            "backup_interval": reader.number("BACKUP_INTERVAL", 0.0, 0.0, 31 * 86400.0),
            "backup_keep": reader.integer("BACKUP_KEEP", 7, 0, 100_000),
        }
        values["vapid_subject"] = _vapid_subject(reader, values["public_url"], values["smtp_from"])
        if app_env == "production":
            reader.errors.extend(
                f"{name} still holds the placeholder of .env.example ({PLACEHOLDER}...): set a real value"
                for name in _SECRET_NAMES
                if env.get(name, "").startswith(PLACEHOLDER)
            )
        if (values["mqtt_admin_username"] is None) != (values["mqtt_admin_password"] is None):
            reader.errors.append("MQTT_ADMIN_USERNAME and MQTT_ADMIN_PASSWORD go together: set both or neither")
        _check_workers(reader, values)
        if values["backup_interval"] and not values["backup_key"] and app_env == "production":
            reader.errors.append("BACKUP_INTERVAL needs BACKUP_KEY in production (a key kept away from the data)")
        reader.fail_if_errors()
        secrets_given = {
            k: v
            for k, v in overrides.items()
            if k in ("encryption_keys", "blind_index_key", "jwt_secret", "vapid_private_key")
        }
        values.update({k: v for k, v in overrides.items() if k not in secrets_given})
        settings = cls(**values).with_secrets(env)
        return dataclasses.replace(settings, **secrets_given) if secrets_given else settings

    def with_secrets(self, environ: Mapping[str, str] | None = None) -> Settings:
        """Fill in the secrets: from the environment, else (development only) generated once into DATA_DIR."""
        env = dict(os.environ if environ is None else environ)
        reader = _Reader(env)
        keys = _parse_keyring(env.get("ENCRYPTION_KEYS", ""), reader) if env.get("ENCRYPTION_KEYS") else ()
        blind = reader.key("BLIND_INDEX_KEY") if env.get("BLIND_INDEX_KEY") else b""
        jwt_secret = reader.key("JWT_SECRET") if env.get("JWT_SECRET") else b""
        vapid = reader.vapid_key("VAPID_PRIVATE_KEY") if env.get("VAPID_PRIVATE_KEY") else b""
        reader.fail_if_errors()
        keys = keys or self.encryption_keys
        blind = blind or self.blind_index_key
        jwt_secret = jwt_secret or self.jwt_secret
        vapid = vapid or self.vapid_private_key
        missing = [
            name
            for name, value in (
                ("ENCRYPTION_KEYS", keys),
                ("BLIND_INDEX_KEY", blind),
                ("JWT_SECRET", jwt_secret),
                ("VAPID_PRIVATE_KEY", vapid),
            )
            if not value
        ]
        if not missing:
            return dataclasses.replace(
                self, encryption_keys=keys, blind_index_key=blind, jwt_secret=jwt_secret, vapid_private_key=vapid
            )
        if self.is_production:
            raise ConfigError(f"APP_ENV=production needs explicit secrets; missing: {', '.join(missing)}")
        stored = load_or_create_dev_secrets(self.data_dir)
        return dataclasses.replace(
            self,
            encryption_keys=keys or _parse_keyring(stored["ENCRYPTION_KEYS"], reader),
            blind_index_key=blind or _stored_key(stored, "BLIND_INDEX_KEY", self.data_dir),
            jwt_secret=jwt_secret or _stored_key(stored, "JWT_SECRET", self.data_dir),
            vapid_private_key=vapid or _stored_vapid_key(stored, self.data_dir),
            generated_secrets=tuple(missing),
        )


def _sqlite_path(url: str) -> str:
    # sqlite:///relative/or/absolute -> the path after the scheme's three slashes (four for absolute).
    return url.removeprefix("sqlite://").removeprefix("/") if url.startswith("sqlite:///") else url


def _check_database_url(url: str) -> None:
    scheme = urlsplit(url).scheme
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise ConfigError(f"DATABASE_URL must start with sqlite:/// or postgresql://, got scheme {scheme!r}")
    if scheme == "sqlite" and not url.startswith("sqlite:///"):
        raise ConfigError("DATABASE_URL for SQLite must look like sqlite:///path/to/app.db")


def _check_workers(reader: _Reader, values: dict[str, Any]) -> None:
    """Several processes share writes only through PostgreSQL (SQLite has one writer per file) and fan-out,
    presence and rate limits only through Redis."""
    workers = values["workers"]
    if workers > 1 and (values["redis_url"] is None or values["database_url"].startswith("sqlite:")):
        reader.errors.append(
            f"WORKERS={workers} needs DATABASE_URL=postgresql://... and REDIS_URL: SQLite has one writer per file,"
            " and without Redis the processes share neither fan-out nor presence"
        )
    port = values["metrics_port"]
    if port is not None and port + workers - 1 > 65535:
        reader.errors.append(f"METRICS_PORT + WORKERS - 1 must be at most 65535, got {port + workers - 1}")


def new_key() -> str:
    """A fresh 32-byte key, base64-encoded, as the secrets expect."""
    return encode_base64(secrets.token_bytes(32))


def new_keyring_entry() -> str:
    return f"k{secrets.token_hex(4)}:{new_key()}"


def new_vapid_key() -> str:
    """A fresh VAPID private key: the P-256 scalar, 32 bytes, base64url without padding (as browsers' tools
    print it)."""
    scalar = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
    return encode_base64url(scalar.to_bytes(32, "big"))


def _new_dev_secrets() -> dict[str, str]:
    return {
        "ENCRYPTION_KEYS": new_keyring_entry(),
        "BLIND_INDEX_KEY": new_key(),
        "JWT_SECRET": new_key(),
        "VAPID_PRIVATE_KEY": new_vapid_key(),
    }


def load_or_create_dev_secrets(data_dir: Path) -> dict[str, str]:
    """Development secrets, generated once into DATA_DIR/secrets.json (mode 0600)."""
    path = data_dir / SECRETS_FILE
    if path.exists():
        try:
            stored: dict[str, str] = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
        # A file from before a secret existed (VAPID_PRIVATE_KEY came later) gets the new one added.
        added = {name: value for name, value in _new_dev_secrets().items() if name not in stored}
        if added:
            stored.update(added)
            save_dev_secrets(data_dir, stored)
            log.warning("added %s to the development secrets in %s", ", ".join(added), path)
        return stored
    data_dir.mkdir(parents=True, exist_ok=True)
    stored = _new_dev_secrets()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(orjson.dumps(stored, option=orjson.OPT_INDENT_2))
    log.warning("generated development secrets into %s; set them explicitly in production", path)
    return stored


def save_dev_secrets(data_dir: Path, stored: dict[str, str]) -> None:
    path = data_dir / SECRETS_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(orjson.dumps(stored, option=orjson.OPT_INDENT_2))
    os.replace(tmp, path)


def _parse_keyring(value: str, reader: _Reader) -> tuple[tuple[str, bytes], ...]:
    entries: list[tuple[str, bytes]] = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        kid, sep, encoded = part.partition(":")
        if not sep or not _KEY_ID.fullmatch(kid):
            reader.errors.append(
                "ENCRYPTION_KEYS entries must look like keyid:base64key (key id: letters, digits, - or _)"
            )
            continue
        key = _decode_key(encoded)
        if key is None:
            reader.errors.append(f"ENCRYPTION_KEYS key {kid!r} must be 32 bytes, base64-encoded")
            continue
        if any(existing == kid for existing, _ in entries):
            reader.errors.append(f"ENCRYPTION_KEYS has key id {kid!r} twice")
            continue
        entries.append((kid, key))
    if not entries and not reader.errors:
        reader.errors.append("ENCRYPTION_KEYS is empty")
    reader.fail_if_errors()
    return tuple(entries)


def _decode_vapid_key(encoded: str) -> bytes | None:
    """The raw 32-byte P-256 private key from base64url (or base64), if it is one."""
    try:
        raw = decode_base64url(encoded.strip())
        if len(raw) != 32:
            return None
        ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())  # refuses 0 and values past the order
    except ValueError:
        return None
    return raw


def _stored_key(stored: dict[str, str], name: str, data_dir: Path) -> bytes:
    key = _decode_key(stored.get(name, ""))
    if key is None:
        raise ConfigError(f"{name} in {data_dir / SECRETS_FILE} is not 32 bytes, base64-encoded")
    return key


def _stored_vapid_key(stored: dict[str, str], data_dir: Path) -> bytes:
    key = _decode_vapid_key(stored.get("VAPID_PRIVATE_KEY", ""))
    if key is None:
        raise ConfigError(f"VAPID_PRIVATE_KEY in {data_dir / SECRETS_FILE} is not a P-256 private key")
    return key


def _vapid_subject(reader: _Reader, public_url: str, smtp_from: str) -> str:
    """VAPID_SUBJECT, else PUBLIC_URL when it is https, else the mail sender: push services want a contact."""
    value = reader.optional("VAPID_SUBJECT")
    if value is None:
        return public_url if public_url.startswith("https://") else f"mailto:{smtp_from}"
    parts = urlsplit(value)
    mail_ok = parts.scheme == "mailto" and re.fullmatch(r"[^@\s]+@[^@\s]+", parts.path) is not None
    if not mail_ok and not (parts.scheme == "https" and parts.hostname):
        reader.errors.append(f"VAPID_SUBJECT must be a mailto: address or an https:// URL, got {value!r}")
    return value


def _decode_key(encoded: str) -> bytes | None:
    try:
        key = decode_base64(encoded.strip())
    except Base64Error:
        return None
    return key if len(key) == 32 else None


class _Reader:
    """Reads typed values and collects every problem, so one start names them all."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.errors: list[str] = []

    def optional(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def csv(self, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self.optional(name)
        if value is None:
            return default
        return tuple(p.strip() for p in value.split(",") if p.strip())

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self.optional(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            self.errors.append(f"{name} must be an integer, got {value!r}")
            return default
        if not low <= number <= high:
            self.errors.append(f"{name} must be between {low} and {high}, got {number}")
        return number

    def number(self, name: str, default: float, low: float, high: float) -> float:
        value = self.optional(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            self.errors.append(f"{name} must be a number, got {value!r}")
            return default
        if not low <= number <= high:
            self.errors.append(f"{name} must be between {low} and {high}, got {number}")
        return number

    def choice(self, name: str, default: str, allowed: tuple[str, ...], *, upper: bool = False) -> str:
        value = self.text(name, default)
        if upper:
            value = value.upper()
        if value not in allowed:
            self.errors.append(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
            return default
        return value

    def url(self, name: str, schemes: tuple[str, ...]) -> str | None:
        value = self.optional(name)
        if value is not None and urlsplit(value).scheme not in schemes:
            self.errors.append(f"{name} must start with {' or '.join(s + '://' for s in schemes)}, got {value!r}")
            return None
        return value

    def key(self, name: str) -> bytes:
        key = _decode_key(self.env.get(name, ""))
        if key is None:
            self.errors.append(f"{name} must be 32 bytes, base64-encoded")
            return b""
        return key

    def vapid_key(self, name: str) -> bytes:
        key = _decode_vapid_key(self.env.get(name, ""))
        if key is None:
            self.errors.append(f"{name} must be a P-256 private key: 32 bytes, base64url-encoded")
            return b""
        return key

    def fail_if_errors(self) -> None:
        if self.errors:
            raise ConfigError("; ".join(self.errors))
