"""Push storage: each device's Web Push subscription, endpoint and keys encrypted, the endpoint blind-indexed."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from server.crypto.keyring import BlindIndex, DecryptionError, Keyring
from server.storage.database import Database, Executor, Row
from server.storage.sql import Sealer, chunked, in_list

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
    language: str = "en"  # the user's, for the texts the service worker shows (pwa/sw.js)


class PushRepository:
    def __init__(self, db: Database, keyring: Keyring, blind_index: BlindIndex) -> None:
        self.db = db
        self._sealed = Sealer(keyring, TABLE)
        self._blind = blind_index

    def endpoint_index(self, endpoint: str) -> bytes:
        return self._blind(endpoint, purpose=ENDPOINT_INDEX)

    def _subscription(self, row: Row) -> PushSubscription:
        sid = row["id"]
        return PushSubscription(
            id=sid,
            user_id=row["user_id"],
            session_id=row["session_id"],
            endpoint=self._sealed.open(row["endpoint"], "endpoint", sid),
            p256dh=self._sealed.open(row["p256dh"], "p256dh", sid),
            auth=self._sealed.open(row["auth"], "auth", sid),
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
            self._sealed.seal(subscription.endpoint, "endpoint", sid),
            self._sealed.seal(subscription.p256dh, "p256dh", sid),
            self._sealed.seal(subscription.auth, "auth", sid),
            subscription.expires_at,
            subscription.created_at,
        )

    async def delete_for_session(self, tx: Executor, session_id: str) -> int:
        return await tx.execute(f"DELETE FROM {TABLE} WHERE session_id = $1", session_id)

    async def delete(self, tx: Executor, ids: Sequence[str]) -> int:
        removed = 0
        for chunk in chunked(ids):
            removed += await tx.execute(f"DELETE FROM {TABLE} WHERE {in_list('id', len(chunk))}", *chunk)
        return removed

    async def for_user(self, user_id: str, now: float) -> UserSubscriptions:
        rows = await self.db.fetch(
            f"SELECT p.*, s.revoked_at AS session_revoked_at, s.expires_at AS session_expires_at, u.language"
            f" FROM {TABLE} p JOIN sessions s ON s.id = p.session_id JOIN users u ON u.id = p.user_id"
            " WHERE p.user_id = $1 ORDER BY p.id",
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
        return UserSubscriptions(live, dead, rows[0]["language"] if rows else "en")
