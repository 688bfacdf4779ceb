"""TalkBack storage: TalkBacks, their API keys (encrypted, found by blind index) and their command queues."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from server.crypto.keyring import BlindIndex, Keyring
from server.storage.database import Database, Executor, Row
from server.storage.sql import Sealer

KEY_INDEX = "talkback_key"
# Executing retries when another executor took the command it picked; this many tries is plenty.
_EXECUTE_TRIES = 20


@dataclass(frozen=True)
class TalkBack:
    id: int
    owner_id: str
    name: str
    channel_id: int | None
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class Command:
    id: int
    talkback_id: int
    command_string: str
    position: int | None
    executed_at: float | None
    created_at: float


def _talkback(row: Row) -> TalkBack:
    channel_id = row["channel_id"]
    return TalkBack(
        id=int(row["id"]),
        owner_id=row["owner_id"],
        name=row["name"],
        channel_id=None if channel_id is None else int(channel_id),
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
    )


def _command(row: Row) -> Command:
    position = row["position"]
    executed = row["executed_at"]
    return Command(
        id=int(row["id"]),
        talkback_id=int(row["talkback_id"]),
        command_string=row["command_string"],
        position=None if position is None else int(position),
        executed_at=None if executed is None else float(executed),
        created_at=float(row["created_at"]),
    )


class TalkBackRepository:
    def __init__(self, db: Database, keyring: Keyring, blind_index: BlindIndex) -> None:
        self.db = db
        self._keys = Sealer(keyring, "talkback_keys")
        self._blind = blind_index

    def key_index(self, api_key: str) -> bytes:
        return self._blind(api_key, purpose=KEY_INDEX)

    # -- TalkBacks ----------------------------------------------------------------------------------
    async def create(self, tx: Executor, owner_id: str, name: str, channel_id: int | None, now: float) -> int:
        new_id = await tx.fetchval(
            "INSERT INTO talkbacks (owner_id, name, channel_id, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id",
            owner_id,
            name,
            channel_id,
            now,
            now,
        )
        return int(new_id)

    async def get(self, talkback_id: int, tx: Executor | None = None) -> TalkBack | None:
        row = await (tx or self.db).fetchrow("SELECT * FROM talkbacks WHERE id = $1", talkback_id)
        return _talkback(row) if row else None

    async def of_owner(self, owner_id: str, limit: int) -> list[TalkBack]:
        rows = await self.db.fetch("SELECT * FROM talkbacks WHERE owner_id = $1 ORDER BY id LIMIT $2", owner_id, limit)
        return [_talkback(r) for r in rows]

    async def count_of_owner(self, owner_id: str) -> int:
        return int(await self.db.fetchval("SELECT count(*) FROM talkbacks WHERE owner_id = $1", owner_id))

    async def update(self, tx: Executor, talkback_id: int, name: str, channel_id: int | None, now: float) -> None:
        await tx.execute(
            "UPDATE talkbacks SET name = $1, channel_id = $2, updated_at = $3 WHERE id = $4",
            name,
            channel_id,
            now,
            talkback_id,
        )

    async def delete(self, tx: Executor, talkback_id: int) -> None:
        await tx.execute("DELETE FROM talkbacks WHERE id = $1", talkback_id)

    # -- keys ---------------------------------------------------------------------------------------
    async def set_key(self, tx: Executor, talkback_id: int, api_key: str, now: float) -> None:
        """Give the TalkBack this key, replacing the one it had."""
        await tx.execute("DELETE FROM talkback_keys WHERE talkback_id = $1", talkback_id)
        key_id = uuid.uuid4().hex
        await tx.execute(
            "INSERT INTO talkback_keys (id, talkback_id, key_index, api_key, created_at) VALUES ($1, $2, $3, $4, $5)",
            key_id,
            talkback_id,
            self.key_index(api_key),
            self._keys.seal(api_key, "api_key", key_id),
            now,
        )

    async def key_of(self, talkback_id: int) -> str | None:
        row = await self.db.fetchrow("SELECT id, api_key FROM talkback_keys WHERE talkback_id = $1", talkback_id)
        return self._keys.open(row["api_key"], "api_key", row["id"]) if row else None

    async def talkback_of_key(self, api_key: str) -> tuple[TalkBack, bool] | None:
        """The TalkBack a TalkBack API key belongs to, and whether its owner is suspended (one query)."""
        row = await self.db.fetchrow(
            "SELECT t.*, u.suspended_at AS owner_suspended_at FROM talkback_keys k"
            " JOIN talkbacks t ON t.id = k.talkback_id LEFT JOIN users u ON u.id = t.owner_id WHERE k.key_index = $1",
            self.key_index(api_key),
        )
        return (_talkback(row), row["owner_suspended_at"] is not None) if row else None

    # -- commands -----------------------------------------------------------------------------------
    async def queued_count(self, tx: Executor, talkback_id: int) -> int:
        count = await tx.fetchval(
            "SELECT count(*) FROM talkback_commands WHERE talkback_id = $1 AND executed_at IS NULL", talkback_id
        )
        return int(count)

    async def add_command(
        self, tx: Executor, talkback_id: int, command_string: str, position: int | None, now: float
    ) -> Command:
        """Queue a command at `position` (those at or after it move down one), or at the end."""
        if position is None:
            last = await tx.fetchval(
                "SELECT max(position) FROM talkback_commands WHERE talkback_id = $1 AND executed_at IS NULL",
                talkback_id,
            )
            position = int(last or 0) + 1
        else:
            await self._make_room(tx, talkback_id, position)
        row = await tx.fetchrow(
            "INSERT INTO talkback_commands (talkback_id, command_string, position, created_at)"
            " VALUES ($1, $2, $3, $4) RETURNING *",
            talkback_id,
            command_string,
            position,
            now,
        )
        assert row is not None
        return _command(row)

    @staticmethod
    async def _make_room(tx: Executor, talkback_id: int, position: int) -> None:
        await tx.execute(
            "UPDATE talkback_commands SET position = position + 1"
            " WHERE talkback_id = $1 AND executed_at IS NULL AND position >= $2",
            talkback_id,
            position,
        )

    async def queue(self, talkback_id: int, limit: int) -> list[Command]:
        rows = await self.db.fetch(
            "SELECT * FROM talkback_commands WHERE talkback_id = $1 AND executed_at IS NULL"
            " ORDER BY position, id LIMIT $2",
            talkback_id,
            limit,
        )
        return [_command(r) for r in rows]

    async def command(self, talkback_id: int, command_id: int, tx: Executor | None = None) -> Command | None:
        row = await (tx or self.db).fetchrow(
            "SELECT * FROM talkback_commands WHERE talkback_id = $1 AND id = $2", talkback_id, command_id
        )
        return _command(row) if row else None

    async def update_command(
        self, tx: Executor, talkback_id: int, command_id: int, command_string: str | None, position: int | None
    ) -> Command | None:
        current = await self.command(talkback_id, command_id, tx)
        if current is None:
            return None
        if position is not None and current.executed_at is None and position != current.position:
            # Take it out of the queue, make room at the new place, put it there.
            await tx.execute("UPDATE talkback_commands SET position = NULL WHERE id = $1", command_id)
            await self._make_room(tx, talkback_id, position)
            await tx.execute("UPDATE talkback_commands SET position = $1 WHERE id = $2", position, command_id)
        if command_string is not None:
            await tx.execute(
                "UPDATE talkback_commands SET command_string = $1 WHERE id = $2", command_string, command_id
            )
        return await self.command(talkback_id, command_id, tx)

    async def delete_command(self, tx: Executor, talkback_id: int, command_id: int) -> Command | None:
        found = await self.command(talkback_id, command_id, tx)
        if found is not None:
            await tx.execute("DELETE FROM talkback_commands WHERE id = $1", command_id)
        return found

    async def delete_commands(self, tx: Executor, talkback_id: int) -> int:
        return await tx.execute("DELETE FROM talkback_commands WHERE talkback_id = $1", talkback_id)

    async def execute_next(self, talkback_id: int, now: float, keep_executed: int = 100) -> Command | None:
        """Take the first queued command (by position, then id) and mark it executed, in one transaction.

        The UPDATE only applies while the command is still queued: if a concurrent executor took it first
        (PostgreSQL re-checks the condition once the other transaction commits), this one takes the next, so
        two executes never return the same command. Only the `keep_executed` newest executed commands are kept.
        """
        async with self.db.transaction() as tx:
            for _ in range(_EXECUTE_TRIES):
                first = await tx.fetchval(
                    "SELECT id FROM talkback_commands WHERE talkback_id = $1 AND executed_at IS NULL"
                    " ORDER BY position, id LIMIT 1",
                    talkback_id,
                )
                if first is None:
                    return None
                row = await tx.fetchrow(
                    "UPDATE talkback_commands SET executed_at = $1, position = NULL"
                    " WHERE id = $2 AND executed_at IS NULL RETURNING *",
                    now,
                    first,
                )
                if row is not None:
                    await self.prune_executed(tx, talkback_id, keep_executed)
                    return _command(row)
        raise RuntimeError(f"could not take a command of TalkBack {talkback_id}: too much contention")

    async def last_executed(self, talkback_id: int) -> Command | None:
        row = await self.db.fetchrow(
            "SELECT * FROM talkback_commands WHERE talkback_id = $1 AND executed_at IS NOT NULL"
            " ORDER BY executed_at DESC, id DESC LIMIT 1",
            talkback_id,
        )
        return _command(row) if row else None

    async def executed(self, talkback_id: int, before: tuple[float, int] | None, limit: int) -> list[Command]:
        """Executed commands (the newest KEEP_EXECUTED are kept), newest first, those before `before` (time, id)."""
        if before is None:
            rows = await self.db.fetch(
                "SELECT * FROM talkback_commands WHERE talkback_id = $1 AND executed_at IS NOT NULL"
                " ORDER BY executed_at DESC, id DESC LIMIT $2",
                talkback_id,
                limit,
            )
        else:
            rows = await self.db.fetch(
                "SELECT * FROM talkback_commands WHERE talkback_id = $1 AND executed_at IS NOT NULL"
                " AND (executed_at < $2 OR (executed_at = $2 AND id < $3)) ORDER BY executed_at DESC, id DESC LIMIT $4",
                talkback_id,
                before[0],
                before[1],
                limit,
            )
        return [_command(r) for r in rows]

    async def prune_executed(self, tx: Executor, talkback_id: int, keep: int) -> None:
        """Forget all but the `keep` newest executed commands (the queue itself is never touched)."""
        await tx.execute(
            "DELETE FROM talkback_commands WHERE talkback_id = $1 AND executed_at IS NOT NULL AND id NOT IN"
            " (SELECT id FROM talkback_commands WHERE talkback_id = $1 AND executed_at IS NOT NULL"
            " ORDER BY executed_at DESC, id DESC LIMIT $2)",
            talkback_id,
            keep,
        )
