"""What chat storage reads and writes: chats, members, messages, sends, invites and reports."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

ROLES = ("member", "admin", "owner")  # in rising order of power


def new_id() -> str:
    return secrets.token_hex(12)


@dataclass(frozen=True)
class Chat:
    id: str
    kind: str  # "direct" or "group"
    e2e: bool
    name: str | None
    description: str | None
    avatar_id: str | None
    created_by: str | None
    last_message_id: int
    last_message_at: float | None
    created_at: float
    updated_at: float
    broadcast: bool = False  # a channel: only the owner and admins post


@dataclass(frozen=True)
class Member:
    chat_id: str
    user_id: str
    role: str
    joined_at: float
    joined_message_id: int
    read_id: int
    delivered_id: int
    pinned_at: float | None
    muted_until: float | None
    archived: bool

    def at_least(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True)
class Message:
    chat_id: str
    id: int
    sender_id: str | None
    client_id: str | None
    kind: str  # "text" or "system"
    body: str | None  # None once deleted for everyone
    reply_to: int | None
    meta: dict[str, Any]
    created_at: float
    edited_at: float | None
    deleted_at: float | None
    reactions: dict[str, list[str]] = field(default_factory=dict)  # emoji -> user ids (filled for history)
    silent: bool = False  # no unread, no push, not the chat list's last message (end-to-end reactions)


@dataclass(frozen=True)
class Send:
    """A message to write through the batch writer."""

    chat_id: str
    sender_id: str
    client_id: str | None
    body: str
    created_at: float
    reply_to: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    kind: str = "text"
    attachment_ids: tuple[str, ...] = ()
    silent: bool = False


@dataclass(frozen=True)
class Sent:
    message: Message
    seqs: dict[str, int]  # member -> the seq of this message in their log (empty for a duplicate)
    duplicate: bool = False


@dataclass(frozen=True)
class SendRefused:
    """A send the batch refused without failing the others: the service turns it into an error."""

    code: str  # "not_found" | "blocked" | "bad_reply" | "bad_attachments"


@dataclass(frozen=True)
class Invite:
    id: str
    chat_id: str
    code: str
    created_by: str | None
    expires_at: float | None
    max_uses: int | None
    uses: int
    revoked_at: float | None
    created_at: float


@dataclass(frozen=True)
class Report:
    id: str
    chat_id: str
    message_id: int
    reporter_id: str | None
    reason: str | None
    created_at: float
    resolved_at: float | None
    resolved_by: str | None
    resolution: str | None
