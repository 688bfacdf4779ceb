"""IoT storage: channels, their API keys, the user's API key, and feed writes with gap-free entry ids."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from server.crypto.keyring import BlindIndex, Keyring
from server.storage.database import Database, Executor, Row
from server.storage.sql import Sealer, assignments, marks

KEY_INDEX = "api_key"
FIELDS = tuple(f"field{n}" for n in range(1, 9))
NUMBERS = tuple(f"n{n}" for n in range(1, 9))
CHANNEL_COLUMNS = (
    "name",
    "description",
    *FIELDS,
    "latitude",
    "longitude",
    "elevation",
    "public",
    "metadata",
    "tags",
    "url",
    "retention_days",
    "min_update_seconds",
)
FEED_COLUMNS = (
    "channel_id",
    "entry_id",
    "created_at",
    *FIELDS,
    *NUMBERS,
    "latitude",
    "longitude",
    "elevation",
    "status",
)


class DuplicateTimestampError(Exception):
    """A point's explicit created_at is already taken in its channel (ThingSpeak requires them unique);
    `in_one_write`: by another point of the same write."""

    def __init__(self, message: str, in_one_write: bool = False) -> None:
        super().__init__(message)
        self.in_one_write = in_one_write


class ChannelGoneError(Exception):
    """The channel was deleted between the key check and the write."""


@dataclass(frozen=True)
class Channel:
    id: int
    owner_id: str
    name: str
    description: str | None
    fields: tuple[str | None, ...]
    latitude: float | None
    longitude: float | None
    elevation: float | None
    public: bool
    metadata: str | None
    tags: str | None
    url: str | None
    retention_days: int | None
    min_update_seconds: float | None
    last_entry_id: int
    last_write_at: float | None
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class ApiKey:
    id: str
    channel_id: int
    kind: str  # "write" or "read"
    api_key: str
    note: str | None


@dataclass(frozen=True)
class KeyedChannel:
    """What a channel API key leads to."""

    channel: Channel
    kind: str  # "write" or "read"
    owner_suspended: bool


@dataclass(frozen=True)
class KeyUser:
    """What a user API key leads to."""

    user_id: str
    suspended: bool


@dataclass
class Point:
    """One feed entry before it is written. `explicit_time`: the sender gave created_at (it must be unique)."""

    created_at: float
    fields: list[str | None] = field(default_factory=lambda: [None] * 8)
    latitude: float | None = None
    longitude: float | None = None
    elevation: float | None = None
    status: str | None = None
    explicit_time: bool = False
    checked: bool = False  # its texts were checked for control characters where it was parsed


@dataclass(frozen=True)
class FeedWrite:
    """Points for one channel, written all together or not at all."""

    channel_id: int
    points: Sequence[Point]


@dataclass(frozen=True)
class Written:
    channel_id: int
    first_entry_id: int
    points: Sequence[Point]
    bulk: bool = False  # a bulk update: not republished over MQTT (ThingSpeak does not)

    @property
    def last_entry_id(self) -> int:
        return self.first_entry_id + len(self.points) - 1


def as_number(value: str | None) -> float | None:
    """The numeric value of a field, if it is a finite number."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


