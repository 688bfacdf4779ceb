"""Messages: ids run 1, 2, 3... per chat; bodies and meta are encrypted with the keyring (in an end-to-end chat
the body is the client's ciphertext, stored and encrypted again at rest without being looked at). Reactions
and messages a user hid for themselves live beside them. New messages are written by sends.py."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from server.crypto.keyring import Keyring
from server.storage.attachments import AttachmentRepository
from server.storage.chat.records import Message
from server.storage.database import Database, Executor, Row
from server.storage.sql import Sealer, chunked, in_list

MESSAGE_COLUMNS = (
    "chat_id",
    "id",
    "sender_id",
    "client_id",
    "kind",
    "body",
    "reply_to",
    "meta",
    "created_at",
    "silent",
)
_LAST_CHUNK = 200  # chats per query for the chat list's last messages
# A message the user hid for themselves (m: the message; $2: the user).
_NOT_HIDDEN = (
    " AND NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.user_id = $2 AND h.chat_id = m.chat_id"
    " AND h.message_id = m.id)"
)


class MessageRepository:
    def __init__(self, db: Database, keyring: Keyring, attachments: AttachmentRepository) -> None:
        self.db = db
        self._sealed = Sealer(keyring, "messages")
        self._attachments = attachments

    def message_of(self, row: Row, prefix: str = "") -> Message:
        chat_id, mid = row[prefix + "chat_id"], int(row[prefix + "id"])
        row_id = f"{chat_id}:{mid}"
        deleted = row[prefix + "deleted_at"]
        return Message(
            chat_id=chat_id,
            id=mid,
            sender_id=row[prefix + "sender_id"],
            client_id=row[prefix + "client_id"],
            kind=row[prefix + "kind"],
            body=None if deleted else self._sealed.open(row[prefix + "body"], "body", row_id),
            reply_to=None if row[prefix + "reply_to"] is None else int(row[prefix + "reply_to"]),
            meta={} if deleted else self._sealed.open_json(row[prefix + "meta"], "meta", row_id),
            created_at=row[prefix + "created_at"],
            edited_at=row[prefix + "edited_at"],
            deleted_at=deleted,
            silent=bool(row[prefix + "silent"]),
        )

    def message_row(self, m: Message) -> tuple[Any, ...]:
        """The values of MESSAGE_COLUMNS for a new message."""
        row_id = f"{m.chat_id}:{m.id}"
        return (
            m.chat_id,
            m.id,
            m.sender_id,
            m.client_id,
            m.kind,
            self._sealed.seal(m.body, "body", row_id),
            m.reply_to,
            self._sealed.seal_json(m.meta, "meta", row_id),
            m.created_at,
            int(m.silent),
        )

    async def last_messages(self, user_id: str, chat_ids: list[str]) -> dict[str, Message]:
        """The last message the user can see in each of the chats, by chat id."""
        found: dict[str, Message] = {}
        for chunk in chunked(chat_ids, _LAST_CHUNK):
            rows = await self.db.fetch(
                "SELECT m.* FROM messages m JOIN chat_members cm ON cm.chat_id = m.chat_id AND cm.user_id = $1"
                f" WHERE {in_list('m.chat_id', len(chunk), 2)} AND m.id = (SELECT MAX(v.id) FROM messages v"
                "   WHERE v.chat_id = m.chat_id AND v.id > cm.joined_message_id AND v.silent = 0 AND NOT EXISTS"
                "   (SELECT 1 FROM hidden_messages h WHERE h.user_id = $1 AND h.chat_id = v.chat_id"
                "    AND h.message_id = v.id))",
                user_id,
                *chunk,
            )
            for row in rows:
                message = self.message_of(row)
                found[message.chat_id] = message
        return found

    async def history(
        self, chat_id: str, user_id: str, *, floor: int, before: int | None, after: int | None, limit: int
    ) -> list[Message]:
        """A page of the chat's messages the user may see (ids above `floor`), oldest first: the newest
        `limit` below `before`, or the oldest `limit` above `after`."""
        if after is not None:
            rows = await self.db.fetch(
                f"SELECT m.* FROM messages m WHERE m.chat_id = $1 AND m.id > $3{_NOT_HIDDEN} ORDER BY m.id LIMIT $4",
                chat_id,
                user_id,
                max(after, floor),
                limit,
            )
        else:
            rows = await self.db.fetch(
                f"SELECT m.* FROM messages m WHERE m.chat_id = $1 AND m.id > $3 AND m.id < $5{_NOT_HIDDEN}"
                " ORDER BY m.id DESC LIMIT $4",
                chat_id,
                user_id,
                floor,
                limit,
                before if before is not None else 2**62,
            )
            rows = list(reversed(rows))
        messages = [self.message_of(r) for r in rows]
        reactions = await self.reactions(chat_id, [m.id for m in messages])
        return [replace(m, reactions=reactions[m.id]) if m.id in reactions else m for m in messages]

    async def message(self, chat_id: str, message_id: int, executor: Executor | None = None) -> Message | None:
        row = await (executor or self.db).fetchrow(
            "SELECT * FROM messages WHERE chat_id = $1 AND id = $2", chat_id, message_id
        )
        return None if row is None else self.message_of(row)

    async def member_messages(self, user_id: str, chat_id: str, message_ids: Sequence[int]) -> dict[int, Message]:
        """Those of the messages of a chat, by id, that `user_id` may read now: all of them while a member, none
        after leaving (what the user's event log shows of the messages it names)."""
        found: dict[int, Message] = {}
        for chunk in chunked(sorted(set(message_ids))):
            rows = await self.db.fetch(
                "SELECT m.* FROM messages m JOIN chat_members cm ON cm.chat_id = m.chat_id AND cm.user_id = $1"
                f" WHERE m.chat_id = $2 AND {in_list('m.id', len(chunk), 3)}",
                user_id,
                chat_id,
                *chunk,
            )
            found.update((int(row["id"]), self.message_of(row)) for row in rows)
        return found

    async def reactions(self, chat_id: str, message_ids: list[int]) -> dict[int, dict[str, list[str]]]:
        if not message_ids:
            return {}
        rows = await self.db.fetch(
            "SELECT message_id, emoji, user_id FROM reactions WHERE chat_id = $1 AND message_id >= $2"
            " AND message_id <= $3 ORDER BY created_at",
            chat_id,
            min(message_ids),
            max(message_ids),
        )
        out: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for row in rows:
            out[int(row["message_id"])][row["emoji"]].append(row["user_id"])
        return {k: dict(v) for k, v in out.items()}

    async def edit_message(self, tx: Executor, chat_id: str, message_id: int, body: str, now: float) -> None:
        await tx.execute(
            "UPDATE messages SET body = $1, edited_at = $2 WHERE chat_id = $3 AND id = $4",
            self._sealed.seal(body, "body", f"{chat_id}:{message_id}"),
            now,
            chat_id,
            message_id,
        )

    async def delete_message(self, tx: Executor, chat_id: str, message_id: int, now: float) -> None:
        """Delete for everyone: the row stays (ids stay contiguous), its content goes."""
        await tx.execute(
            "UPDATE messages SET body = NULL, meta = NULL, deleted_at = $1 WHERE chat_id = $2 AND id = $3",
            now,
            chat_id,
            message_id,
        )
        await tx.execute("DELETE FROM reactions WHERE chat_id = $1 AND message_id = $2", chat_id, message_id)
        await self._attachments.forget(tx, chat_id, message_id, now)

    async def hide_message(self, tx: Executor, user_id: str, chat_id: str, message_id: int) -> None:
        await tx.execute(
            "INSERT INTO hidden_messages (user_id, chat_id, message_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            user_id,
            chat_id,
            message_id,
        )

    async def set_reaction(
        self, tx: Executor, chat_id: str, message_id: int, user_id: str, emoji: str, on: bool, now: float
    ) -> bool:
        if on:
            return (
                await tx.execute(
                    "INSERT INTO reactions (chat_id, message_id, user_id, emoji, created_at)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    chat_id,
                    message_id,
                    user_id,
                    emoji,
                    now,
                )
                > 0
            )
        return (
            await tx.execute(
                "DELETE FROM reactions WHERE chat_id = $1 AND message_id = $2 AND user_id = $3 AND emoji = $4",
                chat_id,
                message_id,
                user_id,
                emoji,
            )
            > 0
        )
