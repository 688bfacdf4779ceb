"""The MQTT bridge: devices publish to ThingSpeak's topics on a real broker, points are written like HTTP writes,
and every committed point (from any source) is republished on ThingSpeak's subscribe topics.

Topics read (payloads as ThingSpeak documents them):
  channels/{id}/publish                         form-encoded `field1=...&status=...`, with `api_key=...` unless the
                                                broker authorised the device (below)
  channels/{id}/publish/fields/field{n}         the payload is field n's value (a device the broker authorised)
  channels/{id}/publish/{write_key}             form-encoded, the key in the topic (ThingSpeak's older forms)
  channels/{id}/publish/fields/field{n}/{key}   field n's value, the key in the topic
Topics written (QoS 0, not retained):
  channels/{id}/subscribe                       the entry as JSON, as ThingSpeak's subscribe format shows it
  channels/{id}/subscribe/fields/field{n}       the field's value, for each field the point carries

`brokered` (MQTT_ADMIN_USERNAME set): the broker runs the dynamic-security plugin the server provisions
(server/iot/dynsec.py). Only MQTT devices allowed a channel can publish to its keyless topics, so a keyless
message there is the device's, authorised; anyone may publish the key-in-topic forms (the key is checked here);
only devices allowed to read a channel may subscribe to its topics. Not brokered, we cannot know who publishes or
who subscribes: keyless messages are dropped, and private channels' points are not republished at all.
Bulk updates are never republished, as on ThingSpeak.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
import uuid
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import aiomqtt
import orjson
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from server.crypto.keyring import BlindIndex
from server.errors import ApiError
from server.iot.channels import ChannelService, unauthorized
from server.iot.ingest import FeedService, parse_point, require_content
from server.iot.thingspeak import point_entry, zone
from server.storage.batch import WriterClosedError
from server.storage.channels import Channel, ChannelGoneError, DuplicateTimestampError, Point, Written
from server.web.params import whole_number

log = logging.getLogger(__name__)
# paho logs every packet's topic at DEBUG, and a publish topic may carry a write key: keep it at WARNING.
_client_log = logging.getLogger(__name__ + ".client")
_client_log.setLevel(logging.WARNING)

PUBLISH_FILTER = "channels/+/publish/#"  # `#` also matches the parent level: channels/{id}/publish
MAX_PAYLOAD = 16 * 1024  # as the HTTP update's body limit
MAX_IN_FLIGHT = 1000  # messages being checked and written at once (about one batch of the feed writer)
INCOMING_QUEUE = 10_000  # received but not yet taken up; paho drops (with a warning) past this
REPUBLISH_QUEUE = 20_000  # points waiting to be republished (room for one full bulk update); then dropped, logged
PAHO_QUEUE = 1000  # messages paho may hold unsent; we await each publish, so it rarely holds more than one
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0  # seconds between reconnection attempts, doubling
CLOSE_TIMEOUT = 5.0
KEEPALIVE = 10  # seconds between pings when nothing else is sent
SESSION_EXPIRY = 120  # seconds the broker keeps our session (and queues for it) after a lost connection


class BadMessageError(Exception):
    """A message the bridge cannot take; the text is safe to log (it never holds a key)."""


# -- topics and payloads: pure functions -------------------------------------------------------------


@dataclass(frozen=True)
class PublishTopic:
    channel_id: int
    field: int | None = None  # the single-field forms
    api_key: str | None = None  # the forms with the write key in the topic


def parse_publish_topic(topic: str) -> PublishTopic:
    """What a publish topic names; BadMessageError for anything that is not one of ThingSpeak's forms."""
    levels = topic.split("/")
    if len(levels) < 3 or levels[0] != "channels" or levels[2] != "publish":
        raise BadMessageError("not a channels/{id}/publish topic")
    raw_id = levels[1]
    channel_id, rest = whole_number(raw_id, low=1), levels[3:]
    if channel_id is None:
        raise BadMessageError("the channel id in the topic is not a positive integer")
    if not rest:
        return PublishTopic(channel_id)
    if rest[0] != "fields":
        if len(rest) == 1 and rest[0]:
            return PublishTopic(channel_id, api_key=rest[0])
        raise BadMessageError("unknown publish topic form")
    name = rest[1] if len(rest) > 1 else ""
    number = name.removeprefix("field")
    if not (name.startswith("field") and number in {str(n) for n in range(1, 9)}):
        raise BadMessageError("the field in the topic must be field1 to field8")
    if len(rest) == 2:
        return PublishTopic(channel_id, field=int(number))
    if len(rest) == 3 and rest[2]:
        return PublishTopic(channel_id, field=int(number), api_key=rest[2])
    raise BadMessageError("unknown publish topic form")