async def write_feeds(tx: Executor, items: list[FeedWrite]) -> list[Written]:
    """The batch writer's work: reserve entry ids per channel in this transaction, then insert every point.

    Ids come from UPDATE ... RETURNING on the channel's row: the row lock serialises concurrent writers of a
    channel (several processes on PostgreSQL), and a rolled-back transaction gives its ids back, so ids run
    1, 2, 3... with no gaps or repeats.
    """
    by_channel: dict[int, list[int]] = defaultdict(list)
    for position, item in enumerate(items):
        by_channel[item.channel_id].append(position)
    results: list[Written | None] = [None] * len(items)
    rows: list[tuple[Any, ...]] = []
    for channel_id, positions in by_channel.items():
        points = [p for pos in positions for p in items[pos].points]
        explicit = [p.created_at for p in points if p.explicit_time]
        if explicit:
            await _check_unique_times(tx, channel_id, explicit)
        newest = max(p.created_at for p in points)
        last = await tx.fetchval(
            "UPDATE channels SET last_entry_id = last_entry_id + $1,"
            " last_write_at = CASE WHEN last_write_at IS NULL OR last_write_at < $2 THEN $2 ELSE last_write_at END"
            " WHERE id = $3 RETURNING last_entry_id",
            len(points),
            newest,
            channel_id,
        )
        if last is None:
            raise ChannelGoneError(f"channel {channel_id} no longer exists")
        entry_id = int(last) - len(points) + 1
        for pos in positions:
            item = items[pos]
            results[pos] = Written(channel_id, entry_id, item.points)
            for point in item.points:
                rows.append(
                    (
                        channel_id,
                        entry_id,
                        point.created_at,
                        *point.fields,
                        *(as_number(v) for v in point.fields),
                        point.latitude,
                        point.longitude,
                        point.elevation,
                        point.status,
                    )
                )
                entry_id += 1
    await tx.insert_rows("feeds", FEED_COLUMNS, rows)
    return [r for r in results if r is not None]


async def _check_unique_times(tx: Executor, channel_id: int, times: list[float]) -> None:
    if len(set(times)) != len(times):
        raise DuplicateTimestampError("two points carry the same created_at", in_one_write=True)
    taken = await tx.fetch(
        "SELECT created_at FROM feeds WHERE channel_id = $1 AND created_at >= $2 AND created_at <= $3",
        channel_id,
        min(times),
        max(times),
    )
    if {float(r["created_at"]) for r in taken} & set(times):
        raise DuplicateTimestampError("a point with that created_at already exists in this channel")


