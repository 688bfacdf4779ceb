"""Per-connection delivery of a user's numbered events (`seq`): in order, each once, with gaps filled.

Live events arrive from the broker. Once the client has synced (told us the last seq it saw), the stream
knows which seq comes next: an older one is dropped (already sent), the next one is sent, and a later one
means something committed earlier has not reached this process yet, so the missing events are read from the
user's log first. While the log is being read, live events wait in a buffer, so nothing overtakes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from server.realtime.broker import Numbered
from server.realtime.connections import CLOSE_TOO_SLOW, Connection

log = logging.getLogger(__name__)

# (after, upto or None, limit) -> frames of the user's events after `after`, oldest first
ReadLog = Callable[[int, int | None, int], Awaitable[list[dict[str, Any]]]]

PAGE = 200  # events read from the log at a time
MAX_BUFFERED = 10_000  # live events held while the log is read; past this the client is too far behind


class SeqStream:
    def __init__(self, conn: Connection, read: ReadLog) -> None:
        self._conn = conn
        self._read = read
        self.last: int | None = None  # the last seq sent; None until the client syncs
        self._pending: list[dict[str, Any]] | None = None  # live frames held while reading the log
        self._filling: asyncio.Task[None] | None = None

    def live(self, frame: dict[str, Any]) -> None:
        if self._pending is not None:
            if len(self._pending) >= MAX_BUFFERED:
                self._conn.close_soon(CLOSE_TOO_SLOW, "too slow: reconnect and resync")
                return
            self._pending.append(frame)
            return
        seq = int(frame["seq"])
        if self.last is None:
            self._conn.send(frame)
        elif seq <= self.last:
            return
        elif seq == self.last + 1:
            self.last = seq
            self._conn.send(frame)
        else:
            self._pending = [frame]
            self._filling = asyncio.get_running_loop().create_task(self._fill())

    def live_numbered(self, shared: Numbered, seq: int) -> None:
        """`live` for one member's copy of a group event: the next one in order is written as the shared bytes
        with its seq (no dict); anything else takes `live`'s way."""
        if self._pending is None and self.last is not None and seq == self.last + 1:
            self.last = seq
            self._conn.send_encoded(shared.encode(seq))
        else:
            self.live(shared.frame(seq))

    async def sync(self, after: int, max_events: int) -> bool:
        """Send every event after `after` (up to `max_events`), then carry on live. True if more remain."""
        # A gap being filled finishes first; a live event arriving meanwhile may start another, so wait until
        # none runs (nothing awaits between this loop and taking over the buffer below).
        while self._filling is not None and not self._filling.done():
            await asyncio.gather(self._filling, return_exceptions=True)
        self._pending = []
        # What this connection has sent already reaches the client in order: never send it twice.
        self.last = after if self.last is None else max(after, self.last)
        sent = 0
        try:
            while sent < max_events:
                want = min(PAGE, max_events - sent)
                frames = await self._read(self.last, None, want)
                for frame in frames:
                    await self._conn.send_wait(frame)
                    self.last = int(frame["seq"])
                sent += len(frames)
                if len(frames) < want:
                    break
            more = sent >= max_events
            await self._drain()
        except BaseException:
            self._pending = None
            raise
        return more

    def stop(self) -> None:
        """The connection ended: stop reading the log for it."""
        if self._filling is not None:
            self._filling.cancel()

    async def _fill(self) -> None:
        try:
            await self._drain()
        except Exception:
            log.exception("reading the event log failed; closing the connection so the client resyncs")
            self._pending = None
            self._conn.close_soon(CLOSE_TOO_SLOW, "could not catch up: reconnect and resync")

    async def _drain(self) -> None:
        """Send the buffered live frames in seq order, reading any gap before them from the log."""
        assert self._pending is not None
        assert self.last is not None
        while True:
            self._pending.sort(key=lambda f: int(f["seq"]))
            while self._pending and int(self._pending[0]["seq"]) <= self.last + 1:
                frame = self._pending.pop(0)
                if int(frame["seq"]) == self.last + 1:
                    self.last += 1
                    self._conn.send(frame)
            if not self._pending:
                self._pending = None
                return
            upto = int(self._pending[0]["seq"]) - 1
            frames = await self._read(self.last, upto, PAGE)
            for frame in frames:
                await self._conn.send_wait(frame)
                self.last = int(frame["seq"])
            if not frames:  # nothing in the log before the buffered one: do not wait for it forever
                self.last = upto
