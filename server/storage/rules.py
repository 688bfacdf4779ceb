"""Automation rule storage: rules (config, actions and state as JSON text) and the events that say what they did.

The engine reads a channel's rules with UPDATE ... RETURNING inside its transaction: that locks their rows
(PostgreSQL), so two processes evaluating the same rule take turns and each sees the other's state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from server.crypto.keyring import Keyring
from server.storage.database import Database, Executor, Row
from server.storage.sql import Sealer, chunked, in_list


@dataclass(frozen=True)
class Rule:
    id: str
    channel_id: int
    owner_id: str
    name: str
    kind: str
    enabled: bool
    config: dict[str, Any]
    actions: list[dict[str, Any]]
    state: dict[str, Any]
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class RuleEvent:
    seq: int
    at: float
    kind: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class NewEvent:
    at: float
    kind: str
    detail: dict[str, Any]


def to_json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _rule(row: Row, actions: list[dict[str, Any]]) -> Rule:
    return Rule(
        id=row["id"],
        channel_id=int(row["channel_id"]),
        owner_id=row["owner_id"],
        name=row["name"],
        kind=row["kind"],
        enabled=bool(row["enabled"]),
        config=orjson.loads(row["config"]),
        actions=actions,
        state=orjson.loads(row["state"]),
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
    )


class RuleRepository:
    def __init__(self, db: Database, keyring: Keyring) -> None:
        self.db = db
        self._sealed = Sealer(keyring, "rules")

    # Actions hold webhook URLs (often with tokens in them) and alert texts: encrypted at rest.
    def _actions_blob(self, rule: Rule) -> bytes:
        return self._sealed.seal(to_json(rule.actions), "actions", rule.id)

    def _rule(self, row: Row) -> Rule:
        return _rule(row, orjson.loads(self._sealed.open(row["actions"], "actions", row["id"])))

    # -- rules --------------------------------------------------------------------------------------
    async def create(self, tx: Executor, rule: Rule) -> None:
        await tx.execute(
            "INSERT INTO rules (id, channel_id, owner_id, name, kind, enabled, config, actions, state,"
            " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            rule.id,
            rule.channel_id,
            rule.owner_id,
            rule.name,
            rule.kind,
            int(rule.enabled),
            to_json(rule.config),
            self._actions_blob(rule),
            to_json(rule.state),
            rule.created_at,
            rule.updated_at,
        )

    async def get(self, rule_id: str, tx: Executor | None = None) -> Rule | None:
        row = await (tx or self.db).fetchrow("SELECT * FROM rules WHERE id = $1", rule_id)
        return self._rule(row) if row else None

    async def of_channel(self, channel_id: int, after: tuple[float, str] | None, limit: int) -> list[Rule]:
        if after is None:
            rows = await self.db.fetch(
                "SELECT * FROM rules WHERE channel_id = $1 ORDER BY created_at, id LIMIT $2", channel_id, limit
            )
        else:
            rows = await self.db.fetch(
                "SELECT * FROM rules WHERE channel_id = $1 AND (created_at > $2 OR (created_at = $2 AND id > $3))"
                " ORDER BY created_at, id LIMIT $4",
                channel_id,
                after[0],
                after[1],
                limit,
            )
        return [self._rule(r) for r in rows]

    async def count_of_channel(self, channel_id: int) -> int:
        return int(await self.db.fetchval("SELECT count(*) FROM rules WHERE channel_id = $1", channel_id))

    async def update(self, tx: Executor, rule: Rule) -> None:
        await tx.execute(
            "UPDATE rules SET name = $1, enabled = $2, config = $3, actions = $4, state = $5, updated_at = $6"
            " WHERE id = $7",
            rule.name,
            int(rule.enabled),
            to_json(rule.config),
            self._actions_blob(rule),
            to_json(rule.state),
            rule.updated_at,
            rule.id,
        )

    async def delete(self, tx: Executor, rule_id: str) -> int:
        return await tx.execute("DELETE FROM rules WHERE id = $1", rule_id)

    # -- for the engine -----------------------------------------------------------------------------
    async def all_channels_with_rules(self) -> set[int]:
        rows = await self.db.fetch("SELECT DISTINCT channel_id FROM rules WHERE enabled = 1")
        return {int(r["channel_id"]) for r in rows}

    async def channels_with_rules(self, channel_ids: Sequence[int]) -> set[int]:
        """Which of these channels have an enabled rule (a read: most points have none to run)."""
        found: set[int] = set()
        for chunk in chunked(channel_ids):
            rows = await self.db.fetch(
                f"SELECT DISTINCT channel_id FROM rules WHERE enabled = 1 AND {in_list('channel_id', len(chunk))}",
                *chunk,
            )
            found.update(int(r["channel_id"]) for r in rows)
        return found

    async def lock_channel_rules(self, tx: Executor, channel_id: int, now: float) -> list[Rule]:
        """The channel's enabled rules, locked until the transaction ends."""
        rows = await tx.fetch(
            "UPDATE rules SET evaluated_at = $1 WHERE channel_id = $2 AND enabled = 1 RETURNING *", now, channel_id
        )
        return sorted((self._rule(r) for r in rows), key=lambda r: (r.created_at, r.id))

    async def lock(self, tx: Executor, rule_id: str, now: float, *, only_enabled: bool = True) -> Rule | None:
        """One rule (by default only if enabled), locked until the transaction ends."""
        enabled = " AND enabled = 1" if only_enabled else ""
        row = await tx.fetchrow(f"UPDATE rules SET evaluated_at = $1 WHERE id = $2{enabled} RETURNING *", now, rule_id)
        return self._rule(row) if row else None

    async def enabled_of_kind(self, kind: str) -> list[Rule]:
        rows = await self.db.fetch("SELECT * FROM rules WHERE kind = $1 AND enabled = 1", kind)
        return [self._rule(r) for r in rows]

    async def save_state(self, tx: Executor, rule_id: str, state: dict[str, Any]) -> None:
        await tx.execute("UPDATE rules SET state = $1 WHERE id = $2", to_json(state), rule_id)

    # -- events -------------------------------------------------------------------------------------
    async def add_events(self, tx: Executor, rule_id: str, events: Iterable[NewEvent], keep: int) -> None:
        """Append events with the next sequence numbers, forgetting all but the newest `keep`."""
        batch = list(events)
        if not batch:
            return
        last = await tx.fetchval(
            "UPDATE rules SET last_event_seq = last_event_seq + $1 WHERE id = $2 RETURNING last_event_seq",
            len(batch),
            rule_id,
        )
        if last is None:  # the rule was deleted meanwhile
            return
        first = int(last) - len(batch) + 1
        await tx.insert_rows(
            "rule_events",
            ("rule_id", "seq", "at", "kind", "detail"),
            [(rule_id, first + i, e.at, e.kind, to_json(e.detail)) for i, e in enumerate(batch)],
        )
        await tx.execute("DELETE FROM rule_events WHERE rule_id = $1 AND seq <= $2", rule_id, int(last) - keep)

    async def events(self, rule_id: str, before: int | None, limit: int) -> list[RuleEvent]:
        """Newest first; `before`: only events with a smaller sequence number (the next page)."""
        rows = await self.db.fetch(
            "SELECT seq, at, kind, detail FROM rule_events WHERE rule_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
            rule_id,
            before if before is not None else 2**62,
            limit,
        )
        return [RuleEvent(int(r["seq"]), float(r["at"]), r["kind"], orjson.loads(r["detail"])) for r in rows]
