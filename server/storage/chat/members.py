"""Chat members: who is in which chat, with what role, where their history starts and how far they have read."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from server.storage.chat.records import Member
from server.storage.database import Database, Executor, Row
from server.storage.sql import assignments, chunked, in_list

MEMBER_COLUMNS = ("chat_id", "user_id", "role", "joined_at", "joined_message_id", "read_id")


def member_of(row: Row, prefix: str = "") -> Member:
    """The member in `row` (its columns named with `prefix`, where a query joins them to others)."""
    return Member(
        chat_id=row[prefix + "chat_id"],
        user_id=row[prefix + "user_id"],
        role=row[prefix + "role"],
        joined_at=row[prefix + "joined_at"],
        joined_message_id=int(row[prefix + "joined_message_id"]),
        read_id=int(row[prefix + "read_id"]),
        delivered_id=int(row[prefix + "delivered_id"]),
        pinned_at=row[prefix + "pinned_at"],
        muted_until=row[prefix + "muted_until"],
        archived=bool(row[prefix + "archived"]),
    )


async def insert_members(
    tx: Executor, chat_id: str, members: Iterable[tuple[str, str]], now: float, joined_message_id: int
) -> None:
    """Add (user id, role) members whose history starts after `joined_message_id` (read up to it)."""
    rows = [(chat_id, user, role, now, joined_message_id, joined_message_id) for user, role in members]
    if rows:
        await tx.insert_rows("chat_members", MEMBER_COLUMNS, rows)


class MemberRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_members(
        self, tx: Executor, chat_id: str, members: Iterable[tuple[str, str]], now: float, joined_message_id: int
    ) -> None:
        await insert_members(tx, chat_id, members, now, joined_message_id)

    async def member(self, chat_id: str, user_id: str, executor: Executor | None = None) -> Member | None:
        row = await (executor or self.db).fetchrow(
            "SELECT * FROM chat_members WHERE chat_id = $1 AND user_id = $2", chat_id, user_id
        )
        return None if row is None else member_of(row)

    async def members(self, chat_id: str, executor: Executor | None = None) -> list[Member]:
        rows = await (executor or self.db).fetch(
            "SELECT * FROM chat_members WHERE chat_id = $1 ORDER BY joined_at, user_id", chat_id
        )
        return [member_of(r) for r in rows]

    async def member_ids(self, executor: Executor, chat_id: str) -> list[str]:
        rows = await executor.fetch("SELECT user_id FROM chat_members WHERE chat_id = $1", chat_id)
        return [r["user_id"] for r in rows]

    async def member_count(self, executor: Executor, chat_id: str) -> int:
        return int(await executor.fetchval("SELECT COUNT(*) FROM chat_members WHERE chat_id = $1", chat_id) or 0)

    async def admin_ids(self, executor: Executor, chat_id: str) -> list[str]:
        """The owner and admins: who hears of joins and leaves in a broadcast group."""
        rows = await executor.fetch(
            "SELECT user_id FROM chat_members WHERE chat_id = $1 AND role IN ('admin', 'owner') ORDER BY user_id",
            chat_id,
        )
        return [r["user_id"] for r in rows]

    async def staff(self, chat_id: str) -> list[Member]:
        """The owner and admins, by when they joined."""
        rows = await self.db.fetch(
            "SELECT * FROM chat_members WHERE chat_id = $1 AND role IN ('admin', 'owner') ORDER BY joined_at, user_id",
            chat_id,
        )
        return [member_of(r) for r in rows]

    async def members_page(self, chat_id: str, after: tuple[int, str] | None, limit: int) -> list[Member]:
        """Up to `limit` members in role order (owner, admins, members), then by user id, after the cursor
        (role rank, user id)."""
        rank = "CASE role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END"
        if after is None:
            rows = await self.db.fetch(
                f"SELECT *, {rank} AS rank FROM chat_members WHERE chat_id = $1 ORDER BY rank, user_id LIMIT $2",
                chat_id,
                limit,
            )
        else:
            rows = await self.db.fetch(
                f"SELECT *, {rank} AS rank FROM chat_members WHERE chat_id = $1"
                f" AND ({rank} > $2 OR ({rank} = $2 AND user_id > $3)) ORDER BY rank, user_id LIMIT $4",
                chat_id,
                after[0],
                after[1],
                limit,
            )
        return [member_of(r) for r in rows]

    async def members_among(self, chat_id: str, user_ids: list[str], executor: Executor | None = None) -> set[str]:
        """Which of `user_ids` are members of the chat (a read of those rows only)."""
        found: set[str] = set()
        for chunk in chunked(user_ids):
            rows = await (executor or self.db).fetch(
                f"SELECT user_id FROM chat_members WHERE chat_id = $1 AND {in_list('user_id', len(chunk), 2)}",
                chat_id,
                *chunk,
            )
            found.update(r["user_id"] for r in rows)
        return found

    async def heir(self, executor: Executor, chat_id: str) -> str | None:
        """Who becomes owner when the owner leaves: the longest-serving admin, else member."""
        value = await executor.fetchval(
            "SELECT user_id FROM chat_members WHERE chat_id = $1"
            " ORDER BY CASE role WHEN 'admin' THEN 0 ELSE 1 END, joined_at, user_id LIMIT 1",
            chat_id,
        )
        return None if value is None else str(value)

    async def direct_peers(self, user_id: str) -> dict[str, str]:
        """The other member of each of the user's direct chats, by chat id."""
        rows = await self.db.fetch(
            "SELECT o.chat_id, o.user_id FROM chat_members cm JOIN chats c ON c.id = cm.chat_id AND c.kind = 'direct'"
            " JOIN chat_members o ON o.chat_id = cm.chat_id AND o.user_id <> cm.user_id WHERE cm.user_id = $1",
            user_id,
        )
        return {r["chat_id"]: r["user_id"] for r in rows}

    async def kind_and_members(self, chat_id: str) -> tuple[str, list[str]] | None:
        """A chat's kind and its members' ids, in one read; None for no such chat (or one with nobody left)."""
        rows = await self.db.fetch(
            "SELECT c.kind, m.user_id FROM chats c JOIN chat_members m ON m.chat_id = c.id WHERE c.id = $1", chat_id
        )
        return (rows[0]["kind"], [r["user_id"] for r in rows]) if rows else None

    async def share_a_chat(self, a: str, b: str) -> bool:
        value = await self.db.fetchval(
            "SELECT 1 FROM chat_members x JOIN chat_members y ON y.chat_id = x.chat_id AND y.user_id = $2"
            " WHERE x.user_id = $1 LIMIT 1",
            a,
            b,
        )
        return value is not None

    async def remove_member(self, tx: Executor, chat_id: str, user_id: str) -> bool:
        return await tx.execute("DELETE FROM chat_members WHERE chat_id = $1 AND user_id = $2", chat_id, user_id) > 0

    async def set_role(self, tx: Executor, chat_id: str, user_id: str, role: str) -> None:
        await tx.execute(
            "UPDATE chat_members SET role = $1 WHERE chat_id = $2 AND user_id = $3", role, chat_id, user_id
        )

    async def set_member_flags(self, tx: Executor, chat_id: str, user_id: str, values: dict[str, Any]) -> None:
        n = len(values)
        await tx.execute(
            f"UPDATE chat_members SET {assignments(list(values))} WHERE chat_id = ${n + 1} AND user_id = ${n + 2}",
            *values.values(),
            chat_id,
            user_id,
        )

    async def move_pointer(self, tx: Executor, chat_id: str, user_id: str, column: str, message_id: int) -> bool:
        """Move a read or delivered pointer forward (never back); True if it moved."""
        assert column in ("read_id", "delivered_id")
        changed = await tx.execute(
            f"UPDATE chat_members SET {column} = $1 WHERE chat_id = $2 AND user_id = $3 AND {column} < $1",
            message_id,
            chat_id,
            user_id,
        )
        if column == "read_id" and changed:
            # Reading implies delivery; the delivered pointer never runs behind the read one.
            await tx.execute(
                "UPDATE chat_members SET delivered_id = read_id WHERE chat_id = $1 AND user_id = $2"
                " AND delivered_id < read_id",
                chat_id,
                user_id,
            )
        return changed > 0

    async def readers(self, chat_id: str, message_id: int) -> list[Row]:
        """Members whose read or delivered pointer has reached the message."""
        return await self.db.fetch(
            "SELECT user_id, read_id, delivered_id FROM chat_members WHERE chat_id = $1 AND"
            " (read_id >= $2 OR delivered_id >= $2) ORDER BY user_id",
            chat_id,
            message_id,
        )
