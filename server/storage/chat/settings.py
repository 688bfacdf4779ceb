"""Each user's chat settings (who sees their presence, push previews) and when they were last seen."""

from __future__ import annotations

from server.storage.database import Database


class ChatSettingsRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def settings(self, user_id: str) -> tuple[str, bool, float | None]:
        """(presence visibility, push previews, last seen at); the defaults for a user who never set them."""
        row = await self.db.fetchrow(
            "SELECT presence, push_previews, last_seen_at FROM chat_settings WHERE user_id = $1", user_id
        )
        if row is None:
            return "everyone", False, None
        return row["presence"], bool(row["push_previews"]), row["last_seen_at"]

    async def save_settings(self, user_id: str, presence: str, push_previews: bool) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO chat_settings (user_id, presence, push_previews) VALUES ($1, $2, $3)"
                " ON CONFLICT (user_id) DO UPDATE SET presence = $2, push_previews = $3",
                user_id,
                presence,
                int(push_previews),
            )

    async def seen(self, user_id: str, now: float) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO chat_settings (user_id, last_seen_at) VALUES ($1, $2)"
                " ON CONFLICT (user_id) DO UPDATE SET last_seen_at = $2",
                user_id,
                now,
            )
