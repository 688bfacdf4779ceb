"""Attachment storage: one row per uploaded file (see 0010_attachments.sql); the name is encrypted at rest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from server.crypto.keyring import Keyring
from server.storage.database import Database, Executor, Row
from server.storage.sql import Sealer, in_list


@dataclass(frozen=True)
class Attachment:
    id: str
    chat_id: str
    uploader_id: str | None
    kind: str  # "image" | "video" | "voice" | "document" | "encrypted"
    mime: str
    size: int
    name: str | None
    width: int | None
    height: int | None
    has_thumbnail: bool
    message_id: int | None
    created_at: float

    def descriptor(self) -> dict[str, Any]:
        """What a message carries about an attachment (and what an upload answers, with chat_id and created_at)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "mime": self.mime,
            "size": self.size,
            "name": self.name,
            "width": self.width,
            "height": self.height,
            "thumbnail": self.has_thumbnail,
        }


@dataclass(frozen=True)
class UploadTarget:
    """What an upload needs to know about the chat it goes to."""

    chat_id: str
    e2e: bool


class AttachmentRepository:
    def __init__(self, db: Database, keyring: Keyring) -> None:
        self.db = db
        self._sealed = Sealer(keyring, "attachments")

    def _attachment(self, row: Row) -> Attachment:
        aid = row["id"]
        return Attachment(
            id=aid,
            chat_id=row["chat_id"],
            uploader_id=row["uploader_id"],
            kind=row["kind"],
            mime=row["mime"],
            size=int(row["size"]),
            name=self._sealed.open(row["name"], "name", aid),
            width=None if row["width"] is None else int(row["width"]),
            height=None if row["height"] is None else int(row["height"]),
            has_thumbnail=bool(row["has_thumbnail"]),
            message_id=None if row["message_id"] is None else int(row["message_id"]),
            created_at=float(row["created_at"]),
        )

    async def upload_target(self, user_id: str, chat_id: str) -> UploadTarget | None:
        """The chat, if the user is a member of it."""
        row = await self.db.fetchrow(
            "SELECT c.e2e FROM chats c JOIN chat_members cm ON cm.chat_id = c.id AND cm.user_id = $2 WHERE c.id = $1",
            chat_id,
            user_id,
        )
        return None if row is None else UploadTarget(chat_id, bool(row["e2e"]))

    async def insert(self, attachment: Attachment) -> bool:
        """Store the row if the uploader is still a member of the chat; False if not (nothing written)."""
        a = attachment
        async with self.db.transaction() as tx:
            written = await tx.execute(
                "INSERT INTO attachments (id, chat_id, uploader_id, kind, mime, size, name, width, height,"
                " has_thumbnail, created_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11"
                " WHERE EXISTS (SELECT 1 FROM chat_members WHERE chat_id = $2 AND user_id = $3)",
                a.id,
                a.chat_id,
                a.uploader_id,
                a.kind,
                a.mime,
                a.size,
                self._sealed.seal(a.name, "name", a.id),
                a.width,
                a.height,
                int(a.has_thumbnail),
                a.created_at,
            )
        return written == 1

    async def visible(self, user_id: str, attachment_id: str) -> Attachment | None:
        """The attachment if the user may fetch it: a member of its chat who uploaded it, or who can see the
        message that took it (one sent after the member joined)."""
        row = await self.db.fetchrow(
            "SELECT a.* FROM attachments a JOIN chat_members cm ON cm.chat_id = a.chat_id AND cm.user_id = $2"
            " WHERE a.id = $1 AND a.deleted_at IS NULL AND (a.uploader_id = $2"
            " OR (a.message_id IS NOT NULL AND a.message_id > cm.joined_message_id)"
            " OR a.id = (SELECT c.avatar_id FROM chats c WHERE c.id = a.chat_id))",
            attachment_id,
            user_id,
        )
        return None if row is None else self._attachment(row)

    async def claim(self, tx: Executor, user_id: str, chat_id: str, ids: Sequence[str]) -> list[Attachment] | None:
        """Take the uploads `ids` for a message, all or none: each must be the user's upload to this chat that no
        message took yet. Marks them taken (message_id 0 until `attach` names the message) and returns them in
        the order of `ids`; None if any is not claimable (nothing changed)."""
        # The no-op UPDATE locks the rows (PostgreSQL; SQLite has one writer): a concurrent claim of the same
        # upload waits for this transaction, then sees it taken.
        rows = await tx.fetch(
            f"UPDATE attachments SET message_id = message_id WHERE {in_list('id', len(ids))} RETURNING *", *ids
        )
        found = {row["id"]: self._attachment(row) for row in rows if row["deleted_at"] is None}
        if len(found) != len(ids) or any(
            a.chat_id != chat_id or a.uploader_id != user_id or a.message_id is not None for a in found.values()
        ):
            return None
        await tx.execute(f"UPDATE attachments SET message_id = 0 WHERE {in_list('id', len(ids))}", *ids)
        return [found[i] for i in ids]

    async def attach(self, tx: Executor, chat_id: str, message_id: int, ids: Sequence[str]) -> None:
        """Name the message that took the claimed uploads `ids`."""
        await tx.execute(
            "UPDATE attachments SET message_id = $1 WHERE chat_id = $2 AND message_id = 0"
            f" AND {in_list('id', len(ids), 3)}",
            message_id,
            chat_id,
            *ids,
        )

    async def forget(self, tx: Executor, chat_id: str, message_id: int, now: float) -> int:
        """Make the attachments of a message unreachable (deleted for everyone); the sweeper removes the files."""
        return await tx.execute(
            "UPDATE attachments SET deleted_at = $1 WHERE chat_id = $2 AND message_id = $3 AND deleted_at IS NULL",
            now,
            chat_id,
            message_id,
        )

    async def take_avatar(self, tx: Executor, user_id: str, chat_id: str, attachment_id: str) -> bool:
        """Make the user's unused image upload to this chat the chat's avatar (message id 0: taken, by no
        message); False if it is not such an upload."""
        return (
            await tx.execute(
                "UPDATE attachments SET message_id = 0 WHERE id = $1 AND chat_id = $2 AND uploader_id = $3"
                " AND kind = 'image' AND message_id IS NULL AND deleted_at IS NULL",
                attachment_id,
                chat_id,
                user_id,
            )
            > 0
        )

    async def drop(self, tx: Executor, attachment_id: str, now: float) -> None:
        """An avatar replaced: its files go with the next sweep."""
        await tx.execute("UPDATE attachments SET deleted_at = $1 WHERE id = $2", now, attachment_id)

    async def sweep(self, unclaimed_before: float, limit: int) -> list[Row]:
        """Delete up to `limit` rows whose files should go (uploads no message took in time, attachments of
        messages deleted for everyone, those of deleted chats); returns their ids and has_thumbnail, so the
        caller removes the files after the commit."""
        async with self.db.transaction() as tx:
            return await tx.fetch(
                "DELETE FROM attachments WHERE id IN (SELECT a.id FROM attachments a"
                " WHERE (a.message_id IS NULL AND a.created_at < $1) OR a.deleted_at IS NOT NULL"
                " OR NOT EXISTS (SELECT 1 FROM chats c WHERE c.id = a.chat_id) LIMIT $2)"
                " RETURNING id, has_thumbnail",
                unclaimed_before,
                limit,
            )
