"""Publish/subscribe between the parts of the server: in memory by default, Redis pub/sub when REDIS_URL is set,
so an event reaches subscribers connected to any process.

`publish` never waits (callers are on hot paths); `subscribe` returns once the subscription is live, so a
caller can subscribe first and then read what it missed from the database without a gap. `publish_numbered`
sends one event to many topics, each copy with its own number (a group message, each member's `seq`): one
publication for all of them (with Redis, one message to every process, not one per member), and a copy made
only for a topic that has a subscriber in the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import orjson
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

Callback = Callable[[dict[str, Any]], object]
Unsubscribe = Callable[[], None]
SUBSCRIBE_TIMEOUT = 5.0  # seconds Redis may take to confirm a subscription


USER_TOPICS = "user:"


def user_topic(user_id: str) -> str:
    """The topic whose events go to every connection of one user."""
    return USER_TOPICS + user_id


class Broker(Protocol):
    def publish(self, topic: str, event: dict[str, Any]) -> None: ...

    def publish_numbered(self, prefix: str, event: dict[str, Any], numbers: Mapping[str, int], key: str) -> None:
        """`event` with `key` set to `numbers[name]` on each topic `prefix + name`, in one publication."""

    def wanted(self, topic: str) -> bool:
        """False only when no subscriber anywhere can want the topic (so the publisher may skip the work)."""

    async def subscribe(self, topic: str, callback: Callback) -> Unsubscribe: ...

    async def close(self) -> None: ...


class Numbered:
    """One event for many topics, each copy with its own number under `key` (a group message, each member's `seq`).

    Serialised once: a copy's bytes are the event's up to its number, the number, and `}` (`{"type":…,"seq":` 17
    `}`: the number last, as a copy with it set would have it), so a subscriber that writes bytes (a WebSocket)
    needs no dict and no serialising of its own; `frame(number)` makes the dict for one that needs it. A subscriber
    callback with a `numbered(shared, number)` method gets this instead of a dict.
    """

    __slots__ = ("_head", "event", "key")

    def __init__(self, event: dict[str, Any], key: str) -> None:
        self.event = event
        self.key = key
        self._head = b""

    def encode(self, number: int) -> bytes:
        """The copy for `number`, as JSON bytes."""
        if not self._head:
            event = self.event
            data = orjson.dumps({k: v for k, v in event.items() if k != self.key} if self.key in event else event)
            self._head = data[:-1] + (b"," if len(data) > 2 else b"") + orjson.dumps(self.key) + b":"
        return b"%b%d}" % (self._head, number)

    def frame(self, number: int) -> dict[str, Any]:
        """The copy for `number`, as a dict."""
        frame = self.event.copy()
        frame[self.key] = number
        return frame


def _call_each(callbacks: set[Callback], topic: str, event: dict[str, Any]) -> None:
    """Hand the event to each subscriber (a copy of the set: a callback may unsubscribe); one that fails is logged."""
    for callback in tuple(callbacks):
        try:
            callback(event)
        except Exception:
            log.exception("subscriber of %s failed", topic)


class _Local:
    """Subscribers in this process, by topic."""

    def __init__(self) -> None:
        self.topics: dict[str, set[Callback]] = defaultdict(set)

    def deliver(self, topic: str, event: dict[str, Any]) -> None:
        callbacks = self.topics.get(topic)
        if callbacks:
            _call_each(callbacks, topic, event)

    def deliver_numbered(self, prefix: str, event: dict[str, Any], numbers: Mapping[str, int], key: str) -> None:
        # The hot path of a group message (once per member): one lookup per member; a subscriber that takes the
        # shared event gets it with the member's number, any other a copy of its own.
        shared = Numbered(event, key)
        get = self.topics.get
        for name, number in numbers.items():
            callbacks = get(prefix + name)
            if not callbacks:
                continue
            for callback in tuple(callbacks):
                try:
                    numbered = getattr(callback, "numbered", None)
                    if numbered is not None:
                        numbered(shared, number)
                    else:
                        callback(shared.frame(number))
                except Exception:
                    log.exception("subscriber of %s failed", prefix + name)

    def add(self, topic: str, callback: Callback) -> bool:
        """Returns True if this is the topic's first subscriber."""
        first = not self.topics.get(topic)
        self.topics[topic].add(callback)
        return first

    def remove(self, topic: str, callback: Callback) -> bool:
        """Returns True if the topic has no subscriber left."""
        subscribers = self.topics.get(topic)
        if subscribers is None:
            return False
        subscribers.discard(callback)
        if not subscribers:
            del self.topics[topic]
            return True
        return False


class MemoryBroker:
    def __init__(self) -> None:
        self._local = _Local()

    def publish(self, topic: str, event: dict[str, Any]) -> None:
        self._local.deliver(topic, event)

    def publish_numbered(self, prefix: str, event: dict[str, Any], numbers: Mapping[str, int], key: str) -> None:
        self._local.deliver_numbered(prefix, event, numbers, key)

    def wanted(self, topic: str) -> bool:
        return bool(self._local.topics.get(topic))

    async def subscribe(self, topic: str, callback: Callback) -> Unsubscribe:
        self._local.add(topic, callback)

        def unsubscribe() -> None:
            self._local.remove(topic, callback)

        return unsubscribe

    async def close(self) -> None:
        self._local.topics.clear()


class RedisBroker:
    """One connection publishes (pipelined from a queue), one listens; events fan out locally."""

    def __init__(self, redis: Any, prefix: str = "rt:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._local = _Local()
        self._pubsub = redis.pubsub(ignore_subscribe_messages=False)
        self._outbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(maxsize=100_000)
        self._confirmations: dict[str, list[asyncio.Future[None]]] = defaultdict(list)
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False

    async def start(self) -> None:
        # A subscription is needed before the listener can read; this one also proves the link works. The other
        # carries numbered events to every process (the order of one connection's messages is Redis's order of
        # publication, so they keep their place among the rest).
        await self._pubsub.subscribe(self._prefix + "_", self._numbered_channel)
        self._tasks = [asyncio.create_task(self._publisher()), asyncio.create_task(self._listener())]
        self._started = True

    def wanted(self, topic: str) -> bool:
        # Other processes may have subscribers we cannot see from here.
        return True

    @property
    def _numbered_channel(self) -> str:
        return self._prefix + "_numbered"

    def publish(self, topic: str, event: dict[str, Any]) -> None:
        try:
            self._outbox.put_nowait((self._prefix + topic, orjson.dumps(event)))
        except asyncio.QueueFull:
            log.error("broker outbox full; dropping an event for %s", topic)

    def publish_numbered(self, prefix: str, event: dict[str, Any], numbers: Mapping[str, int], key: str) -> None:
        data = orjson.dumps({"prefix": prefix, "event": event, "numbers": numbers, "key": key})
        try:
            self._outbox.put_nowait((self._numbered_channel, data))
        except asyncio.QueueFull:
            log.error("broker outbox full; dropping an event for %d topics", len(numbers))

    async def subscribe(self, topic: str, callback: Callback) -> Unsubscribe:
        if self._local.add(topic, callback):
            channel = self._prefix + topic
            confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._confirmations[channel].append(confirmed)
            try:
                await self._pubsub.subscribe(channel)
                await asyncio.wait_for(confirmed, timeout=SUBSCRIBE_TIMEOUT)
            except BaseException as exc:
                # Redis is down or silent: forget this subscriber, or it would stay "first" and the topic would
                # never be subscribed in Redis again once Redis is back.
                self._local.remove(topic, callback)
                with contextlib.suppress(ValueError):
                    self._confirmations[channel].remove(confirmed)
                if isinstance(exc, TimeoutError):
                    raise RedisTimeoutError("Redis did not confirm a subscription in time") from None
                raise

        def unsubscribe() -> None:
            if self._local.remove(topic, callback) and self._started:
                asyncio.get_running_loop().create_task(self._drop(topic))

        return unsubscribe

    async def _drop(self, topic: str) -> None:
        if topic not in self._local.topics:
            with contextlib.suppress(Exception):
                await self._pubsub.unsubscribe(self._prefix + topic)

    async def _publisher(self) -> None:
        while True:
            first = await self._outbox.get()
            batch = [first]
            while not self._outbox.empty() and len(batch) < 500:
                batch.append(self._outbox.get_nowait())
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for channel, data in batch:
                        pipe.publish(channel, data)
                    await pipe.execute()
            except Exception:
                log.exception("publishing %d events to Redis failed", len(batch))
                await asyncio.sleep(0.5)

    async def _listener(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except Exception:
                log.exception("reading from Redis failed")
                await asyncio.sleep(0.5)
                continue
            if message is None:
                continue
            channel = message["channel"].decode() if isinstance(message["channel"], bytes) else message["channel"]
            if message["type"] == "subscribe":
                for future in self._confirmations.pop(channel, []):
                    if not future.done():
                        future.set_result(None)
            elif message["type"] == "message" and channel == self._numbered_channel:
                numbered = orjson.loads(message["data"])
                self._local.deliver_numbered(
                    numbered["prefix"], numbered["event"], numbered["numbers"], numbered["key"]
                )
            elif message["type"] == "message":
                self._local.deliver(channel.removeprefix(self._prefix), orjson.loads(message["data"]))

    async def close(self) -> None:
        # Let queued events out before closing.
        for _ in range(50):
            if self._outbox.empty():
                break
            await asyncio.sleep(0.01)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()


async def open_broker(redis: Any | None) -> Broker:
    if redis is None:
        return MemoryBroker()
    broker = RedisBroker(redis)
    await broker.start()
    return broker
