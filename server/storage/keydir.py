"""Key directory storage: each device's public keys and its one-time prekeys (see 0008_key_directory.sql).

A device is live while its session is: not revoked and not expired. A device of an ended session is never listed or
claimed; its row goes (with its one-time prekeys and its inbox, ON DELETE CASCADE) when its session is ended, when
the sweep finds it (a session that expired), when its owner publishes again, or with the session row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from server.storage.database import Database, Executor, Row
from server.storage.sql import in_list

_LIVE = "JOIN sessions s ON s.id = d.session_id WHERE s.revoked_at IS NULL AND s.expires_at > $1"


@dataclass(frozen=True)
class SignedPrekey:
    key_id: int
    public_key: bytes
    signature: bytes


@dataclass(frozen=True)
class OneTimePrekey:
    key_id: int
    public_key: bytes


@dataclass(frozen=True)
class Device:
    id: str
    session_id: str
    user_id: str
    identity_key: bytes
    signed_prekey: SignedPrekey
    created_at: float
    updated_at: float


def _device(row: Row) -> Device:
    return Device(
        id=row["id"],
        session_id=row["session_id"],
        user_id=row["user_id"],
        identity_key=bytes(row["identity_key"]),
        signed_prekey=SignedPrekey(
            key_id=int(row["signed_prekey_id"]),
            public_key=bytes(row["signed_prekey"]),
            signature=bytes(row["signed_prekey_signature"]),
        ),
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
    )


class KeyDirectoryRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- devices ------------------------------------------------------------------------------------
    async def device_of_session(self, session_id: str, tx: Executor | None = None) -> Device | None:
        row = await (tx or self.db).fetchrow("SELECT * FROM e2e_devices WHERE session_id = $1", session_id)
        return _device(row) if row else None

    async def lock_device_of_session(self, tx: Executor, session_id: str) -> Device | None:
        """The session's device, its row locked until `tx` ends."""
        return await self._lock(tx, "session_id", session_id)

    async def lock_device(self, tx: Executor, device_id: str) -> Device | None:
        """The device, its row locked until `tx` ends."""
        return await self._lock(tx, "id", device_id)

    @staticmethod
    async def _lock(tx: Executor, column: str, value: str) -> Device | None:
        # The no-op UPDATE locks the row on PostgreSQL (SQLite has one writer anyway): it waits for a transaction
        # holding the row, then returns its latest committed state, so what follows in `tx` decides on current
        # values and concurrent writers of one device take turns.
        row = await tx.fetchrow(
            f"UPDATE e2e_devices SET updated_at = updated_at WHERE {column} = $1 RETURNING *", value
        )
        return _device(row) if row else None

    async def insert_device(
        self,
        tx: Executor,
        *,
        device_id: str,
        session_id: str,
        user_id: str,
        identity_key: bytes,
        signed_prekey: SignedPrekey,
        now: float,
    ) -> bool:
        """Add the session's device; False if the session already has one (a concurrent publish won)."""
        changed = await tx.execute(
            "INSERT INTO e2e_devices (id, session_id, user_id, identity_key, signed_prekey_id, signed_prekey,"
            " signed_prekey_signature, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)"
            " ON CONFLICT (session_id) DO NOTHING",
            device_id,
            session_id,
            user_id,
            identity_key,
            signed_prekey.key_id,
            signed_prekey.public_key,
            signed_prekey.signature,
            now,
        )
        return changed == 1

    async def update_device(
        self, tx: Executor, device_id: str, identity_key: bytes, signed_prekey: SignedPrekey, now: float
    ) -> None:
        await tx.execute(
            "UPDATE e2e_devices SET identity_key = $1, signed_prekey_id = $2, signed_prekey = $3,"
            " signed_prekey_signature = $4, updated_at = $5 WHERE id = $6",
            identity_key,
            signed_prekey.key_id,
            signed_prekey.public_key,
            signed_prekey.signature,
            now,
            device_id,
        )

    async def delete_device_of_session(self, tx: Executor, session_id: str) -> int:
        # Its one-time prekeys go with it (ON DELETE CASCADE).
        return await tx.execute("DELETE FROM e2e_devices WHERE session_id = $1", session_id)

    async def delete_ended_devices(self, tx: Executor, user_id: str, now: float) -> int:
        """Forget the user's devices whose sessions were revoked or have expired."""
        return await tx.execute(
            "DELETE FROM e2e_devices WHERE user_id = $1 AND session_id IN"
            " (SELECT id FROM sessions WHERE user_id = $1 AND (revoked_at IS NOT NULL OR expires_at <= $2))",
            user_id,
            now,
        )

    async def delete_devices_of_ended_sessions(self, tx: Executor, now: float, limit: int) -> list[str]:
        """Delete up to `limit` devices, of any user, whose sessions were revoked or have expired; returns their
        users' ids (one for each device deleted)."""
        rows = await tx.fetch(
            "DELETE FROM e2e_devices WHERE id IN (SELECT d.id FROM e2e_devices d JOIN sessions s ON s.id = d.session_id"
            " WHERE s.revoked_at IS NOT NULL OR s.expires_at <= $1 ORDER BY d.id LIMIT $2) RETURNING user_id",
            now,
            limit,
        )
        return [r["user_id"] for r in rows]

    async def count_live_devices(self, tx: Executor, user_id: str, now: float) -> int:
        count = await tx.fetchval(f"SELECT count(*) FROM e2e_devices d {_LIVE} AND d.user_id = $2", now, user_id)
        return int(count)

    async def live_devices(self, user_id: str, now: float, tx: Executor | None = None) -> list[Device]:
        """The user's devices whose sessions are live, by id."""
        rows = await (tx or self.db).fetch(
            f"SELECT d.* FROM e2e_devices d {_LIVE} AND d.user_id = $2 ORDER BY d.id", now, user_id
        )
        return [_device(r) for r in rows]

    async def e2e_peers(self, tx: Executor, user_id: str) -> list[str]:
        """Everyone who shares an end-to-end chat with the user (the user included, if in any)."""
        rows = await tx.fetch(
            "SELECT DISTINCT o.user_id FROM chat_members m JOIN chats c ON c.id = m.chat_id AND c.e2e = 1"
            " JOIN chat_members o ON o.chat_id = m.chat_id WHERE m.user_id = $1",
            user_id,
        )
        return [r["user_id"] for r in rows]

    # -- one-time prekeys ---------------------------------------------------------------------------
    async def count_one_time_prekeys(self, device_id: str, tx: Executor | None = None) -> int:
        count = await (tx or self.db).fetchval(
            "SELECT count(*) FROM e2e_one_time_prekeys WHERE device_id = $1", device_id
        )
        return int(count)

    async def one_time_prekeys(self, tx: Executor, device_id: str, key_ids: Sequence[int]) -> dict[int, bytes]:
        """The stored public keys of these key ids (those the device has)."""
        if not key_ids:
            return {}
        rows = await tx.fetch(
            "SELECT key_id, public_key FROM e2e_one_time_prekeys WHERE device_id = $1"
            f" AND {in_list('key_id', len(key_ids), 2)}",
            device_id,
            *key_ids,
        )
        return {int(r["key_id"]): bytes(r["public_key"]) for r in rows}

    async def add_one_time_prekeys(
        self, tx: Executor, device_id: str, prekeys: Sequence[OneTimePrekey], now: float
    ) -> None:
        await tx.insert_rows(
            "e2e_one_time_prekeys",
            ("device_id", "key_id", "public_key", "created_at"),
            [(device_id, p.key_id, p.public_key, now) for p in prekeys],
        )

    async def delete_one_time_prekeys(self, tx: Executor, device_id: str) -> int:
        return await tx.execute("DELETE FROM e2e_one_time_prekeys WHERE device_id = $1", device_id)

    async def take_one_time_prekey(self, tx: Executor, device_id: str) -> OneTimePrekey | None:
        """Remove the device's lowest-numbered one-time prekey and return it; None when it has none left.

        Call with the device's row locked (`lock_device`): claims of one device then take turns, and on PostgreSQL
        each statement sees what the claims before it committed, so two claims never pick the same key.
        """
        row = await tx.fetchrow(
            "DELETE FROM e2e_one_time_prekeys WHERE device_id = $1 AND key_id ="
            " (SELECT key_id FROM e2e_one_time_prekeys WHERE device_id = $1 ORDER BY key_id LIMIT 1)"
            " RETURNING key_id, public_key",
            device_id,
        )
        return OneTimePrekey(int(row["key_id"]), bytes(row["public_key"])) if row else None
