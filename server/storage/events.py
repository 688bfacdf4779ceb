"""Each user's numbered event log: `user_seq` holds a user's last seq, `user_events` their events.

Every event a user must not miss gets the next number in that user's log (`seq`), reserved with an UPDATE of
the user's counter row inside the transaction that makes the change, and a row in `user_events`. A rolled-back
transaction gives its numbers back, so each user's seqs run 1, 2, 3... with no gaps; a client that reconnects
with the last seq it saw reads exactly what it missed.

An event may name a chat and an item in it (a message). A run of items of one kind in one chat, numbered one
after the other in both the chat and the user's log, is one row covering `span` seqs (a burst of messages to a
big group is one row per member, not one per member and message); `read` expands runs back into events.
Payloads are encrypted with the keyring. This module knows no domain: what a kind means is up to its domain.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from server.crypto.keyring import Keyring
from server.storage.database import Database, Executor
from server.storage.sql import Sealer, chunked, marks, padded

EVENT_COLUMNS = ("user_id", "seq", "kind", "chat_id", "message_id", "payload", "created_at")
SPAN_COLUMNS = (*EVENT_COLUMNS, "span")
MAX_SPAN = 1000  # seqs one row may cover (read relies on it: never lower it)


@dataclass(frozen=True)
class NewEvent:
    """An event to append to one user's log."""

    user_id: str
    kind: str
    chat_id: str | None
    message_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoggedEvent:
    """One entry of a user's log, as read back (a run's entries each get their own seq and item id)."""

    user_id: str
    seq: int
    kind: str
    chat_id: str | None
    message_id: int | None
    payload: dict[str, Any]
    created_at: float


@dataclass(frozen=True)
class RunItem:
    """An item (message) of a chat that every user in `users` hears about as `kind`, numbered in the chat."""

    chat_id: str
    item_id: int
    users: Sequence[str]


