"""One event to many users, each copy with its own number, in one publication: every subscribed user gets their
copy, in its place among the events published before and after it; no copy for a user nobody listens to."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
import redis.asyncio as aioredis

from server.realtime.broker import USER_TOPICS, Broker, MemoryBroker, RedisBroker, user_topic

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
