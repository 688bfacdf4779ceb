"""Every encrypted column, by table: (primary key column, encrypted columns). rotate-keys walks this list;
a new encrypted column must be added here."""

from __future__ import annotations

ENCRYPTED_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "users": ("id", ("email", "display_name", "phone")),
    "sessions": ("id", ("ip", "user_agent")),
    "user_api_keys": ("user_id", ("api_key",)),
    "channel_keys": ("id", ("api_key",)),
    "rules": ("id", ("actions",)),
    "talkback_keys": ("id", ("api_key",)),
}
