"""Mail outbox storage: e-mail waiting to be sent, recipient, subject and body encrypted, claimed under a lease."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from server.crypto.keyring import DecryptionError, Keyring
from server.storage.database import Database, Executor, Row
from server.storage.sql import Sealer, chunked, in_list

log = logging.getLogger(__name__)

TABLE = "mail_outbox"
PENDING, FAILED = "pending", "failed"


@dataclass(frozen=True)
class OutgoingMail:
    id: str
    to: str
    subject: str
    text: str
    attempts: int  # attempts made before this one


class MailOutboxRepository:
    def __init__(self, db: Database, keyring: Keyring) -> None:
        self.db = db
        self._sealed = Sealer(keyring, TABLE)

    def _row(self, mail_id: str, to: str, subject: str, text: str, now: float) -> tuple[object, ...]:
        return (
            mail_id,
            self._sealed.seal(to, "recipient", mail_id),
            self._sealed.seal(subject, "subject", mail_id),
            self._sealed.seal(text, "body", mail_id),
            now,
            now,
        )

    async def add(self, tx: Executor, to: str, subject: str, text: str, now: float) -> str:
        """Queue one mail, due now, inside the caller's transaction; returns its id."""
        mail_id = uuid.uuid4().hex
        await tx.execute(
            f"INSERT INTO {TABLE} (id, recipient, subject, body, due_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            *self._row(mail_id, to, subject, text, now),
        )
        return mail_id

    async def add_and_discard(self, tx: Executor, to: str, subject: str, text: str, now: float) -> None:
        """The work of `add`, undone in the same transaction: what a request that sends nothing does instead, so
        it costs the same as one that sends (an unknown address must not answer faster than a known one)."""
        mail_id = await self.add(tx, to, subject, text, now)
        await tx.execute(f"DELETE FROM {TABLE} WHERE id = $1", mail_id)

    async def claim(self, owner: str, now: float, lease_seconds: float, limit: int) -> list[OutgoingMail]:
        """Lease up to `limit` due mails to `owner`. A row is due when pending, its time has come and no live
        lease holds it; the UPDATE re-checks that, so two processes never lease one row at once (PostgreSQL also
        skips rows another claim has locked, SQLite has one writer)."""
        skip_locked = " FOR UPDATE SKIP LOCKED" if self.db.backend == "postgresql" else ""
        due = "state = $3 AND due_at <= $2 AND (lease_until IS NULL OR lease_until <= $2)"
        async with self.db.transaction() as tx:  # a write: on SQLite, only the writer connection may run it
            rows = await tx.fetch(
                f"UPDATE {TABLE} SET lease_until = $1, lease_owner = $4 WHERE {due} AND id IN"
                f" (SELECT id FROM {TABLE} WHERE {due} ORDER BY due_at LIMIT $5{skip_locked})"
                " RETURNING id, recipient, subject, body, attempts",
                now + lease_seconds,
                now,
                PENDING,
                owner,
                limit,
            )
        mails = []
        for row in rows:
            try:
                mails.append(self._mail(row))
            except DecryptionError:
                # A key missing from the keyring is an operator's mistake: the lease runs out, then it is tried again.
                log.warning("mail %s does not decrypt with the keyring; skipped", row["id"])
        return mails

    def _mail(self, row: Row) -> OutgoingMail:
        mid = row["id"]
        return OutgoingMail(
            id=mid,
            to=self._sealed.open(row["recipient"], "recipient", mid),
            subject=self._sealed.open(row["subject"], "subject", mid),
            text=self._sealed.open(row["body"], "body", mid),
            attempts=row["attempts"],
        )

    async def sent(self, mail_id: str, owner: str) -> None:
        await self.db.execute(f"DELETE FROM {TABLE} WHERE id = $1 AND lease_owner = $2", mail_id, owner)

    async def retry(self, mail_id: str, owner: str, *, due_at: float, error: str) -> None:
        """One more attempt used; try again at `due_at`."""
        await self._attempted(mail_id, owner, PENDING, due_at, error)

    async def fail(self, mail_id: str, owner: str, *, error: str, now: float) -> None:
        """No more attempts: kept as failed (`due_at` then says when it failed)."""
        await self._attempted(mail_id, owner, FAILED, now, error)

    async def _attempted(self, mail_id: str, owner: str, state: str, due_at: float, error: str) -> None:
        await self.db.execute(
            f"UPDATE {TABLE} SET attempts = attempts + 1, state = $1, due_at = $2, last_error = $3,"
            " lease_until = NULL, lease_owner = NULL WHERE id = $4 AND lease_owner = $5",
            state,
            due_at,
            error,
            mail_id,
            owner,
        )

    async def release(self, mail_ids: Sequence[str], owner: str) -> None:
        """Give leases back unused (the process is stopping): the rows are due again at once, for any sender."""
        for chunk in chunked(mail_ids):
            await self.db.execute(
                f"UPDATE {TABLE} SET lease_until = NULL, lease_owner = NULL"
                f" WHERE lease_owner = $1 AND {in_list('id', len(chunk), 2)}",
                owner,
                *chunk,
            )

    async def next_due(self) -> float | None:
        """When the next pending mail can be claimed (now or earlier if one is due); None when none waits."""
        value = await self.db.fetchval(
            f"SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > due_at THEN lease_until ELSE due_at END)"
            f" FROM {TABLE} WHERE state = $1",
            PENDING,
        )
        return None if value is None else float(value)

    async def drop_failed(self, before: float) -> int:
        """Forget failed mails that failed before `before` (they hold personal data)."""
        return await self.db.execute(f"DELETE FROM {TABLE} WHERE state = $1 AND due_at < $2", FAILED, before)

    async def counts(self) -> dict[str, int]:
        """Rows by state, for tests and metrics."""
        rows = await self.db.fetch(f"SELECT state, COUNT(*) AS n FROM {TABLE} GROUP BY state")
        return {str(row["state"]): int(row["n"]) for row in rows}
