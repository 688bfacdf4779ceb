"""Invite links to groups: the code is encrypted, and found again through its blind index."""

from __future__ import annotations

import secrets

from server.crypto.keyring import BlindIndex, Keyring
from server.storage.chat.records import Invite, new_id
from server.storage.database import Database, Executor, Row
from server.storage.sql import Sealer


class InviteRepository:
    def __init__(self, db: Database, keyring: Keyring, blind_index: BlindIndex) -> None:
        self.db = db
        self._sealed = Sealer(keyring, "chat_invites")
        self._blind = blind_index

    def code_index(self, code: str) -> bytes:
        return self._blind(code, purpose="chat_invite")

    def _invite(self, row: Row) -> Invite:
        return Invite(
            id=row["id"],
            chat_id=row["chat_id"],
            code=self._sealed.open(row["code"], "code", row["id"]),
            created_by=row["created_by"],
            expires_at=row["expires_at"],
            max_uses=row["max_uses"],
            uses=int(row["uses"]),
            revoked_at=row["revoked_at"],
            created_at=row["created_at"],
        )

    async def create_invite(
        self, chat_id: str, created_by: str, expires_at: float | None, max_uses: int | None, now: float
    ) -> Invite:
        invite_id, code = new_id(), secrets.token_urlsafe(18)
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO chat_invites (id, chat_id, code_index, code, created_by, expires_at, max_uses, created_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                invite_id,
                chat_id,
                self.code_index(code),
                self._sealed.seal(code, "code", invite_id),
                created_by,
                expires_at,
                max_uses,
                now,
            )
        return Invite(invite_id, chat_id, code, created_by, expires_at, max_uses, 0, None, now)

    async def invites(self, chat_id: str) -> list[Invite]:
        rows = await self.db.fetch("SELECT * FROM chat_invites WHERE chat_id = $1 ORDER BY created_at", chat_id)
        return [self._invite(r) for r in rows]

    async def invite_by_code(self, code: str, executor: Executor | None = None) -> Invite | None:
        row = await (executor or self.db).fetchrow(
            "SELECT * FROM chat_invites WHERE code_index = $1", self.code_index(code)
        )
        return None if row is None else self._invite(row)

    async def revoke_invite(self, chat_id: str, invite_id: str, now: float) -> bool:
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE chat_invites SET revoked_at = $1 WHERE id = $2 AND chat_id = $3 AND revoked_at IS NULL",
                now,
                invite_id,
                chat_id,
            )
        return changed > 0

    async def use_invite(self, tx: Executor, invite_id: str, now: float) -> bool:
        """Count one use, if the invite is still good: atomically, so a use limit holds under concurrency."""
        changed = await tx.execute(
            "UPDATE chat_invites SET uses = uses + 1 WHERE id = $1 AND revoked_at IS NULL"
            " AND (expires_at IS NULL OR expires_at > $2) AND (max_uses IS NULL OR uses < max_uses)",
            invite_id,
            now,
        )
        return changed > 0
