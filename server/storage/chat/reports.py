"""Reports of messages, for the server admins' queue: the reporter's reason is encrypted."""

from __future__ import annotations

from server.crypto.keyring import Keyring
from server.storage.chat.records import Report, new_id
from server.storage.database import Database, Row
from server.storage.sql import Sealer


class ReportRepository:
    def __init__(self, db: Database, keyring: Keyring) -> None:
        self.db = db
        self._sealed = Sealer(keyring, "message_reports")

    def _report(self, row: Row) -> Report:
        return Report(
            id=row["id"],
            chat_id=row["chat_id"],
            message_id=int(row["message_id"]),
            reporter_id=row["reporter_id"],
            reason=self._sealed.open(row["reason"], "reason", row["id"]),
            created_at=row["created_at"],
            resolved_at=row["resolved_at"],
            resolved_by=row["resolved_by"],
            resolution=row["resolution"],
        )

    async def report(self, chat_id: str, message_id: int, reporter_id: str, reason: str | None, now: float) -> str:
        report_id = new_id()
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO message_reports (id, chat_id, message_id, reporter_id, reason, created_at)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                report_id,
                chat_id,
                message_id,
                reporter_id,
                self._sealed.seal(reason, "reason", report_id),
                now,
            )
        return report_id

    async def reports(self, *, open_only: bool, after: tuple[float, str] | None, limit: int) -> list[Report]:
        since, last_id = after or (-1.0, "")
        rows = await self.db.fetch(
            "SELECT * FROM message_reports WHERE ($1 = 0 OR resolved_at IS NULL)"
            " AND (created_at > $2 OR (created_at = $2 AND id > $3)) ORDER BY created_at, id LIMIT $4",
            int(open_only),
            since,
            last_id,
            limit,
        )
        return [self._report(r) for r in rows]

    async def report_by_id(self, report_id: str) -> Report | None:
        row = await self.db.fetchrow("SELECT * FROM message_reports WHERE id = $1", report_id)
        return None if row is None else self._report(row)

    async def resolve(self, report_id: str, by: str, resolution: str, now: float) -> bool:
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE message_reports SET resolved_at = $1, resolved_by = $2, resolution = $3"
                " WHERE id = $4 AND resolved_at IS NULL",
                now,
                by,
                resolution,
                report_id,
            )
        return changed > 0
