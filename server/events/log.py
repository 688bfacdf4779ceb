"""Each user's numbered events: appended in the transaction that makes a change, published after it commits,
read back on sync. Any domain appends through `change` (or `append` inside its own transaction); a domain whose
events are read back with more than their payload (chat's `message.new` carries the message as it is now)
registers a reader for that kind.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from server.realtime.broker import USER_TOPICS, Broker, user_topic
from server.storage.database import Executor
from server.storage.events import ChatEvent, EventRepository, LoggedEvent, NewEvent, RunItem

# (transaction, now) -> the events the change makes: a user's own, or a chat's (stored once for its members)
Work = Callable[[Executor, float], Awaitable[Sequence[NewEvent | ChatEvent]]]
# (user id, that user's logged events of one kind, oldest first) -> their frames, one per event, in order
Reader = Callable[[str, list[LoggedEvent]], Awaitable[list[dict[str, Any]]]]


def event_frame(kind: str, seq: int, chat_id: str | None, payload: dict[str, Any]) -> dict[str, Any]:
    """What a client receives for one event (docs/protocol.md, "Events")."""
    return {"type": kind, "seq": seq, "chat_id": chat_id, **payload}


class EventLog:
    def __init__(self, repo: EventRepository, broker: Broker, *, clock: Callable[[], float] = time.time) -> None:
        self.repo = repo
        self._db = repo.db
        self._broker = broker
        self._clock = clock
        self._readers: dict[str, Reader] = {}

    def add_reader(self, kind: str, reader: Reader) -> None:
        """Read events of `kind` back through `reader` (instead of as their stored payload)."""
        if kind in self._readers:
            raise ValueError(f"events of kind {kind!r} have a reader already")
        self._readers[kind] = reader

    async def change(self, work: Work, now: float | None = None) -> list[dict[str, Any]]:
        """Run `work` in a transaction with the events it returns; publish them after the commit (a chat's event
        once for all its members). Returns the frames of the events for one user (`NewEvent`), in order."""
        now = self._clock() if now is None else now
        async with self._db.transaction() as tx:
            await self.repo.lock(tx)  # first, before the work takes any lock of its own
            events = await work(tx, now)
            numbered = await self._append_all(tx, events, now)
        frames = []
        for event, seqs in numbered:
            if isinstance(event, ChatEvent):
                self.publish_numbered({"type": event.kind, "chat_id": event.chat_id, **event.payload}, seqs)
                continue
            [(user_id, seq)] = seqs.items()
            frame = event_frame(event.kind, seq, event.chat_id, event.payload)
            self.publish(user_id, frame)
            frames.append(frame)
        return frames

    async def _append_all(
        self, tx: Executor, events: Sequence[NewEvent | ChatEvent], now: float
    ) -> list[tuple[NewEvent | ChatEvent, dict[str, int]]]:
        """Append the events in their order (consecutive ones of a kind together); returns each event with the
        seq it has for each user it reached."""
        numbered: list[tuple[NewEvent | ChatEvent, dict[str, int]]] = []
        start = 0
        while start < len(events):
            end = start
            own = isinstance(events[start], NewEvent)
            while end < len(events) and isinstance(events[end], NewEvent) == own:
                end += 1
            if own:
                mine = [e for e in events[start:end] if isinstance(e, NewEvent)]
                seqs = await self.repo.append(tx, mine, now)
                numbered += [(e, {e.user_id: seq}) for e, seq in zip(mine, seqs, strict=True)]
            else:
                chats = [e for e in events[start:end] if isinstance(e, ChatEvent)]
                per_user = await self.repo.append_chat(tx, chats, now)
                numbered += list(zip(chats, per_user, strict=True))
            start = end
        return numbered

    async def append(self, tx: Executor, events: Sequence[NewEvent], now: float) -> list[int]:
        """Append inside the caller's transaction; the caller publishes after its commit."""
        return await self.repo.append(tx, events, now)

    async def append_runs(self, tx: Executor, kind: str, items: Sequence[RunItem], now: float) -> list[dict[str, int]]:
        return await self.repo.append_runs(tx, kind, items, now)

    def publish(self, user_id: str, frame: dict[str, Any]) -> None:
        """Send a frame live to every connection of the user, in every process (never waits)."""
        self._broker.publish(user_topic(user_id), frame)

    def publish_numbered(self, frame: dict[str, Any], seqs: Mapping[str, int]) -> None:
        """Send a frame live to every connection of each user in `seqs`, with that user's seq, in one publication
        (never waits)."""
        self._broker.publish_numbered(USER_TOPICS, frame, seqs, "seq")

    async def last_seq(self, user_id: str) -> int:
        return await self.repo.last_seq(user_id)

    async def frames_after(self, user_id: str, after: int, limit: int, upto: int | None = None) -> list[dict[str, Any]]:
        """The frames of the user's events after `after` (at most `limit`, none past `upto`), oldest first."""
        events = await self.repo.read(user_id, after, limit, upto)
        frames: list[dict[str, Any] | None] = [None] * len(events)
        by_kind: dict[str, list[int]] = defaultdict(list)
        for index, event in enumerate(events):
            if event.kind in self._readers:
                by_kind[event.kind].append(index)
            else:
                frames[index] = event_frame(event.kind, event.seq, event.chat_id, event.payload)
        for kind, indexes in by_kind.items():
            read = await self._readers[kind](user_id, [events[i] for i in indexes])
            for index, frame in zip(indexes, read, strict=True):
                frames[index] = frame
        return [frame for frame in frames if frame is not None]