def redact_topic(topic: str) -> str:
    """A topic fit for a log line: the levels that can carry a key are replaced by `***`."""
    levels = topic.split("/")
    kept = [
        level
        if (i == 0 and level == "channels")
        or (i == 1 and level.isdigit() and len(level) <= 18)
        or (i == 2 and level == "publish")
        or (i == 3 and level == "fields")
        or (i == 4 and levels[3] == "fields" and level.startswith("field") and len(level) <= 6)
        else "***"
        for i, level in enumerate(levels[:6])
    ]
    return "/".join(kept) + ("/…" if len(levels) > 6 else "")


def message_params(topic: PublishTopic, payload: bytes) -> tuple[str | None, dict[str, str]]:
    """(write key, parameters as the HTTP update reads them) from a message on `topic`."""
    if len(payload) > MAX_PAYLOAD:
        raise BadMessageError(f"the payload is larger than {MAX_PAYLOAD} bytes")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise BadMessageError("the payload is not UTF-8") from None
    if topic.field is not None:
        return topic.api_key, {f"field{topic.field}": text.strip()}
    # As leniently as the HTTP update reads a form body: a trailing `&` from a hand-built string is fine.
    params = dict(parse_qsl(text.strip(), keep_blank_values=True))
    in_payload = params.pop("api_key", None)
    if topic.api_key is not None and in_payload is not None and in_payload != topic.api_key:
        raise BadMessageError("the topic and the payload carry different keys")
    return topic.api_key or in_payload, params


def subscribe_messages(channel: Channel, entry_id: int, point: Point) -> list[tuple[str, bytes]]:
    """The messages that announce one committed point: one per field it carries, then the entry as JSON."""
    # As ThingSpeak: fields the channel has not enabled stay out, unless this point carries a value for them.
    shown = [n for n in range(1, 9) if channel.fields[n - 1] or point.fields[n - 1] is not None]
    entry: dict[str, Any] = {"channel_id": channel.id, **point_entry(entry_id, point, only=shown)}
    base = f"channels/{channel.id}/subscribe"
    messages = [
        (f"{base}/fields/field{n}", value.encode())
        for n, value in enumerate(point.fields, start=1)
        if value is not None
    ]
    messages.append((base, orjson.dumps(entry)))
    return messages


def share_group_for(blind_index: BlindIndex, database_url: str) -> str:
    """The shared-subscription group: the same for every process of one deployment (same keys, same database),
    so the broker hands each message to one of them, and different for two deployments on one broker."""
    return "ts" + blind_index(database_url, purpose="mqtt-share-group").hex()[:16]


# -- the bridge --------------------------------------------------------------------------------------


@dataclass
class BridgeStats:
    received: int = 0
    written: int = 0
    rejected: int = 0
    republished: int = 0
    republish_dropped: int = 0
    connections: int = 0


def _refused(code: int | ReasonCode) -> bool:
    return code.is_failure if isinstance(code, ReasonCode) else code >= 0x80


