"""The MQTT bridge against a real Mosquitto without dynamic security: devices publish on ThingSpeak's topics with
their write key, points are stored, and every committed point of a public channel is republished on the subscribe
topics (a private channel's are not: anyone may subscribe on such a broker); the bridge rides out a broker restart.
MQTT devices on a broker the server provisions are in test_mqtt_devices.py."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import orjson
import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import Settings
from server.iot.appkeys import channels_key, mqtt_key
from server.iot.mqtt import (
    BadMessageError,
    MqttBridge,
    PublishTopic,
    message_params,
    parse_publish_topic,
    redact_topic,
)
from server.keys import database_key, metrics_key
from tests.conftest import free_port
from tests.helpers import new_channel

TEST_MQTT_URL = os.environ.get("TEST_MQTT_URL")
needs_broker = pytest.mark.skipif(not TEST_MQTT_URL, reason="TEST_MQTT_URL is not set (CI sets it)")
WAIT = 10.0  # the longest any one wait below may take


# -- pure functions -----------------------------------------------------------------------------------


def test_publish_topic_forms() -> None:
    assert parse_publish_topic("channels/12/publish") == PublishTopic(12)
    assert parse_publish_topic("channels/12/publish/KEY123") == PublishTopic(12, api_key="KEY123")
    assert parse_publish_topic("channels/12/publish/fields/field3/KEY") == PublishTopic(12, field=3, api_key="KEY")
    # No key: only a device the broker authorised (MQTT devices, dynamic security) may publish there.
    assert parse_publish_topic("channels/12/publish/fields/field1") == PublishTopic(12, field=1)


@pytest.mark.parametrize(
    "topic",
    [
        "channels/0/publish",
        "channels/x/publish",
        "channels/12/subscribe",
        "channels/12/publish/",
        "channels/12/publish/fields/field9/KEY",
        "channels/12/publish/fields/field1/KEY/more",
        "channels/12/publish/KEY/more",
        "other/12/publish",
    ],
)
def test_bad_publish_topics(topic: str) -> None:
    with pytest.raises(BadMessageError):
        parse_publish_topic(topic)


def test_redacted_topics_never_show_a_key() -> None:
    assert redact_topic("channels/12/publish/SECRETKEY") == "channels/12/publish/***"
    assert redact_topic("channels/12/publish/fields/field1/SECRETKEY") == "channels/12/publish/fields/field1/***"
    assert "SECRETKEY" not in redact_topic("channels/SECRETKEY/publish/a/b/c/d/e")
    assert redact_topic("channels/12/publish") == "channels/12/publish"


def test_message_params() -> None:
    assert message_params(PublishTopic(1), b"api_key=K&field1=2.5&status=ok%20now") == (
        "K",
        {"field1": "2.5", "status": "ok now"},
    )
    assert message_params(PublishTopic(1, field=2, api_key="K"), b" 45\n") == ("K", {"field2": "45"})
    assert message_params(PublishTopic(1, api_key="K"), b"field1=1&") == ("K", {"field1": "1"})
    for topic, payload in [
        (PublishTopic(1), b"\xff\xfe"),
        (PublishTopic(1, api_key="A"), b"api_key=B&field1=1"),
        (PublishTopic(1), b"field1=" + b"9" * 20_000),
    ]:
        with pytest.raises(BadMessageError):
            message_params(topic, payload)


# -- against a real broker -------------------------------------------------------------------------------


def _broker(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 1883


async def _until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = WAIT) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.02)
    raise AssertionError(what)  # pragma: no cover - the timeout raises first


class Inbox:
    """What a separate MQTT client, subscribed to a channel's subscribe topics, received."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []

    def on(self, topic: str) -> list[bytes]:
        return [payload for t, payload in self.messages if t == topic]

    async def wait_for(self, topic: str, count: int = 1) -> list[bytes]:
        async def enough() -> list[bytes] | None:
            found = self.on(topic)
            return found if len(found) >= count else None

        try:
            found: list[bytes] = await _until(enough, topic)
        except TimeoutError:
            raise AssertionError(f"no message #{count} on {topic}; got {self.messages}") from None
        return found