class EventRepository:
    def __init__(self, db: Database, keyring: Keyring) -> None:
        self.db = db
        self._sealed = Sealer(keyring, "user_events")

    async def append(self, tx: Executor, events: Sequence[NewEvent], now: float) -> list[int]:
        """Reserve the next seq of each event's user (in the order given) and write the events; returns the
        seqs, one per event. Must run inside the transaction that makes the change the events describe."""
        if not events:
            return []
        next_seq = await self._first_seqs(tx, Counter(event.user_id for event in events))
        seqs, rows = [], []
        for event in events:
            seq = next_seq[event.user_id]
            next_seq[event.user_id] = seq + 1
            seqs.append(seq)
            payload = self._sealed.seal_json(event.payload, "payload", f"{event.user_id}:{seq}")
            rows.append((event.user_id, seq, event.kind, event.chat_id, event.message_id, payload, now))
        await tx.insert_rows("user_events", EVENT_COLUMNS, rows)
        return seqs

    async def append_runs(self, tx: Executor, kind: str, items: Sequence[RunItem], now: float) -> list[dict[str, int]]:
        """`kind` for every user of each item, in the order given: the same as `append`, without an event
        object per user (a message to a big group has thousands). Returns each item's seq per user."""
        next_seq = await self._first_seqs(tx, Counter(user for item in items for user in item.users))
        out: list[dict[str, int]] = []
        runs: dict[str, list[Any]] = {}  # user -> their open row: [user, seq, kind, chat, item id, ..., span]
        rows: list[list[Any]] = []
        for item in items:
            seqs = {}
            for user in item.users:
                seq = seqs[user] = next_seq[user]
                next_seq[user] = seq + 1
                run = runs.get(user)  # this user's last row: its seqs end just before this one
                if run is not None and (run[3], run[4] + run[7]) == (item.chat_id, item.item_id) and run[7] < MAX_SPAN:
                    run[7] += 1  # the next item of the same chat, and this user's next seq: the run goes on
                else:
                    run = runs[user] = [user, seq, kind, item.chat_id, item.item_id, None, now, 1]
                    rows.append(run)
            out.append(seqs)
        await tx.insert_rows("user_events", SPAN_COLUMNS, [tuple(r) for r in rows])
        return out

    async def _first_seqs(self, tx: Executor, counts: Mapping[str, int]) -> dict[str, int]:
        """Reserve `counts[user]` seqs for each user; returns the first of each user's new seqs."""
        last = await self._reserve(tx, counts)
        return {user: last[user] - n + 1 for user, n in counts.items()}

    async def _reserve(self, tx: Executor, counts: Mapping[str, int]) -> dict[str, int]:
        """Add each user's count to their counter; returns the new last seq per user. On PostgreSQL all the
        counters are locked first, in id order, so two transactions that touch the same users cannot deadlock;
        SQLite has one writer, so nothing else can hold these rows and the counters are bumped straight away."""
        users = sorted(counts)
        if self.db.backend == "postgresql":
            present: set[str] = set()
            for chunk in chunked(users):
                present |= await self._lock_counters(tx, chunk)
            await self._make_counters(tx, [u for u in users if u not in present])
            return await self._bump_all(tx, users, counts)
        last = await self._bump_all(tx, users, counts)
        missing = [u for u in users if u not in last]  # a user's first event: their counter is made now
        if missing:
            await self._make_counters(tx, missing)
            last.update(await self._bump_all(tx, missing, counts))
        return last

    async def _make_counters(self, tx: Executor, users: list[str]) -> None:
        """Counters (at 0) for users who have none yet, locked until the transaction ends (PostgreSQL)."""
        for chunk in chunked(users):
            values = ", ".join(f"(${i})" for i in range(1, len(chunk) + 1))
            await tx.execute(f"INSERT INTO user_seq (user_id) VALUES {values} ON CONFLICT (user_id) DO NOTHING", *chunk)
            if self.db.backend == "postgresql":
                await self._lock_counters(tx, chunk)

    async def _bump_all(self, tx: Executor, users: list[str], counts: Mapping[str, int]) -> dict[str, int]:
        """Add each user's count to their counter; the new last seq of those who have one."""
        by_count: dict[int, list[str]] = defaultdict(list)
        for user in users:
            by_count[counts[user]].append(user)
        last: dict[str, int] = {}
        for n, group in by_count.items():
            for chunk in chunked(group):
                last.update(await self._bump(tx, chunk, n))
        return last

    @staticmethod
    async def _lock_counters(tx: Executor, users: list[str]) -> set[str]:
        """Those of the users who have a counter, locked until the transaction ends (PostgreSQL only)."""
        rows = await tx.fetch(
            f"SELECT user_id FROM user_seq WHERE user_id IN ({marks(1, len(users))}) ORDER BY user_id FOR UPDATE",
            *users,
        )
        return {row["user_id"] for row in rows}

    @staticmethod
    async def _bump(tx: Executor, users: list[str], n: int) -> dict[str, int]:
        users = padded(users)  # a repeated user is bumped once all the same
        await tx.execute(
            f"UPDATE user_seq SET last_seq = last_seq + $1 WHERE user_id IN ({marks(2, len(users))})", n, *users
        )
        # Read back in the same transaction (not RETURNING: fetch_many hands over many rows in one go).
        rows = await tx.fetch_many(
            f"SELECT user_id, last_seq FROM user_seq WHERE user_id IN ({marks(1, len(users))})",
            ("user_id", "last_seq"),
            *users,
        )
        return {user_id: int(last_seq) for user_id, last_seq in rows}

    async def last_seq(self, user_id: str) -> int:
        value = await self.db.fetchval("SELECT last_seq FROM user_seq WHERE user_id = $1", user_id)
        return int(value or 0)

    async def read(self, user_id: str, after: int, limit: int, upto: int | None = None) -> list[LoggedEvent]:
        """The user's events after seq `after` (at most `limit`, and none past `upto`), oldest first, runs
        expanded. Every row read covers at least one seq in the window, so `limit` rows give `limit` events."""
        upto = upto if upto is not None else 2**62
        rows = await self.db.fetch(
            "SELECT seq, span, kind, chat_id, message_id, payload, created_at FROM user_events"
            " WHERE user_id = $1 AND seq > $2 AND seq + span > $3 AND seq <= $4 ORDER BY seq LIMIT $5",
            user_id,
            after - MAX_SPAN,
            after + 1,
            upto,
            limit,
        )
        events: list[LoggedEvent] = []
        for row in rows:
            first, base, span = int(row["seq"]), row["message_id"], int(row["span"])
            payload = self._sealed.open_json(row["payload"], "payload", f"{user_id}:{first}") if span == 1 else {}
            for seq in range(max(first, after + 1), min(first + span, upto + 1)):
                events.append(
                    LoggedEvent(
                        user_id=user_id,
                        seq=seq,
                        kind=row["kind"],
                        chat_id=row["chat_id"],
                        message_id=None if base is None else int(base) + seq - first,
                        payload=payload,
                        created_at=row["created_at"],
                    )
                )
        return events[:limit]