class ChannelRepository:
    def __init__(self, db: Database, keyring: Keyring, blind_index: BlindIndex) -> None:
        self.db = db
        self._channel_keys = Sealer(keyring, "channel_keys")
        self._user_keys = Sealer(keyring, "user_api_keys")
        self._blind = blind_index

    def key_index(self, api_key: str) -> bytes:
        return self._blind(api_key, purpose=KEY_INDEX)

    @staticmethod
    def _channel(row: Row) -> Channel:
        return Channel(
            id=int(row["id"]),
            owner_id=row["owner_id"],
            name=row["name"],
            description=row["description"],
            fields=tuple(row[f] for f in FIELDS),
            latitude=row["latitude"],
            longitude=row["longitude"],
            elevation=row["elevation"],
            public=bool(row["public"]),
            metadata=row["metadata"],
            tags=row["tags"],
            url=row["url"],
            retention_days=row["retention_days"],
            min_update_seconds=row["min_update_seconds"],
            last_entry_id=int(row["last_entry_id"]),
            last_write_at=row["last_write_at"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    # -- channels -----------------------------------------------------------------------------------
    async def create(self, tx: Executor, owner_id: str, values: dict[str, Any], now: float) -> int:
        columns = [c for c in CHANNEL_COLUMNS if c in values]
        args = [values[c] for c in columns]
        new_id = await tx.fetchval(
            f"INSERT INTO channels ({', '.join([*columns, 'owner_id', 'created_at', 'updated_at'])})"
            f" VALUES ({marks(1, len(args) + 3)}) RETURNING id",
            *args,
            owner_id,
            now,
            now,
        )
        return int(new_id)

    async def get(self, channel_id: int, tx: Executor | None = None) -> Channel | None:
        row = await (tx or self.db).fetchrow("SELECT * FROM channels WHERE id = $1", channel_id)
        return self._channel(row) if row else None

    async def of_owner(self, owner_id: str) -> list[Channel]:
        rows = await self.db.fetch("SELECT * FROM channels WHERE owner_id = $1 ORDER BY id", owner_id)
        return [self._channel(r) for r in rows]

    async def public(self, *, tag: str | None, after: int, limit: int) -> list[Channel]:
        if not tag:
            rows = await self.db.fetch(
                "SELECT * FROM channels WHERE public = 1 AND id > $1 ORDER BY id LIMIT $2", after, limit
            )
            return [self._channel(r) for r in rows]
        # LIKE narrows it down in SQL; the exact match on whole tags is made here.
        wanted = tag.strip().lower()
        found: list[Channel] = []
        while len(found) < limit:
            rows = await self.db.fetch(
                "SELECT * FROM channels WHERE public = 1 AND id > $1 AND lower(tags) LIKE $2 ORDER BY id LIMIT $3",
                after,
                f"%{wanted}%",
                limit,
            )
            if not rows:
                break
            channels = [self._channel(r) for r in rows]
            found += [c for c in channels if wanted in [t.strip().lower() for t in (c.tags or "").split(",")]]
            after = channels[-1].id
        return found[:limit]

    async def public_page(self, *, tag: str | None, offset: int, limit: int) -> tuple[list[Channel], int]:
        """A page of public channels (with `tag`, if given) in id order, and how many there are in all."""
        if not tag:
            row = await self.db.fetchrow("SELECT count(*) AS n FROM channels WHERE public = 1")
            rows = await self.db.fetch(
                "SELECT * FROM channels WHERE public = 1 ORDER BY id LIMIT $1 OFFSET $2", limit, offset
            )
            return [self._channel(r) for r in rows], int(row["n"]) if row else 0
        # LIKE narrows it down in SQL (ids and tags only); the exact match on whole tags is made here.
        wanted = tag.strip().lower()
        rows = await self.db.fetch(
            "SELECT id, tags FROM channels WHERE public = 1 AND lower(tags) LIKE $1 ORDER BY id", f"%{wanted}%"
        )
        ids = [r["id"] for r in rows if wanted in [t.strip().lower() for t in (r["tags"] or "").split(",")]]
        found = [await self.get(int(i)) for i in ids[offset : offset + limit]]
        return [c for c in found if c is not None], len(ids)

    async def update(self, tx: Executor, channel_id: int, values: dict[str, Any], now: float) -> None:
        columns = [c for c in CHANNEL_COLUMNS if c in values]
        if not columns:
            return
        n = len(columns)
        await tx.execute(
            f"UPDATE channels SET {assignments(columns)}, updated_at = ${n + 1} WHERE id = ${n + 2}",
            *[values[c] for c in columns],
            now,
            channel_id,
        )

    async def delete(self, tx: Executor, channel_id: int) -> None:
        await tx.execute("DELETE FROM feeds WHERE channel_id = $1", channel_id)
        await tx.execute("DELETE FROM channels WHERE id = $1", channel_id)

    async def clear(self, tx: Executor, channel_id: int) -> None:
        # ThingSpeak keeps counting after a clear: entry ids are never reused.
        await tx.execute("DELETE FROM feeds WHERE channel_id = $1", channel_id)

    # -- channel keys -------------------------------------------------------------------------------
    async def add_key(
        self, tx: Executor, channel_id: int, kind: str, api_key: str, now: float, note: str | None = None
    ) -> ApiKey:
        key_id = uuid.uuid4().hex
        await tx.execute(
            "INSERT INTO channel_keys (id, channel_id, kind, key_index, api_key, note, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            key_id,
            channel_id,
            kind,
            self.key_index(api_key),
            self._channel_keys.seal(api_key, "api_key", key_id),
            note,
            now,
        )
        return ApiKey(key_id, channel_id, kind, api_key, note)

    async def delete_keys(self, tx: Executor, channel_id: int, kind: str, key_id: str | None = None) -> int:
        if key_id is None:
            return await tx.execute("DELETE FROM channel_keys WHERE channel_id = $1 AND kind = $2", channel_id, kind)
        return await tx.execute(
            "DELETE FROM channel_keys WHERE channel_id = $1 AND kind = $2 AND id = $3", channel_id, kind, key_id
        )

    async def keys(self, channel_id: int, tx: Executor | None = None) -> list[ApiKey]:
        rows = await (tx or self.db).fetch(
            "SELECT * FROM channel_keys WHERE channel_id = $1 ORDER BY kind DESC, created_at, id", channel_id
        )
        return [
            ApiKey(
                r["id"],
                int(r["channel_id"]),
                r["kind"],
                self._channel_keys.open(r["api_key"], "api_key", r["id"]),
                r["note"],
            )
            for r in rows
        ]

    async def channel_of_key(self, api_key: str) -> KeyedChannel | None:
        """The channel a channel API key belongs to, the key's kind, and whether the channel's owner is suspended:
        one query (the write path runs it on every cache miss)."""
        row = await self.db.fetchrow(
            "SELECT c.*, k.kind AS key_kind, u.suspended_at AS owner_suspended_at FROM channel_keys k"
            " JOIN channels c ON c.id = k.channel_id LEFT JOIN users u ON u.id = c.owner_id WHERE k.key_index = $1",
            self.key_index(api_key),
        )
        if row is None:
            return None
        return KeyedChannel(self._channel(row), str(row["key_kind"]), row["owner_suspended_at"] is not None)

    async def with_owner_state(self, channel_id: int) -> tuple[Channel, bool] | None:
        """A channel and whether its owner is suspended, in one query (keyless MQTT writes check this)."""
        row = await self.db.fetchrow(
            "SELECT c.*, u.suspended_at AS owner_suspended_at FROM channels c"
            " LEFT JOIN users u ON u.id = c.owner_id WHERE c.id = $1",
            channel_id,
        )
        return None if row is None else (self._channel(row), row["owner_suspended_at"] is not None)

    # -- the user's API key -------------------------------------------------------------------------
    async def set_user_key(self, tx: Executor, user_id: str, api_key: str, now: float) -> None:
        await tx.execute("DELETE FROM user_api_keys WHERE user_id = $1", user_id)
        await tx.execute(
            "INSERT INTO user_api_keys (user_id, key_index, api_key, created_at) VALUES ($1, $2, $3, $4)",
            user_id,
            self.key_index(api_key),
            self._user_keys.seal(api_key, "api_key", user_id),
            now,
        )

    async def user_key(self, user_id: str) -> str | None:
        row = await self.db.fetchrow("SELECT api_key FROM user_api_keys WHERE user_id = $1", user_id)
        return self._user_keys.open(row["api_key"], "api_key", user_id) if row else None

    async def user_of_key(self, api_key: str) -> KeyUser | None:
        """The user a user API key belongs to, and whether that account is suspended."""
        row = await self.db.fetchrow(
            "SELECT k.user_id, u.suspended_at FROM user_api_keys k LEFT JOIN users u ON u.id = k.user_id"
            " WHERE k.key_index = $1",
            self.key_index(api_key),
        )
        return KeyUser(str(row["user_id"]), row["suspended_at"] is not None) if row else None

    # -- feed rows ----------------------------------------------------------------------------------
    async def entries_after(self, channel_id: int, after_entry_id: int, limit: int) -> list[Row]:
        return await self.db.fetch(
            "SELECT * FROM feeds WHERE channel_id = $1 AND entry_id > $2 ORDER BY entry_id LIMIT $3",
            channel_id,
            after_entry_id,
            limit,
        )

    # -- retention ----------------------------------------------------------------------------------
    async def with_retention(self) -> list[tuple[int, int]]:
        rows = await self.db.fetch("SELECT id, retention_days FROM channels WHERE retention_days IS NOT NULL")
        return [(int(r["id"]), int(r["retention_days"])) for r in rows]

    async def delete_older_than(self, channel_id: int, before: float, limit: int) -> int:
        """Delete at most `limit` of the oldest points before `before`, in one short transaction."""
        async with self.db.transaction() as tx:
            return await tx.execute(
                "DELETE FROM feeds WHERE channel_id = $1 AND entry_id IN"
                " (SELECT entry_id FROM feeds WHERE channel_id = $1 AND created_at < $2 ORDER BY entry_id LIMIT $3)",
                channel_id,
                before,
                limit,
            )
