"""A connection's place in its user's event log: events go out in seq order, each once, with gaps filled from
the log, whatever order they arrive in from the broker (events from other processes can overtake)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import orjson

from server.realtime.broker import Numbered
from server.realtime.connections import Connection
from server.realtime.seq import SeqStream


class Socket:
    """Stands in for a Connection: records what would go to the client."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.encoded = 0  # of those, sent as a group event's shared bytes
        self.closed: int | None = None

    def send(self, frame: dict[str, Any]) -> bool:
        self.sent.append(frame["seq"])
        return True

    def send_encoded(self, data: bytes) -> bool:
        self.sent.append(orjson.loads(data)["seq"])
        self.encoded += 1
        return True

    async def send_wait(self, frame: dict[str, Any]) -> None:
        self.sent.append(frame["seq"])

    def close_soon(self, code: int, reason: str) -> None:
        self.closed = code


def log_of(last: int) -> tuple[list[tuple[int, int | None]], Any]:
    """A log holding seqs 1..last; returns (the reads made, the reader)."""
    reads: list[tuple[int, int | None]] = []

    async def read(after: int, upto: int | None, limit: int) -> list[dict[str, Any]]:
        reads.append((after, upto))
        await asyncio.sleep(0)  # a real read yields to the loop: live events arrive meanwhile
        end = last if upto is None else min(upto, last)
        return [{"seq": s} for s in range(after + 1, min(end, after + limit) + 1)]

    return reads, read


def ev(seq: int) -> dict[str, Any]:
    return {"type": "message.new", "seq": seq}


async def test_sync_replays_the_log_then_live_events_without_duplicates() -> None:
    socket = Socket()
    _, read = log_of(5)
    stream = SeqStream(cast(Connection, socket), read)
    syncing = asyncio.get_running_loop().create_task(stream.sync(2, 5000))
    await asyncio.sleep(0)
    for seq in (5, 6, 4):  # live events during the replay, some already in the log, out of order
        stream.live(ev(seq))
    assert await syncing is False
    stream.live(ev(7))
    stream.live(ev(6))  # a duplicate
    assert socket.sent == [3, 4, 5, 6, 7]


async def test_a_gap_is_read_from_the_log_before_the_later_event() -> None:
    socket = Socket()
    _, read = log_of(10)
    stream = SeqStream(cast(Connection, socket), read)
    await stream.sync(0, 5000)  # the log holds 1..10 now
    assert socket.sent == list(range(1, 11))
    # Event 13 arrives before 11 and 12 (committed by another process, published later).
    reads, read_more = log_of(13)
    stream._read = read_more
    stream.live(ev(13))
    stream.live(ev(11))
    for _ in range(5):
        await asyncio.sleep(0)
    stream.live(ev(12))
    assert reads == [(11, 12)]  # only the gap, once: 11 came live, 12 from the log, and the live 12 is dropped
    assert socket.sent == list(range(1, 14))


async def test_group_events_in_order_go_out_as_shared_bytes_and_out_of_order_wait_like_any() -> None:
    socket = Socket()
    _, read = log_of(3)
    stream = SeqStream(cast(Connection, socket), read)
    await stream.sync(0, 5000)
    shared = Numbered({"type": "message.new", "chat_id": "c"}, "seq")
    stream.live_numbered(shared, 4)  # the next one: written as bytes
    stream.live_numbered(shared, 4)  # again: dropped
    assert (socket.sent, socket.encoded) == ([1, 2, 3, 4], 1)
    reads, read_more = log_of(6)
    stream._read = read_more
    stream.live_numbered(shared, 7)  # after a gap: waits while 5 and 6 are read
    stream.live(ev(5))
    for _ in range(5):
        await asyncio.sleep(0)
    stream.live_numbered(shared, 8)
    assert reads == [(5, 6)]
    assert socket.sent == list(range(1, 9))


async def test_a_long_backlog_comes_in_pages_and_says_more() -> None:
    socket = Socket()
    _, read = log_of(450)
    stream = SeqStream(cast(Connection, socket), read)
    assert await stream.sync(0, 300) is True
    assert socket.sent == list(range(1, 301))
    assert await stream.sync(300, 300) is False
    assert socket.sent == list(range(1, 451))


async def test_a_second_sync_never_resends_what_the_connection_already_sent() -> None:
    # The first sync stops at its page limit (more: true); a live event fills the gap before the client asks
    # again from where its page ended. The connection has sent those already: the client gets each once.
    socket = Socket()
    _, read = log_of(30)
    stream = SeqStream(cast(Connection, socket), read)
    assert await stream.sync(0, 10) is True
    stream.live(ev(31))
    for _ in range(20):
        await asyncio.sleep(0)
    assert await stream.sync(10, 10) is False
    assert socket.sent == list(range(1, 32))


async def test_an_event_arriving_as_a_gap_fill_ends_does_not_race_the_sync() -> None:
    socket = Socket()
    _, read = log_of(40)
    stream = SeqStream(cast(Connection, socket), read)
    await stream.sync(0, 1000)
    _, read_more = log_of(60)  # 41..60 committed meanwhile; 45 arrives first, so 41..44 are read
    stream._read = read_more
    stream.live(ev(45))
    filling = stream._filling
    assert filling is not None
    filling.add_done_callback(lambda _: stream.live(ev(50)))  # the next gap opens just as this one closes
    await stream.sync(40, 1000)
    for _ in range(20):
        await asyncio.sleep(0)
    assert socket.sent == list(range(1, 61))