@contextlib.asynccontextmanager
async def subscriber(url: str, channel_id: int) -> AsyncIterator[Inbox]:
    host, port = _broker(url)
    inbox = Inbox()
    async with aiomqtt.Client(host, port, identifier=f"test-sub-{secrets.token_hex(4)}") as client:
        await client.subscribe(f"channels/{channel_id}/subscribe/#", qos=1)  # `#` matches .../subscribe too

        async def collect() -> None:
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                inbox.messages.append((message.topic.value, message.payload))

        task = asyncio.create_task(collect())
        try:
            yield inbox
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def publish(url: str, topic: str, payload: str | bytes, *, retain: bool = False) -> None:
    """Publish as a device would, from its own connection (QoS 1: the broker has it when this returns)."""
    host, port = _broker(url)
    async with aiomqtt.Client(host, port, identifier=f"test-dev-{secrets.token_hex(4)}") as client:
        await client.publish(topic, payload, qos=1, retain=retain)


async def _start_ids_high(client: TestClient) -> None:
    """Channel ids in this test's database start at a random high number: the broker is shared with other
    tests and runs, and topics carry the channel id."""
    db = client.app[database_key]
    start = 1_000_000_000 + secrets.randbelow(10**12)
    if db.backend == "sqlite":
        await db.execute("DELETE FROM sqlite_sequence WHERE name = 'channels'")
        await db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('channels', $1)", start)
    else:
        await db.fetchval("SELECT setval(pg_get_serial_sequence('channels', 'id'), $1)", start)


async def _entries(client: TestClient, channel_id: int) -> list[Any]:
    rows: list[Any] = await client.app[channels_key].repo.entries_after(channel_id, 0, 100)
    return rows


async def _stored(client: TestClient, channel_id: int, count: int) -> list[Any]:
    async def enough() -> list[Any] | None:
        rows = await _entries(client, channel_id)
        return rows if len(rows) >= count else None

    rows: list[Any] = await _until(enough, f"{count} entries in channel {channel_id}")
    return rows


def _bridge(client: TestClient) -> MqttBridge:
    bridge: MqttBridge = client.app[mqtt_key]
    return bridge


async def _connected(client: TestClient) -> None:
    async def connected() -> bool:
        return _bridge(client).connected

    await _until(connected, "the bridge connected to the broker")


@pytest.fixture(name="mqtt_client")
async def mqtt_client_fixture(aiohttp_client: Any, make_settings: Callable[..., Settings]) -> TestClient:
    assert TEST_MQTT_URL
    client: TestClient = await aiohttp_client(create_app(make_settings(mqtt_url=TEST_MQTT_URL)))
    await _start_ids_high(client)
    await _connected(client)
    return client


@needs_broker
async def test_published_point_is_stored_and_republished(mqtt_client: TestClient) -> None:
    assert TEST_MQTT_URL
    channel = await new_channel(mqtt_client, public_flag=True)
    cid = channel["id"]
    async with subscriber(TEST_MQTT_URL, cid) as inbox:
        await publish(
            TEST_MQTT_URL, f"channels/{cid}/publish", f"api_key={channel['write_key']}&field1=21.5&field2=40&status=ok"
        )
        [row] = await _stored(mqtt_client, cid, 1)
        assert (row["entry_id"], row["field1"], row["field2"], row["status"]) == (1, "21.5", "40", "ok")

        assert await inbox.wait_for(f"channels/{cid}/subscribe/fields/field1") == [b"21.5"]
        assert await inbox.wait_for(f"channels/{cid}/subscribe/fields/field2") == [b"40"]
        [entry] = [orjson.loads(p) for p in await inbox.wait_for(f"channels/{cid}/subscribe")]
        assert entry["channel_id"] == cid
        assert entry["entry_id"] == 1
        assert (entry["field1"], entry["field2"], entry["status"]) == ("21.5", "40", "ok")
        assert entry["created_at"].endswith("Z")
        assert "field3" not in entry  # not enabled on this channel and not sent
        assert inbox.on(f"channels/{cid}/subscribe/fields/field3") == []

    resp = await mqtt_client.get(f"/channels/{cid}.json", params={"api_key": channel["read_key"]})
    assert (await resp.json())["last_entry_id"] == 1
    metrics = mqtt_client.app[metrics_key].exposition().decode()  # (served on the metrics listener only)
    assert 'mqtt_bridge{figure="written"} 1.0' in metrics


