"""One event to many users, each copy with its own number, in one publication: every subscribed user gets their
copy, in its place among the events published before and after it; no copy for a user nobody listens to."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from server.realtime.broker import USER_TOPICS, Broker, MemoryBroker, Numbered, RedisBroker, user_topic

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL")


@pytest.fixture(params=["memory", "redis"])
async def broker(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        yield MemoryBroker()
        return
    if not TEST_REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set (CI sets it)")
    client = aioredis.from_url(TEST_REDIS_URL)
    # A prefix of its own, so tests on other workers or runs never hear these events.
    redis_broker = RedisBroker(client, prefix=f"test-{os.getpid()}-{id(client)}:")
    await redis_broker.start()
    yield redis_broker
    await redis_broker.close()
    await client.aclose()


async def test_numbered_copies_reach_each_user_in_order(broker: Broker) -> None:
    got: dict[str, list[dict[str, Any]]] = {"a": [], "b": [], "a2": []}
    await broker.subscribe(user_topic("a"), got["a"].append)
    await broker.subscribe(user_topic("a"), got["a2"].append)  # a second device of a
    await broker.subscribe(user_topic("b"), got["b"].append)
    broker.publish(user_topic("a"), {"type": "before", "seq": 1})
    broker.publish_numbered(USER_TOPICS, {"type": "message.new", "chat_id": "c"}, {"a": 2, "b": 7, "nobody": 3}, "seq")
    broker.publish(user_topic("a"), {"type": "after", "seq": 3})
    for _ in range(200):
        if len(got["a"]) == 3 and len(got["b"]) == 1:
            break
        await asyncio.sleep(0.01)
    assert [(f["type"], f["seq"]) for f in got["a"]] == [("before", 1), ("message.new", 2), ("after", 3)]
    assert got["a2"] == got["a"]
    assert got["b"] == [{"type": "message.new", "chat_id": "c", "seq": 7}]


class Shared:
    """A subscriber that takes the shared copy (as a WebSocket connection's does): records the bytes it would
    write for its number."""

    def __init__(self) -> None:
        self.got: list[bytes] = []

    def __call__(self, event: dict[str, Any]) -> None:
        raise AssertionError("a subscriber with numbered() gets the shared copy, not a dict")

    def numbered(self, shared: Numbered, number: int) -> None:
        self.got.append(shared.encode(number))


async def test_a_subscriber_that_writes_bytes_gets_one_serialisation_with_its_number(broker: Broker) -> None:
    a, b, plain = Shared(), Shared(), []
    await broker.subscribe(user_topic("a"), a)
    await broker.subscribe(user_topic("b"), b)
    await broker.subscribe(user_topic("b"), plain.append)  # one that wants a dict, on the same topic
    event = {"type": "message.new", "chat_id": "c", "message": {"id": 5, "text": 'héllo "x"'}}
    broker.publish_numbered(USER_TOPICS, event, {"a": 12, "b": 7}, "seq")
    for _ in range(200):
        if a.got and b.got and plain:
            break
        await asyncio.sleep(0.01)
    assert orjson.loads(a.got[0]) == {**event, "seq": 12}
    assert orjson.loads(b.got[0]) == {**event, "seq": 7}
    assert plain == [{**event, "seq": 7}]


def test_the_shared_copy_is_the_frame_with_the_number_whatever_the_event_holds() -> None:
    for event in ({}, {"type": "x"}, {"seq": 3, "type": "x"}, {"type": "x", "list": [1, {"seq": 2}]}):
        shared = Numbered(event, "seq")
        for number in (0, 1, 99_999_999_999):
            assert orjson.loads(shared.encode(number)) == {**event, "seq": number} == shared.frame(number)
    assert event == {"type": "x", "list": [1, {"seq": 2}]}  # not changed
    # The same bytes as the copy serialised on its own (the type first: clients may dispatch on the prefix).
    shared = Numbered({"type": "message.new", "chat_id": "c", "message": {"id": 1}}, "seq")
    assert shared.encode(42) == orjson.dumps(shared.frame(42))
    assert shared.encode(42).startswith(b'{"type":"message.new",')