class _ThrottledLog:
    """At most `limit` lines per `window` seconds, then one line saying how many were held back."""

    def __init__(self, limit: int = 20, window: float = 10.0) -> None:
        self._limit, self._window = limit, window
        self._start, self._count = 0.0, 0

    def warning(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._start > self._window:
            if self._count > self._limit:
                log.warning("mqtt: %d more such lines held back", self._count - self._limit)
            self._start, self._count = now, 0
        self._count += 1
        if self._count <= self._limit:
            log.warning(message, *args)


class MqttBridge:
    def __init__(
        self,
        url: str,
        channels: ChannelService,
        feeds: FeedService,
        *,
        share_group: str | None = None,
        brokered: bool = False,
        login: tuple[str, str] | None = None,
        backoff: tuple[float, float] = (BACKOFF_FIRST, BACKOFF_MAX),
        republish_queue: int = REPUBLISH_QUEUE,
        keepalive: int = KEEPALIVE,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("MQTT_URL must look like mqtt://[user:password@]host[:port]")
        self.host = parts.hostname
        self.port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        if login is not None and self._username is None:
            self._username, self._password = login
        self._brokered = brokered
        self.tls = parts.scheme == "mqtts"
        self._channels = channels
        self._feeds = feeds
        # A shared subscription: with several server processes, each message is written once, not once each.
        self._filter = f"$share/{share_group}/{PUBLISH_FILTER}" if share_group else PUBLISH_FILTER
        self._backoff = backoff
        self._keepalive = keepalive
        self._identifier = f"thingspeak-bridge-{uuid.uuid4().hex[:12]}"  # this process's session, while it runs
        self._outgoing: asyncio.Queue[tuple[Channel, int, Point]] = asyncio.Queue(republish_queue)
        self._unsent: list[tuple[str, bytes]] = []  # what a lost connection interrupted, sent first next time
        self._idle = asyncio.Event()  # set while nothing waits to be republished
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._handlers: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._dropping = False
        self._rejects = _ThrottledLog()
        self.connected = False  # subscribed and taking messages
        self.stats = BridgeStats()

    @property
    def login_name(self) -> str | None:
        return self._username

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"  # never the URL: it may hold a password

    async def start(self) -> None:
        """Start connecting (in the background: a broker that is down does not stop the server)."""
        self._feeds.written.connect(self._on_written)
        self._task = asyncio.create_task(self._run(), name="mqtt-bridge")

    async def close(self) -> None:
        """Stop taking messages, let the writes in progress finish, republish what is queued, disconnect."""
        if self._task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), CLOSE_TIMEOUT * 2)  # the writes, then the drain
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
        self._feeds.written.disconnect(self._on_written)
        left = self._outgoing.qsize() + len(self._unsent)
        if left:
            log.info("mqtt: %d live updates were not republished before shutdown", left)

    # -- connection ---------------------------------------------------------------------------------
    def _client(self, *, clean: bool = False) -> aiomqtt.Client:
        # An MQTT 5 session that outlives a lost connection by SESSION_EXPIRY seconds, under one client id for
        # this process's life: while the bridge reconnects, the broker queues the QoS 1 messages devices publish
        # (it has acknowledged them to the devices), and hands them over on reconnect, so a broker that blinks
        # loses none. A process that stops ends its session (`clean`); one that dies leaves it to expire.
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho has no hints here
        properties.SessionExpiryInterval = 0 if clean else SESSION_EXPIRY
        return aiomqtt.Client(
            self.host,
            self.port,
            username=self._username,
            password=self._password,
            identifier=self._identifier,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=clean,
            properties=properties,
            keepalive=self._keepalive,  # a broker silent for 1.5 times this is taken as lost (a partition)
            timeout=CLOSE_TIMEOUT,
            max_queued_incoming_messages=INCOMING_QUEUE,
            max_queued_outgoing_messages=PAHO_QUEUE,
            tls_context=ssl.create_default_context() if self.tls else None,
            logger=_client_log,
        )

    async def _end_session(self) -> None:
        """Stopping: drop our session on the broker, so it queues nothing more for us (a clean start ends it)."""
        with contextlib.suppress(aiomqtt.MqttError, OSError):
            async with asyncio.timeout(CLOSE_TIMEOUT), self._client(clean=True):
                pass

    async def _run(self) -> None:
        delay = self._backoff[0]
        while not self._stopping.is_set():
            try:
                async with self._client() as client:
                    # QoS 1: the broker redelivers to us until we acknowledge, for as long as we stay connected.
                    granted = await client.subscribe(self._filter, qos=1)
                    if any(_refused(code) for code in granted):
                        raise aiomqtt.MqttError("the broker refused the subscription")
                    log.info("mqtt: connected to %s and subscribed", self.where)
                    self.stats.connections += 1
                    self.connected = True
                    delay = self._backoff[0]
                    await self._session(client)
            except aiomqtt.MqttError as exc:
                if self._stopping.is_set():
                    break
                log.warning("mqtt: broker %s unreachable or lost (%s); retrying in %.1f s", self.where, exc, delay)
            except Exception:  # the bridge must outlive anything one connection does
                log.exception("mqtt: connection to %s failed", self.where)
            finally:
                self.connected = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self._backoff[1])
        await self._wait_for_handlers()
        await self._end_session()

    async def _session(self, client: aiomqtt.Client) -> None:
        receiver = asyncio.create_task(self._receive(client))
        republisher = asyncio.create_task(self._republish(client))
        stop = asyncio.create_task(self._stopping.wait())
        try:
            done, _ = await asyncio.wait({receiver, republisher, stop}, return_when=asyncio.FIRST_COMPLETED)
            if stop in done:
                receiver.cancel()
                await self._wait_for_handlers()
                # Still connected: give what is queued (these last writes' points too) a moment to go out.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._idle.wait(), CLOSE_TIMEOUT)
            for task in done:
                task.result()  # raises the MqttError that ended the session
        finally:
            for task in (receiver, republisher, stop):
                task.cancel()
            await asyncio.gather(receiver, republisher, stop, return_exceptions=True)

    async def _wait_for_handlers(self) -> None:
        if self._handlers:
            await asyncio.wait(set(self._handlers), timeout=CLOSE_TIMEOUT)

    # -- incoming -----------------------------------------------------------------------------------
    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self.stats.received += 1
            await self._slots.acquire()
            task = asyncio.create_task(self._handle(message))
            self._handlers.add(task)
            task.add_done_callback(self._handler_done)

    def _handler_done(self, task: asyncio.Task[None]) -> None:
        self._handlers.discard(task)
        self._slots.release()

    async def _handle(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        try:
            if message.retain:
                # A retained message is replayed on every subscribe: taking it would write it again each time.
                raise BadMessageError("retained message ignored (publish with retain=0)")
            await self._write(parse_publish_topic(topic), message.payload)
            self.stats.written += 1
        except (BadMessageError, ApiError) as exc:
            self.stats.rejected += 1
            reason = exc.message if isinstance(exc, ApiError) else str(exc)
            self._rejects.warning("mqtt: dropped a message on %s: %s", redact_topic(topic), reason)
        except (DuplicateTimestampError, ChannelGoneError, WriterClosedError) as exc:
            self.stats.rejected += 1
            self._rejects.warning("mqtt: dropped a message on %s: %s", redact_topic(topic), exc)
        except Exception:  # one bad message must never end the connection
            self.stats.rejected += 1
            log.exception("mqtt: failed to write a message on %s", redact_topic(topic))

    async def _write(self, topic: PublishTopic, payload: bytes) -> None:
        """Check the key (unless the broker authorised the device) and write the point as the HTTP update does."""
        api_key, params = message_params(topic, payload)
        if api_key is None:
            if not self._brokered:
                raise BadMessageError("no write key: put it in the topic (.../publish/KEY) or the payload (api_key=)")
            channel = await self._channels.for_brokered_write(topic.channel_id)
        else:
            channel = await self._channels.for_write(api_key)
        if channel.id != topic.channel_id:
            raise unauthorized("this write key belongs to another channel")
        tz = zone(params["timezone"]) if params.get("timezone") else UTC
        point = parse_point(params, now=self._feeds.now(), tz=tz)
        require_content(point)
        await self._feeds.write(channel, [point])

    # -- outgoing -----------------------------------------------------------------------------------
    def _on_written(self, channel: Channel, written: Written) -> None:
        """FeedService listener: queue each committed point for republishing; never waits, never raises."""
        if written.bulk or not (channel.public or self._brokered):
            return
        for index, point in enumerate(written.points):
            try:
                self._outgoing.put_nowait((channel, written.first_entry_id + index, point))
                self._idle.clear()
            except asyncio.QueueFull:
                dropped = len(written.points) - index
                self.stats.republish_dropped += dropped
                if not self._dropping:
                    self._dropping = True
                    log.warning("mqtt: republish queue full; dropping live updates until it drains")
                return
        if self._dropping and self._outgoing.qsize() < self._outgoing.maxsize // 2:
            self._dropping = False
            log.warning("mqtt: republish queue drained; %d live updates dropped so far", self.stats.republish_dropped)

    async def _republish(self, client: aiomqtt.Client) -> None:
        while True:
            if not self._unsent:
                if self._outgoing.empty():
                    self._idle.set()
                channel, entry_id, point = await self._outgoing.get()
                self._unsent = subscribe_messages(channel, entry_id, point)
            while self._unsent:
                topic, payload = self._unsent[0]
                try:
                    await client.publish(topic, payload, qos=0, retain=False)
                except aiomqtt.MqttCodeError as exc:
                    if exc.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:  # paho's own queue is full: drop this one
                        self.stats.republish_dropped += 1
                        self._unsent.pop(0)
                        continue
                    raise
                self._unsent.pop(0)
                self.stats.republished += 1
