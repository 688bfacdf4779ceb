"""Chats: a row per chat (direct or group), its encrypted name and description, its avatar and its counter of
message ids. A direct chat is found by a blind index of its two members and its kind: a pair has at most one plain
and one end-to-end direct chat."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from server.crypto.keyring import BlindIndex, Keyring
from server.storage.attachments import AttachmentRepository
from server.storage.chat.members import insert_members, member_of
from server.storage.chat.records import Chat, Member, new_id
from server.storage.database import Database, Executor, Row
from server.storage.sql import Sealer, assignments

# A chat's row joined to the user's membership (columns prefixed cm_), with the user's unread count.
_CHAT_LIST = (
    "SELECT c.*, cm.chat_id AS cm_chat_id, cm.user_id AS cm_user_id, cm.role AS cm_role,"
    " cm.joined_at AS cm_joined_at, cm.joined_message_id AS cm_joined_message_id, cm.read_id AS cm_read_id,"
    " cm.delivered_id AS cm_delivered_id, cm.pinned_at AS cm_pinned_at, cm.muted_until AS cm_muted_until,"
    " cm.archived AS cm_archived,"
    " (SELECT COUNT(*) FROM messages u WHERE u.chat_id = c.id AND u.id > cm.read_id"
    "   AND u.deleted_at IS NULL AND u.silent = 0 AND (u.sender_id IS NULL OR u.sender_id <> $1)) AS unread"
    " FROM chat_members cm JOIN chats c ON c.id = cm.chat_id WHERE cm.user_id = $1"
)


class ChatRepository:
    def __init__(
        self, db: Database, keyring: Keyring, blind_index: BlindIndex, attachments: AttachmentRepository
    ) -> None:
        self.db = db
        self._sealed = Sealer(keyring, "chats")
        self._blind = blind_index
        self._attachments = attachments

    def pair_index(self, a: str, b: str, e2e: bool = False) -> bytes:
        """The blind index of a pair's direct chat of one kind. End-to-end chats made before a pair could have
        both kinds hold the plain form; `direct_chat` still finds them and `free_plain_index` moves them."""
        low, high = sorted((a, b))
        return self._blind(f"{low}:{high}" + (":e2e" if e2e else ""), purpose="chat_pair")

    def _chat(self, row: Row) -> Chat:
        cid = row["id"]
        return Chat(
            id=cid,
            kind=row["kind"],
            e2e=bool(row["e2e"]),
            name=self._sealed.open(row["name"], "name", cid),
            description=self._sealed.open(row["description"], "description", cid),
            avatar_id=row["avatar_id"],
            created_by=row["created_by"],
            last_message_id=int(row["last_message_id"]),
            last_message_at=row["last_message_at"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            broadcast=bool(row["broadcast"]),
        )

    async def create_chat(
        self,
        tx: Executor,
        *,
        kind: str,
        created_by: str,
        members: Sequence[tuple[str, str]],
        now: float,
        e2e: bool = False,
        name: str | None = None,
        description: str | None = None,
        pair: tuple[str, str] | None = None,
        broadcast: bool = False,
    ) -> str:
        chat_id = new_id()
        await tx.execute(
            "INSERT INTO chats (id, kind, e2e, pair_index, name, description, created_by, created_at, updated_at,"
            " broadcast) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)",
            chat_id,
            kind,
            int(e2e),
            self.pair_index(*pair, e2e) if pair else None,
            self._sealed.seal(name, "name", chat_id),
            self._sealed.seal(description, "description", chat_id),
            created_by,
            now,
            int(broadcast),
        )
        await insert_members(tx, chat_id, members, now, joined_message_id=0)
        return chat_id

    async def update_chat(self, tx: Executor, chat_id: str, values: dict[str, Any], now: float) -> bool:
        """Change a chat's name, description or avatar; False if the new avatar is not an image the acting user
        (`values["by"]`) uploaded to this chat and has not used."""
        values = dict(values)
        by = values.pop("by")
        if "avatar_id" in values:
            chat = await self.chat(chat_id, tx)
            assert chat is not None
            new = values["avatar_id"]
            changed = new != chat.avatar_id
            if changed and new is not None and not await self._attachments.take_avatar(tx, by, chat_id, new):
                return False
            if chat.avatar_id is not None and new != chat.avatar_id:
                await self._attachments.drop(tx, chat.avatar_id, now)
        if "broadcast" in values:
            values["broadcast"] = int(values["broadcast"])
        args = [
            self._sealed.seal(value, column, chat_id) if column in ("name", "description") else value
            for column, value in values.items()
        ]
        n = len(args)
        await tx.execute(
            f"UPDATE chats SET {assignments(list(values))}, updated_at = ${n + 1} WHERE id = ${n + 2}",
            *args,
            now,
            chat_id,
        )
        return True

    async def direct_chat(self, executor: Executor, a: str, b: str, e2e: bool = False) -> str | None:
        """The pair's direct chat of this kind (an end-to-end one under either index form), or None."""
        value = await executor.fetchval(
            "SELECT id FROM chats WHERE pair_index IN ($1, $2) AND e2e = $3",
            self.pair_index(a, b, e2e),
            self.pair_index(a, b),
            int(e2e),
        )
        return None if value is None else str(value)

    async def free_plain_index(self, tx: Executor, a: str, b: str) -> None:
        """Move an end-to-end chat that holds the pair's plain index (made before a pair could have both kinds)
        to the end-to-end form, so a plain chat can take it in the same transaction."""
        await tx.execute(
            "UPDATE chats SET pair_index = $1 WHERE pair_index = $2 AND e2e = 1",
            self.pair_index(a, b, e2e=True),
            self.pair_index(a, b),
        )

    async def chat(self, chat_id: str, executor: Executor | None = None) -> Chat | None:
        row = await (executor or self.db).fetchrow("SELECT * FROM chats WHERE id = $1", chat_id)
        return None if row is None else self._chat(row)

    async def lock_chat(self, tx: Executor, chat_id: str) -> None:
        """Hold the chat's row until the transaction ends (PostgreSQL), so changes to its members happen one at
        a time: two joins, or two members leaving, each see the other's result. SQLite has one writer."""
        if self.db.backend == "postgresql":
            await tx.fetch("SELECT 1 FROM chats WHERE id = $1 FOR UPDATE", chat_id)

    async def delete_chat(self, tx: Executor, chat_id: str) -> None:
        await tx.execute("DELETE FROM chats WHERE id = $1", chat_id)

    async def chat_list(self, user_id: str) -> list[tuple[Chat, Member, int]]:
        """Every chat of the user with their membership and unread count (MessageRepository.last_messages has
        the last message of each)."""
        rows = await self.db.fetch(_CHAT_LIST, user_id)
        return [(self._chat(row), member_of(row, "cm_"), int(row["unread"])) for row in rows]
