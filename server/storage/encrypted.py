"""Every encrypted column, by table: (primary key columns, encrypted columns). rotate-keys walks this list;
a new encrypted column must be added here. A value's row id (in its additional data) is its key columns'
values joined with ":"."""

from __future__ import annotations

ENCRYPTED_COLUMNS: dict[str, tuple[str | tuple[str, ...], tuple[str, ...]]] = {
    "users": ("id", ("email", "display_name", "phone", "username")),
    "sessions": ("id", ("ip", "user_agent")),
    "user_api_keys": ("user_id", ("api_key",)),
    "channel_keys": ("id", ("api_key",)),
    "rules": ("id", ("actions",)),
    "talkback_keys": ("id", ("api_key",)),
    "push_subscriptions": ("id", ("endpoint", "p256dh", "auth")),
    "attachments": ("id", ("name",)),
    "chats": ("id", ("name", "description")),
    "messages": (("chat_id", "id"), ("body", "meta")),
    "user_events": (("user_id", "seq"), ("payload",)),
    "chat_events": (("chat_id", "pos"), ("payload",)),
    "chat_invites": ("id", ("code",)),
    "message_reports": ("id", ("reason",)),
    "mail_outbox": ("id", ("recipient", "subject", "body")),
    "mqtt_devices": ("id", ("password",)),
    "e2e_inbox": (("device_id", "id"), ("payload",)),
}
