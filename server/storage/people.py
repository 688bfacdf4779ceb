"""Contacts: the people a user shares a chat with, most recently active first, read from chat membership."""

from __future__ import annotations

from dataclasses import dataclass

from server.storage.database import Database

# A shared chat's last activity: its latest message, or when it was made.
_ACTIVE = "MAX(COALESCE(c.last_message_at, c.created_at))"


@dataclass(frozen=True)
class Contact:
    user_id: str
    active_at: float  # the latest activity in a chat the two share


class ContactRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def contacts(self, user_id: str, before: tuple[float, str] | None, limit: int) -> list[Contact]:
        """A page of the people `user_id` shares a chat with: groups, and direct chats that have a message or that
        `user_id` started (someone who opened a direct chat and wrote nothing is not a contact of the other side
        yet). Suspended accounts and people `user_id` blocked are left out. Newest activity first; the cursor is
        (active_at, user_id) of the previous page's last row."""
        active, last_id = before if before else (1e18, "")
        rows = await self.db.fetch(
            f"SELECT o.user_id, {_ACTIVE} AS active_at"
            " FROM chat_members me"
            " JOIN chats c ON c.id = me.chat_id"
            " JOIN chat_members o ON o.chat_id = me.chat_id AND o.user_id <> me.user_id"
            " JOIN users u ON u.id = o.user_id AND u.suspended_at IS NULL"
            " WHERE me.user_id = $1"
            " AND (c.kind = 'group' OR c.last_message_id > 0 OR c.created_by = $1)"
            " AND NOT EXISTS (SELECT 1 FROM user_blocks b WHERE b.user_id = $1 AND b.blocked_id = o.user_id)"
            " GROUP BY o.user_id"
            f" HAVING {_ACTIVE} < $2 OR ({_ACTIVE} = $2 AND o.user_id > $3)"
            " ORDER BY active_at DESC, o.user_id ASC LIMIT $4",
            user_id,
            active,
            last_id,
            limit,
        )
        return [Contact(str(r["user_id"]), float(r["active_at"])) for r in rows]
