"""Push storage: each device's Web Push subscription, endpoint and keys encrypted, the endpoint blind-indexed."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from server.crypto.keyring import BlindIndex, DecryptionError, Keyring
from server.storage.database import Database, Executor, Row

log = logging.getLogger(__name__)

TABLE = "push_subscriptions"
ENDPOINT_INDEX = "push_subscriptions.endpoint"


@dataclass(frozen=True)
class PushSubscription:
    id: str
    user_id: str
    session_id: str
    endpoint: str
    p256dh: str  # base64url, as the browser gave it
    auth: str  # base64url, as the browser gave it
    expires_at: float | None
    created_at: float


@dataclass(frozen=True)
class UserSubscriptions:
    """A user's subscriptions: `live` may be sent to; `dead` (ids) belong to ended sessions or have expired."""

    live: list[PushSubscription]
    dead: list[str]


class PushRepository:
    def __init__(self, db: Database, keyring: Keyring, blind_index: BlindIndex) -> None:
        self.db = db
        self._keyring = keyring
        self._blind = blind_index

    def endpoint_index(self, endpoint: str) -> bytes:
        return self._blind(endpoint, purpose=ENDPOINT_INDEX)

    def _enc(self, column: str, row_id: str, value: str) -> bytes:
        return self._keyring.encrypt(value, table=TABLE, column=column, row_id=row_id)

    def _dec(self, column: str, row_id: str, value: bytes) -> str:
        return self._keyring.decrypt(value, table=TABLE, column=column, row_id=row_id)

    def _subscription(self, row: Row) -> PushSubscription:
        sid = row["id"]
        return PushSubscription(
            id=sid,
            user_id=row["user_id"],
            session_id=row["session_id"],
            endpoint=self._dec("endpoint", sid, row["endpoint"]),
            p256dh=self._dec("p256dh", sid, row["p256dh"]),
            auth=self._dec("auth", sid, row["auth"]),
            expires_at=row["expires_at"],
            created_at=row["created_at"],
        )

    async def replace(self, tx: Executor, subscription: PushSubscription) -> None:
        """Store the device's subscription in place of its previous one and of any row with the same endpoint."""
        index = self.endpoint_index(subscription.endpoint)
        sid = subscription.id
        await tx.execute(
            f"DELETE FROM {TABLE} WHERE session_id = $1 OR endpoint_index = $2", subscription.session_id, index
        )
        await tx.execute(
            f"INSERT INTO {TABLE} (id, user_id, session_id, endpoint_index, endpoint, p256dh, auth, expires_at,"
            " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            sid,
            subscription.user_id,
            subscription.session_id,
            index,
            self._enc("endpoint", sid, subscription.endpoint),
            self._enc("p256dh", sid, subscription.p256dh),
            self._enc("auth", sid, subscription.auth),
            subscription.expires_at,
            subscription.created_at,
        )

    async def delete_for_session(self, tx: Executor, session_id: str) -> int:
        return await tx.execute(f"DELETE FROM {TABLE} WHERE session_id = $1", session_id)

    async def delete(self, tx: Executor, ids: Sequence[str]) -> int:
        removed = 0
        for sid in ids:
            removed += await tx.execute(f"DELETE FROM {TABLE} WHERE id = $1", sid)
        return removed

    async def for_user(self, user_id: str, now: float) -> UserSubscriptions:
        rows = await self.db.fetch(
            f"SELECT p.*, s.revoked_at AS session_revoked_at, s.expires_at AS session_expires_at FROM {TABLE} p"
            " JOIN sessions s ON s.id = p.session_id WHERE p.user_id = $1 ORDER BY p.id",
            user_id,
        )
        live: list[PushSubscription] = []
        dead: list[str] = []
        for row in rows:
            ended = row["session_revoked_at"] is not None or row["session_expires_at"] <= now
            if ended or (row["expires_at"] is not None and row["expires_at"] <= now):
                dead.append(row["id"])
                continue
            try:
                live.append(self._subscription(row))
            except DecryptionError:
                # A key missing from the keyring is an operator's mistake: keep the row for when it is back.
                log.warning("push subscription %s does not decrypt with the keyring; skipped", row["id"])
        return UserSubscriptions(live, dead)
