"""To-device inbox storage: messages waiting for one end-to-end device until it acknowledges them
(see 0018_e2e_inbox.sql). Each message's sender and content are sealed with the keyring."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from server.crypto.keyring import Keyring
from server.storage.database import Database, Executor
from server.storage.sql import Sealer, in_list

COLUMNS = ("device_id", "id", "payload", "created_at")


@dataclass(frozen=True)
class InboxMessage:
    id: int  # counts up per device; not contiguous
    sender_id: str
    sender_device_id: str | None
    type: str
    content: dict[str, Any]
    created_at: float


@dataclass(frozen=True)
class Delivery:
    """One message for one device, as the sender gave it."""

    device_id: str
    sender_id: str
    sender_device_id: str | None
    type: str
    content: dict[str, Any]


class InboxRepository:
    def __init__(self, db: Database, keyring: Keyring) -> None:
        self.db = db
        self._sealed = Sealer(keyring, "e2e_inbox")

    async def reserve_ids(self, tx: Executor, device_id: str, count: int) -> int | None:
        """Lock the device's row and reserve `count` message ids; returns the last, or None if the device is gone.
        Call in device id order: concurrent senders then lock in the same order and never deadlock."""
        last = await tx.fetchval(
            "UPDATE e2e_devices SET inbox_seq = inbox_seq + $1 WHERE id = $2 RETURNING inbox_seq", count, device_id
        )
        return None if last is None else int(last)

    async def pending_counts(self, tx: Executor, device_ids: Sequence[str]) -> dict[str, int]:
        if not device_ids:
            return {}
        rows = await tx.fetch(
            f"SELECT device_id, count(*) AS n FROM e2e_inbox WHERE {in_list('device_id', len(device_ids), 1)}"
            " GROUP BY device_id",
            *device_ids,
        )
        return {r["device_id"]: int(r["n"]) for r in rows}

    async def add(self, tx: Executor, items: Sequence[tuple[int, Delivery]], now: float) -> None:
        """Store each delivery under its reserved id."""
        rows = []
        for message_id, d in items:
            payload = {"sender_id": d.sender_id, "sender_device_id": d.sender_device_id, "type": d.type}
            sealed = self._sealed.seal_json({**payload, "content": d.content}, "payload", f"{d.device_id}:{message_id}")
            rows.append((d.device_id, message_id, sealed, now))
        await tx.insert_rows("e2e_inbox", COLUMNS, rows)

    def open(self, device_id: str, message_id: int, payload: bytes, created_at: float) -> InboxMessage:
        value = self._sealed.open_json(payload, "payload", f"{device_id}:{message_id}")
        return InboxMessage(
            id=message_id,
            sender_id=value["sender_id"],
            sender_device_id=value.get("sender_device_id"),
            type=value["type"],
            content=value.get("content") or {},
            created_at=created_at,
        )

    async def pending(self, device_id: str, after: int, limit: int) -> list[InboxMessage]:
        """The device's messages after id `after`, oldest first, at most `limit`."""
        rows = await self.db.fetch(
            "SELECT id, payload, created_at FROM e2e_inbox WHERE device_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            device_id,
            after,
            limit,
        )
        return [self.open(device_id, int(r["id"]), bytes(r["payload"]), float(r["created_at"])) for r in rows]

    async def acknowledge(self, tx: Executor, device_id: str, up_to: int) -> int:
        """Delete the device's messages up to id `up_to`; returns how many."""
        return await tx.execute("DELETE FROM e2e_inbox WHERE device_id = $1 AND id <= $2", device_id, up_to)

    async def count(self, device_id: str) -> int:
        return int(await self.db.fetchval("SELECT count(*) FROM e2e_inbox WHERE device_id = $1", device_id))
