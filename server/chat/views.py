"""How chats, members, messages and invites look to a client, and the check an id gets before it is looked up."""

from __future__ import annotations

from typing import Any

from server.storage.chat.records import Chat, Invite, Member, Message


def chat_summary(chat: Chat) -> dict[str, Any]:
    return {
        "id": chat.id,
        "kind": chat.kind,
        "e2e": chat.e2e,
        "broadcast": chat.broadcast,
        "name": chat.name,
        "description": chat.description,
        "avatar_id": chat.avatar_id,
        "created_by": chat.created_by,
        "created_at": chat.created_at,
        "last_message_id": chat.last_message_id,
        "last_message_at": chat.last_message_at,
    }


def invite_view(invite: Invite, now: float) -> dict[str, Any]:
    if invite.revoked_at is not None:
        state = "revoked"
    elif invite.expires_at is not None and invite.expires_at <= now:
        state = "expired"
    elif invite.max_uses is not None and invite.uses >= invite.max_uses:
        state = "used_up"
    else:
        state = "active"
    return {
        "id": invite.id,
        "chat_id": invite.chat_id,
        "code": invite.code,
        "created_by": invite.created_by,
        "created_at": invite.created_at,
        "expires_at": invite.expires_at,
        "max_uses": invite.max_uses,
        "uses": invite.uses,
        "state": state,
    }


def member_settings(member: Member) -> dict[str, Any]:
    return {
        "role": member.role,
        "read_id": member.read_id,
        "delivered_id": member.delivered_id,
        "pinned_at": member.pinned_at,
        "muted_until": member.muted_until,
        "archived": member.archived,
    }


def message_view(message: Message, e2e: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "chat_id": message.chat_id,
        "id": message.id,
        "sender_id": message.sender_id,
        "client_id": message.client_id,
        # A call's entry is stored as a system message whose meta holds the call (no schema change needed).
        "kind": "call" if message.kind == "system" and "call" in message.meta else message.kind,
        "reply_to": message.reply_to,
        "created_at": message.created_at,
        "edited": message.edited_at is not None,
        "edited_at": message.edited_at,
        "deleted": message.deleted_at is not None,
    }
    view["ciphertext" if e2e else "text"] = message.body if message.kind == "text" else None
    for key in ("mentions", "forward", "attachments", "call"):
        if key in message.meta:
            view[key] = message.meta[key]
    if message.reactions:
        view["reactions"] = message.reactions
    if message.silent:
        view["silent"] = True
    return view


def sane_id(value: str) -> bool:
    """Could this be an id the server made (chats, users, uploads)? Checked before looking one up."""
    return isinstance(value, str) and 0 < len(value) <= 64 and value.isascii() and value.replace("-", "").isalnum()