@needs_broker
async def test_key_in_topic_and_single_field_forms(mqtt_client: TestClient) -> None:
    assert TEST_MQTT_URL
    channel = await new_channel(mqtt_client, public_flag=True)
    cid, key = channel["id"], channel["write_key"]
    async with subscriber(TEST_MQTT_URL, cid) as inbox:
        await publish(TEST_MQTT_URL, f"channels/{cid}/publish/{key}", "field1=1&field2=2")
        await _stored(mqtt_client, cid, 1)
        await publish(TEST_MQTT_URL, f"channels/{cid}/publish/fields/field3/{key}", "7.25")
        rows = await _stored(mqtt_client, cid, 2)
        assert [(r["field1"], r["field2"], r["field3"]) for r in rows] == [("1", "2", None), (None, None, "7.25")]
        assert await inbox.wait_for(f"channels/{cid}/subscribe/fields/field3") == [b"7.25"]
        entries = [orjson.loads(p) for p in await inbox.wait_for(f"channels/{cid}/subscribe", 2)]
        assert [e["entry_id"] for e in entries] == [1, 2]
        assert entries[1]["field3"] == "7.25"


@needs_broker
async def test_http_writes_are_republished(mqtt_client: TestClient) -> None:
    assert TEST_MQTT_URL
    channel = await new_channel(mqtt_client, public_flag=True)
    cid = channel["id"]
    async with subscriber(TEST_MQTT_URL, cid) as inbox:
        resp = await mqtt_client.post("/update", data={"api_key": channel["write_key"], "field2": "55", "lat": "1.5"})
        assert await resp.text() == "1"
        assert await inbox.wait_for(f"channels/{cid}/subscribe/fields/field2") == [b"55"]
        [entry] = [orjson.loads(p) for p in await inbox.wait_for(f"channels/{cid}/subscribe")]
        assert (entry["entry_id"], entry["field2"], entry["latitude"]) == (1, "55", "1.5")


@needs_broker
async def test_private_and_bulk_points_are_not_republished_where_anyone_may_subscribe(mqtt_client: TestClient) -> None:
    assert TEST_MQTT_URL
    private = await new_channel(mqtt_client)
    public = await new_channel(mqtt_client, public_flag=True)
    async with subscriber(TEST_MQTT_URL, private["id"]) as overheard, subscriber(TEST_MQTT_URL, public["id"]) as inbox:
        await publish(TEST_MQTT_URL, f"channels/{private['id']}/publish/{private['write_key']}", "field1=secret")
        [row] = await _stored(mqtt_client, private["id"], 1)  # written, not announced
        assert row["field1"] == "secret"
        bulk = [{"delta_t": 0, "field1": "a"}, {"delta_t": 1, "field1": "b"}]
        resp = await mqtt_client.post(
            f"/channels/{public['id']}/bulk_update.json", json={"write_api_key": public["write_key"], "updates": bulk}
        )
        assert resp.status == 202, await resp.text()
        await publish(TEST_MQTT_URL, f"channels/{public['id']}/publish/{public['write_key']}", "field1=single")
        [entry] = [orjson.loads(p) for p in await inbox.wait_for(f"channels/{public['id']}/subscribe")]
        await asyncio.sleep(0.3)  # anything else would have come by now
        assert (entry["entry_id"], inbox.on(f"channels/{public['id']}/subscribe/fields/field1")) == (3, [b"single"])
        assert overheard.messages == []


