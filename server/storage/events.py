"""Each user's numbered event log. Every event a user must not miss has the next number in that user's log
(`seq`): their seqs run 1, 2, 3... with no gap, so a client that reconnects with the last seq it saw reads
exactly what it missed. A rolled-back transaction gives its numbers back.

Two kinds of event, one numbering:
- an event for one user (their settings changed, a key changed) is a row of their log (`user_events`);
- an event every member of a chat hears (a message) is stored once, in the chat's stream (`chat_events`,
  numbered by `pos` within the chat), whatever the number of members. A user's log does not get a row per such
  event: the user's counter (`user_seq`) says which chat they follow now, from which position, and at which of
  their seqs that began (their "open" stream); every event the chat writes after that is theirs, numbered on
  from there. Only when something else reaches them (an event of their own, or of another chat) is the open
  stream closed: one row of kind '@chat' in their log covering how many of the chat's events they got. A
  member of a busy group who hears nothing else costs no write per message; one who goes back and forth
  between chats costs one row per change of chat, not one per event.
A run of items of one chat written together (messages in one batch) is one row of the chat's stream
(`span` positions); so is a run in a user's log. `read` expands runs and streams back into one event per seq.

Membership: the events of a chat go to its members at the time (the caller passes them); a user no longer
among them has their open stream on that chat closed before the next event, so nothing after they left is
numbered for them, and a user who joins opens the stream at their first event.

Concurrency: every change to the logs runs under one lock (PostgreSQL: a transaction-level advisory lock taken
first; SQLite has one writer anyway), so positions and counters are read and written without racing; what
runs at the same time is batched by the callers (the messages' batch writer), not interleaved.
Payloads are encrypted with the keyring. This module knows no domain: what a kind means is up to its domain.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from server.crypto.keyring import Keyring
from server.storage.database import Database, Executor
from server.storage.sql import Sealer, bucket, chunked, in_list, padded
from server.storage.versioned import VersionedCache

EVENT_COLUMNS = ("user_id", "seq", "kind", "chat_id", "message_id", "payload", "created_at")
SPAN_COLUMNS = (*EVENT_COLUMNS, "span")
CHAT_EVENT_COLUMNS = ("chat_id", "pos", "span", "kind", "message_id", "payload", "created_at")
COUNTER_COLUMNS = ("user_id", "last_seq", "open_chat", "open_seq", "open_from")
MAX_SPAN = 1000  # seqs (positions) one row may cover (read relies on it: never lower it)
FOLLOWED = "@chat"  # the kind of a user's row that covers a run of one chat's events
LOG_LOCK = 0x5E9_106  # PostgreSQL advisory lock key: one change to the logs at a time
FOLLOWERS_KEPT = 150_000  # followers kept across changes: more than a channel holds (least recently written go)


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
    """An item (message) of a chat that every user in `users` (its members now) hears about as `kind`, numbered
    in the chat (the items of one chat in one call follow each other: item ids one after the other)."""

    chat_id: str
    item_id: int
    users: Sequence[str]


@dataclass(frozen=True)
class ChatEvent:
    """An event every user in `users` (the chat's members now) hears, stored once in the chat's stream."""

    chat_id: str
    kind: str
    users: Sequence[str]
    message_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)


_Row = tuple[int, str | None, int, int]  # a counter as read: last_seq, open_chat, open_seq, open_from


@dataclass
class _Counter:
    """A user's counter row, as a change reads and moves it."""

    last_seq: int  # their last seq, or, while a chat's stream is open, the seq before it
    open_chat: str | None = None
    open_seq: int = 0  # their seq of the open stream's first event
    open_from: int = 0  # that event's position in the chat
    stored: bool = True
    changed: bool = False

    def state(self) -> tuple[int, str | None, int, int]:
        return self.last_seq, self.open_chat, self.open_seq, self.open_from


class EventRepository:
    def __init__(self, db: Database, keyring: Keyring) -> None:
        self.db = db
        self._sealed = Sealer(keyring, "user_events")
        self._chat_sealed = Sealer(keyring, "chat_events")
        # Each chat's followers' counters as read, kept across changes under the chat's followers version: a busy
        # group's next message reads none of its members' counters again while none of them changed.
        self.followers_kept: VersionedCache[dict[str, _Row]] = VersionedCache(FOLLOWERS_KEPT)

    async def lock(self, tx: Executor) -> None:
        """Take the logs' lock for the rest of the transaction (PostgreSQL; SQLite has one writer). A transaction
        that appends events takes it before any other lock, so two of them never wait on each other in a cycle;
        taking it again in the same transaction is free."""
        if self.db.backend == "postgresql":
            await tx.execute("SELECT pg_advisory_xact_lock($1)", LOG_LOCK)

    async def append(self, tx: Executor, events: Sequence[NewEvent], now: float) -> list[int]:
        """Give each event the next seq of its user (in the order given) and write it; returns the seqs, one per
        event. Must run inside the transaction that makes the change the events describe."""
        if not events:
            return []
        await self.lock(tx)
        counters = _Counters(self, tx, now)
        await counters.load({event.user_id for event in events}, set())
        seqs, rows = [], []
        for event in events:
            seq = counters.next_own(event.user_id)
            seqs.append(seq)
            payload = self._sealed.seal_json(event.payload, "payload", f"{event.user_id}:{seq}")
            rows.append((event.user_id, seq, event.kind, event.chat_id, event.message_id, payload, now))
        await tx.insert_rows("user_events", EVENT_COLUMNS, rows)
        await counters.save()
        return seqs

    async def append_runs(self, tx: Executor, kind: str, items: Sequence[RunItem], now: float) -> list[dict[str, int]]:
        """`kind` for every user of each item, in the order given, stored once per chat (see the module's text);
        returns each item's seq per user, for the frames sent live."""
        return await self.append_chat(tx, [ChatEvent(i.chat_id, kind, i.users, i.item_id) for i in items], now)

    async def append_chat(self, tx: Executor, events: Sequence[ChatEvent], now: float) -> list[dict[str, int]]:
        """Each event in its chat's stream, in the order given, for its users; returns each event's seq per user.
        Events of one chat and kind, without payload, whose item ids follow each other are one row (a run)."""
        if not events:
            return []
        await self.lock(tx)
        counts: dict[str, int] = defaultdict(int)
        for event in events:
            counts[event.chat_id] += 1
        last, versions = await self._reserve_positions(tx, counts)
        head = {chat_id: last[chat_id] - n for chat_id, n in counts.items()}  # before this change
        counters = _Counters(self, tx, now)
        lists = {id(event.users): event.users for event in events}  # (a batch's events of a chat share one)
        await counters.load(set().union(*lists.values()), set(counts), head, versions)
        chat_rows: list[list[Any]] = []
        runs: dict[str, list[Any]] = {}  # chat -> its open run: [chat, pos, span, kind, item id, None, now]
        out: list[dict[str, int]] = []
        members_seen: dict[str, Sequence[str]] = {}
        for event in events:
            chat_id = event.chat_id
            pos = head[chat_id] + 1
            if members_seen.get(chat_id) is not event.users:  # the members changed: close the streams of the gone
                members_seen[chat_id] = event.users
                for gone in counters.open_on[chat_id] - set(event.users):
                    counters.close(gone)
            out.append({user: counters.next_in_chat(user, chat_id, pos) for user in event.users})
            head[chat_id] = counters.heads[chat_id] = pos
            run = runs.get(chat_id)
            if (
                run is not None
                and not event.payload
                and event.message_id is not None
                and (run[3], run[4] + run[2]) == (event.kind, event.message_id)
                and run[2] < MAX_SPAN
            ):
                run[2] += 1
                continue
            payload = self._chat_sealed.seal_json(event.payload, "payload", f"{chat_id}:{pos}")
            row = [chat_id, pos, 1, event.kind, event.message_id, payload, now]
            chat_rows.append(row)
            if payload is None and event.message_id is not None:
                runs[chat_id] = row
            else:
                runs.pop(chat_id, None)
        await tx.insert_rows("chat_events", CHAT_EVENT_COLUMNS, [tuple(r) for r in chat_rows])
        await counters.save()
        return out

    async def _reserve_positions(
        self, tx: Executor, counts: Mapping[str, int]
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Add each chat's count to its last position (one statement for the batch's chats, a few sizes of it
        kept prepared; a chat's first events make its row); returns the new last positions and the versions of
        the chats' followers (see 0022_chat_versions)."""
        last: dict[str, int] = {}
        versions: dict[str, int] = {}
        for chunk in chunked(sorted(counts)):
            size = bucket(len(chunk))
            args: list[Any] = []
            for chat_id in chunk:
                args.extend((chat_id, counts[chat_id]))
            args.extend(("", 0) * (size - len(chunk)))  # up to the bucket's size: rows of no chat (no id is "")
            rows = await tx.fetch(
                f"WITH v (id, n) AS (VALUES {_position_rows(size)})"
                " UPDATE chat_streams SET last_pos = chat_streams.last_pos + v.n FROM v"
                " WHERE chat_streams.chat_id = v.id"
                " RETURNING chat_streams.chat_id, chat_streams.last_pos, chat_streams.followers_version",
                *args,
            )
            for chat_id, last_pos, version in rows:
                last[chat_id], versions[chat_id] = int(last_pos), int(version)
        new = [(chat_id, counts[chat_id]) for chat_id in sorted(counts) if chat_id not in last]
        if new:  # (under the logs' lock: nobody else makes them meanwhile; nobody follows them yet: version 0)
            await tx.insert_rows("chat_streams", ("chat_id", "last_pos"), new)
            last.update(new)
            versions.update((chat_id, 0) for chat_id, _ in new)
        return last, versions

    @staticmethod
    async def _heads(executor: Executor, chats: Sequence[str]) -> dict[str, int]:
        """Each chat's last position (0 for a chat that has written none)."""
        heads = dict.fromkeys(chats, 0)
        for chunk in chunked(sorted(chats)):
            chunk = padded(chunk)  # (a few statement sizes, kept prepared)
            rows = await executor.fetch_many(
                f"SELECT chat_id, last_pos FROM chat_streams WHERE {in_list('chat_id', len(chunk))}",
                ("chat_id", "last_pos"),
                *chunk,
            )
            heads.update({chat_id: int(pos) for chat_id, pos in rows})
        return heads

    async def last_seq(self, user_id: str) -> int:
        last_seq, open_chat, open_seq, open_from, head = await self._counter(user_id)
        return last_seq if open_chat is None else open_seq + head - open_from

    async def _counter(self, user_id: str) -> tuple[int, str | None, int, int, int]:
        """The user's counter and the last position of the chat they follow, read in one statement."""
        row = await self.db.fetchrow(
            "SELECT s.last_seq, s.open_chat, s.open_seq, s.open_from, c.last_pos FROM user_seq s"
            " LEFT JOIN chat_streams c ON c.chat_id = s.open_chat WHERE s.user_id = $1",
            user_id,
        )
        if row is None:
            return 0, None, 0, 0, 0
        return (
            int(row["last_seq"]),
            row["open_chat"],
            int(row["open_seq"]),
            int(row["open_from"]),
            int(row["last_pos"] or 0),
        )

    async def read(self, user_id: str, after: int, limit: int, upto: int | None = None) -> list[LoggedEvent]:
        """The user's events after seq `after` (at most `limit`, and none past `upto`), oldest first, runs and
        chat streams expanded into one event per seq."""
        upto = upto if upto is not None else 2**62
        if limit <= 0 or upto <= after:
            return []
        for _ in range(20):
            # The counter is read before and after the rows: the same both times means no stream was closed in
            # between (a close moves `last_seq`, and seqs only grow), so the open stream read is the user's.
            before = await self._counter(user_id)
            events = await self._read_rows(user_id, after, limit, upto)
            _, open_chat, open_seq, open_from, _ = before
            if len(events) < limit and open_chat is not None and not (events and events[-1].seq >= open_seq):
                first = max(after + 1, open_seq)
                end = min(upto, first + limit - len(events) - 1)
                if first <= end:
                    events += await self._chat_span(user_id, open_chat, open_from + first - open_seq, first, end)
            if (await self._counter(user_id))[:4] == before[:4]:
                return events[:limit]
        raise RuntimeError(f"the event log of {user_id} kept changing while it was read")

    async def _read_rows(self, user_id: str, after: int, limit: int, upto: int) -> list[LoggedEvent]:
        """The events of the user's log rows in the window (not their open stream). Every row read covers at least
        one seq in the window, so `limit` rows give at least `limit` events."""
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
            if len(events) >= limit:
                break
            first, base, span = int(row["seq"]), row["message_id"], int(row["span"])
            low, high = max(first, after + 1), min(first + span - 1, upto, after + limit)
            if row["kind"] == FOLLOWED:
                events += await self._chat_span(user_id, row["chat_id"], int(base) + low - first, low, high)
                continue
            payload = self._sealed.open_json(row["payload"], "payload", f"{user_id}:{first}") if span == 1 else {}
            for seq in range(low, high + 1):
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
        return events

    async def _chat_span(
        self, user_id: str, chat_id: str, first_pos: int, first_seq: int, last_seq: int
    ) -> list[LoggedEvent]:
        """The chat's events from `first_pos` on, numbered `first_seq`..`last_seq` for the user (fewer if the
        chat has not written that many yet)."""
        last_pos = first_pos + last_seq - first_seq
        rows = await self.db.fetch(
            "SELECT pos, span, kind, message_id, payload, created_at FROM chat_events"
            " WHERE chat_id = $1 AND pos > $2 AND pos + span > $3 AND pos <= $4 ORDER BY pos",
            chat_id,
            first_pos - MAX_SPAN,
            first_pos,
            last_pos,
        )
        events: list[LoggedEvent] = []
        for row in rows:
            start, base, span = int(row["pos"]), row["message_id"], int(row["span"])
            payload = self._chat_sealed.open_json(row["payload"], "payload", f"{chat_id}:{start}") if span == 1 else {}
            for pos in range(max(start, first_pos), min(start + span - 1, last_pos) + 1):
                events.append(
                    LoggedEvent(
                        user_id=user_id,
                        seq=first_seq + pos - first_pos,
                        kind=row["kind"],
                        chat_id=chat_id,
                        message_id=None if base is None else int(base) + pos - start,
                        payload=payload,
                        created_at=row["created_at"],
                    )
                )
        return events


class _Counters:
    """The counters of the users one change appends for: read once, moved in memory event by event, written back
    at the end with the rows of the chat streams they closed."""

    def __init__(self, repo: EventRepository, tx: Executor, now: float) -> None:
        self._repo = repo
        self._tx = tx
        self._now = now
        self._base: dict[str, _Row] = {}  # user -> their counter as read (shared with the cache: never changed)
        self._counters: dict[str, _Counter] = {}  # user -> their counter as this change moves it
        self._closed: list[tuple[Any, ...]] = []
        self.heads: dict[str, int] = {}  # chat -> its last position, as this change has moved it so far
        self.open_on: dict[str, set[str]] = {}  # chat (of this change's) -> who follows it now

    async def load(
        self,
        users: set[str],
        chats: set[str],
        heads: Mapping[str, int] | None = None,
        versions: Mapping[str, int] | None = None,
    ) -> None:
        """Read the counters of `users` and of everyone following one of `chats` (whose last positions before
        this change are `heads`, and whose followers' versions are `versions`: the followers of a chat whose
        version is the one they were last read under come from the repository's cache)."""
        tx = self._tx
        versions = versions or {}
        kept = self._repo.followers_kept
        base = self._base
        open_on = self.open_on = {}
        unread = []
        for chat_id in sorted(chats):
            followers = kept.get(chat_id, versions[chat_id]) if chat_id in versions else None
            if followers is None:
                unread.append(chat_id)
                continue
            base.update(followers)
            open_on[chat_id] = set(followers)
        for chunk in map(padded, chunked(unread)):
            rows = await tx.fetch_many(
                f"SELECT {', '.join(COUNTER_COLUMNS)} FROM user_seq WHERE {in_list('open_chat', len(chunk))}",
                COUNTER_COLUMNS,
                *chunk,
            )
            read: dict[str, dict[str, _Row]] = {chat_id: {} for chat_id in chunk}
            for user, last_seq, open_chat, open_seq, open_from in rows:
                read[open_chat][user] = (int(last_seq), open_chat, int(open_seq), int(open_from))
            for chat_id, found in read.items():
                base.update(found)
                open_on[chat_id] = set(found)
                if chat_id in versions:
                    kept.put(chat_id, versions[chat_id], found, len(found) + 1)
        self.heads.update(heads or {})
        others: set[str] = set()
        missing = sorted(users - base.keys())
        for chunk in map(padded, chunked(missing)):
            rows = await tx.fetch_many(
                f"SELECT {', '.join(COUNTER_COLUMNS)} FROM user_seq WHERE {in_list('user_id', len(chunk))}",
                COUNTER_COLUMNS,
                *chunk,
            )
            for user, last_seq, open_chat, open_seq, open_from in rows:
                base[user] = (int(last_seq), open_chat, int(open_seq), int(open_from))
                if open_chat is not None and open_chat not in self.heads:
                    others.add(open_chat)
        for user in missing:
            if user not in base:
                self._counters[user] = _Counter(0, stored=False, changed=True)
        self.heads.update(await self._repo._heads(tx, sorted(others)))

    def _counter(self, user: str) -> _Counter:
        """The user's counter, to move (made from the row read when first needed)."""
        counter = self._counters.get(user)
        if counter is None:
            counter = self._counters[user] = _Counter(*self._base[user])
        return counter

    def close(self, user: str) -> None:
        """End the user's open stream at its chat's last position so far: one row (or a few, MAX_SPAN each) in
        their log covering what they got of it."""
        counter = self._counter(user)
        if counter.open_chat is None:
            return
        count = self.heads[counter.open_chat] - counter.open_from + 1
        for offset in range(0, count, MAX_SPAN):
            span = min(MAX_SPAN, count - offset)
            self._closed.append(
                (
                    user,
                    counter.open_seq + offset,
                    FOLLOWED,
                    counter.open_chat,
                    counter.open_from + offset,
                    None,
                    self._now,
                    span,
                )
            )
        counter.last_seq = counter.open_seq + max(count, 0) - 1
        self.open_on.get(counter.open_chat, set()).discard(user)
        counter.open_chat = None
        counter.open_seq = counter.open_from = 0
        counter.changed = True

    def next_own(self, user: str) -> int:
        """The user's seq for an event of their own."""
        self.close(user)
        counter = self._counter(user)
        counter.last_seq += 1
        counter.changed = True
        return counter.last_seq

    def next_in_chat(self, user: str, chat_id: str, pos: int) -> int:
        """The user's seq for the chat's event at `pos`: on from their open stream, or the first of a new one."""
        counter = self._counters.get(user)
        if counter is None:  # (the hot path: a member of a busy group, following it, untouched by this change)
            row = self._base[user]
            if row[1] == chat_id:
                return row[2] + pos - row[3]
            counter = self._counter(user)
        if counter.open_chat == chat_id:
            return counter.open_seq + pos - counter.open_from
        self.close(user)
        counter.open_chat, counter.open_seq, counter.open_from = chat_id, counter.last_seq + 1, pos
        if chat_id in self.open_on:
            self.open_on[chat_id].add(user)
        counter.changed = True
        return counter.open_seq

    async def save(self) -> None:
        tx = self._tx
        if self._closed:
            await tx.insert_rows("user_events", SPAN_COLUMNS, self._closed)
        new = [(u, *c.state()) for u, c in self._counters.items() if c.changed and not c.stored]
        if new:
            await tx.insert_rows("user_seq", COUNTER_COLUMNS, new)
        moved = [(u, *c.state()) for u, c in self._counters.items() if c.changed and c.stored]
        for chunk in chunked(moved):
            # A statement for many counters (a few sizes of it kept prepared), not one each: on PostgreSQL each
            # statement moves the followers' versions of the chats it touches once (0022_chat_versions).
            size = bucket(len(chunk))
            args = [value for row in chunk for value in row]
            args.extend(("", 0, None, 0, 0) * (size - len(chunk)))  # up to the bucket's size: rows of no user
            await tx.execute(
                f"WITH v (id, last_seq, open_chat, open_seq, open_from) AS (VALUES {_counter_rows(size)})"
                " UPDATE user_seq SET last_seq = v.last_seq, open_chat = v.open_chat, open_seq = v.open_seq,"
                " open_from = v.open_from FROM v WHERE user_seq.user_id = v.id",
                *args,
            )


@functools.lru_cache(maxsize=64)
def _counter_rows(count: int) -> str:
    """The VALUES rows of `_Counters.save`'s UPDATE for `count` counters."""
    return ", ".join(
        f"(${5 * i + 1}, CAST(${5 * i + 2} AS BIGINT), CAST(${5 * i + 3} AS TEXT), CAST(${5 * i + 4} AS BIGINT),"
        f" CAST(${5 * i + 5} AS BIGINT))"
        for i in range(count)
    )


@functools.lru_cache(maxsize=64)
def _position_rows(count: int) -> str:
    """The VALUES rows of `_reserve_positions`'s statement for `count` chats."""
    return ", ".join(f"(${2 * i + 1}, CAST(${2 * i + 2} AS BIGINT))" for i in range(count))
