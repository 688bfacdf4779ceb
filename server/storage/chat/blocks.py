"""Blocks: who blocked whom. A block stops messages in the direct chat between the two, both ways."""

from __future__ import annotations

from collections.abc import Sequence

from server.storage.database import Database, Executor, Row
from server.storage.sql import chunked, in_list, padded


async def blocks_among(executor: Executor, users: Sequence[str]) -> set[tuple[str, str]]:
    """(blocker, blocked) pairs whose blocker is one of `users`."""
    found: set[tuple[str, str]] = set()
    for chunk in chunked(users):
        chunk = padded(chunk)
        rows = await executor.fetch(
            f"SELECT user_id, blocked_id FROM user_blocks WHERE {in_list('user_id', len(chunk))}", *chunk
        )
        found.update((r["user_id"], r["blocked_id"]) for r in rows)
    return found


class BlockRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def block(self, user_id: str, blocked_id: str, now: float) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO user_blocks (user_id, blocked_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                user_id,
                blocked_id,
                now,
            )

    async def unblock(self, user_id: str, blocked_id: str) -> bool:
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "DELETE FROM user_blocks WHERE user_id = $1 AND blocked_id = $2", user_id, blocked_id
            )
        return changed > 0

    async def blocks(self, user_id: str) -> list[Row]:
        return await self.db.fetch(
            "SELECT blocked_id, created_at FROM user_blocks WHERE user_id = $1 ORDER BY created_at", user_id
        )

    async def blocked(self, user_id: str, by: str) -> bool:
        """Has `by` blocked `user_id`?"""
        value = await self.db.fetchval("SELECT 1 FROM user_blocks WHERE user_id = $1 AND blocked_id = $2", by, user_id)
        return value is not None