@needs_broker
async def test_bad_keys_and_payloads_store_nothing_and_never_end_the_connection(
    mqtt_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    assert TEST_MQTT_URL
    caplog.set_level(logging.DEBUG)
    channel = await new_channel(mqtt_client)
    other = await new_channel(mqtt_client)
    cid, key = channel["id"], channel["write_key"]
    bridge = _bridge(mqtt_client)
    rejected_before = bridge.stats.rejected
    bad = [
        (f"channels/{cid}/publish", "api_key=WRONGKEY00000000&field1=1"),  # unknown key
        (f"channels/{cid}/publish", f"api_key={channel['read_key']}&field1=1"),  # a read key
        (f"channels/{cid}/publish", f"api_key={other['write_key']}&field1=1"),  # another channel's key
        (f"channels/{cid}/publish/{other['write_key']}", "field1=1"),
        (f"channels/{cid}/publish", "field1=1"),  # no key at all
        (f"channels/{cid}/publish", f"api_key={key}"),  # nothing to write
        (f"channels/{cid}/publish", f"api_key={key}&field1={'x' * 300}"),  # longer than a field takes
        (f"channels/{cid}/publish", f"api_key={key}&lat=100"),  # out of range
        (f"channels/{cid}/publish", f"api_key={key}&created_at=yesterday&field1=1"),
        (f"channels/{cid}/publish", b"api_key=" + key.encode() + b"&field1=\xff"),  # not UTF-8
        (f"channels/{cid}/publish/{key}", "just some text"),  # not a form: nothing to write
        (f"channels/{cid}/publish/{key}", "field1=" + "9" * 20_000),  # larger than an update takes
        (f"channels/{cid}/publish/fields/field1", "5"),  # no key
        (f"channels/{cid}/publish/fields/field9/{key}", "5"),
        (f"channels/{cid}/publish/{key}/extra", "field1=1"),
    ]
    for topic, payload in bad:
        await publish(TEST_MQTT_URL, topic, payload)

    async def all_rejected() -> bool:
        return bridge.stats.rejected - rejected_before >= len(bad)

    await _until(all_rejected, "every bad message rejected")
    assert await _entries(mqtt_client, cid) == []
    assert await _entries(mqtt_client, other["id"]) == []

    # Still connected and still writing.
    await publish(TEST_MQTT_URL, f"channels/{cid}/publish", f"api_key={key}&field1=ok")
    [row] = await _stored(mqtt_client, cid, 1)
    assert row["field1"] == "ok"
    assert bridge.stats.connections == 1

    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "dropped a message on channels/" in logged
    for secret in (key, channel["read_key"], other["write_key"], "WRONGKEY00000000"):
        assert secret not in logged


@needs_broker
async def test_a_message_published_with_retain_is_written_once(mqtt_client: TestClient) -> None:
    # Delivered live it is an ordinary message; only the broker's replays (flagged retained) are ignored, and
    # Mosquitto sends none to shared subscriptions anyway.
    assert TEST_MQTT_URL
    channel = await new_channel(mqtt_client)
    cid, key = channel["id"], channel["write_key"]
    topic = f"channels/{cid}/publish/{key}"
    try:
        await publish(TEST_MQTT_URL, topic, "field1=retained", retain=True)
        await _stored(mqtt_client, cid, 1)  # delivered live: written once
    finally:
        await publish(TEST_MQTT_URL, topic, b"", retain=True)  # clear the retained message on the shared broker
    assert [r["field1"] for r in await _entries(mqtt_client, cid)] == ["retained"]


@needs_broker
async def test_several_processes_write_each_message_once(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    """Two servers of one deployment (same keys, same database) share the subscription: the broker hands
    each message to one of them."""
    assert TEST_MQTT_URL
    first: TestClient = await aiohttp_client(create_app(make_settings(mqtt_url=TEST_MQTT_URL)))
    second: TestClient = await aiohttp_client(create_app(make_settings(mqtt_url=TEST_MQTT_URL)))
    await _start_ids_high(first)
    await _connected(first)
    await _connected(second)
    channel = await new_channel(first)
    cid, key = channel["id"], channel["write_key"]
    for n in range(6):
        await publish(TEST_MQTT_URL, f"channels/{cid}/publish/{key}", f"field1={n}")
    rows = await _stored(first, cid, 6)
    await asyncio.sleep(0.2)  # a duplicate, if any, would land in this time
    rows = await _entries(first, cid)
    assert sorted(r["field1"] for r in rows) == [str(n) for n in range(6)]
    assert _bridge(first).stats.written + _bridge(second).stats.written == 6


# -- a broker restart ------------------------------------------------------------------------------------


class PrivateBroker:
    """A Mosquitto of this test's own, on a loopback port, that the test can kill and start again."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.config = tmp_path / "mosquitto.conf"
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = await asyncio.create_subprocess_exec(
            binary, "-c", str(self.config), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )

        async def listening() -> bool:
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", self.port)) == 0

        await _until(listening, f"mosquitto listening on {self.port}")

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        self.process = None


def _mosquitto_available() -> bool:
    return shutil.which("mosquitto") is not None or Path("/usr/sbin/mosquitto").exists()


@pytest.fixture(name="private_broker")
async def private_broker_fixture(tmp_path: Path) -> AsyncIterator[PrivateBroker]:
    if not _mosquitto_available():
        if os.environ.get("CI"):
            pytest.fail("the mosquitto binary is missing (CI must have it)")
        pytest.skip("the mosquitto binary is missing")
    broker = PrivateBroker(tmp_path)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.kill()


@pytest.mark.slow
async def test_bridge_survives_a_broker_restart(
    private_broker: PrivateBroker, aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    # The broker fixture comes first: it is set up before the app and torn down after it.
    client: TestClient = await aiohttp_client(create_app(make_settings(mqtt_url=private_broker.url)))
    await _connected(client)
    bridge = _bridge(client)
    channel = await new_channel(client, public_flag=True)
    cid, key = channel["id"], channel["write_key"]

    async with subscriber(private_broker.url, cid) as inbox:
        await publish(private_broker.url, f"channels/{cid}/publish", f"api_key={key}&field1=before")
        await _stored(client, cid, 1)
        assert await inbox.wait_for(f"channels/{cid}/subscribe/fields/field1") == [b"before"]

    await private_broker.kill()

    async def disconnected() -> bool:
        return not bridge.connected

    await _until(disconnected, "the bridge noticed the broker went away")
    await private_broker.start()
    await _connected(client)

    async with subscriber(private_broker.url, cid) as inbox:
        await publish(private_broker.url, f"channels/{cid}/publish", f"api_key={key}&field1=after")
        rows = await _stored(client, cid, 2)
        assert [r["field1"] for r in rows] == ["before", "after"]
        assert await inbox.wait_for(f"channels/{cid}/subscribe/fields/field1") == [b"after"]
        [entry] = [orjson.loads(p) for p in await inbox.wait_for(f"channels/{cid}/subscribe")]
        assert entry["entry_id"] == 2
    assert bridge.stats.connections == 2


@pytest.mark.slow
async def test_server_starts_and_stops_while_the_broker_is_down(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"  # nothing listens there
    client: TestClient = await aiohttp_client(create_app(make_settings(mqtt_url=url)))
    resp = await client.get("/healthz")
    assert resp.status in (200, 503)
    assert not _bridge(client).connected


@needs_broker
async def test_a_suspended_accounts_write_key_writes_nothing_over_mqtt(mqtt_client: TestClient) -> None:
    from tests.iot.test_suspension import admin_of, set_suspended

    assert TEST_MQTT_URL
    channel = await new_channel(mqtt_client)
    cid, key, owner = channel["id"], channel["write_key"], channel["grant"]["user"]["id"]
    admin = await admin_of(mqtt_client)
    bridge = _bridge(mqtt_client)
    await publish(TEST_MQTT_URL, f"channels/{cid}/publish/{key}", "field1=before")  # the key is now cached
    await _stored(mqtt_client, cid, 1)

    await set_suspended(mqtt_client, admin, owner, True)
    rejected_before = bridge.stats.rejected
    await publish(TEST_MQTT_URL, f"channels/{cid}/publish/{key}", "field1=suspended")

    async def rejected() -> bool:
        return bridge.stats.rejected > rejected_before

    await _until(rejected, "the suspended account's message rejected")
    await set_suspended(mqtt_client, admin, owner, False)
    await publish(TEST_MQTT_URL, f"channels/{cid}/publish/{key}", "field1=after")
    rows = await _stored(mqtt_client, cid, 2)
    assert [r["field1"] for r in rows] == ["before", "after"]
