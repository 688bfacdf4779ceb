"""MQTT devices as ThingSpeak has them, enforced by a real Mosquitto with the dynamic-security plugin the server
provisions: a device publishes and subscribes with its own credentials to the channels its user chose, and nowhere
else; nobody without access receives a private channel's points; bulk updates are not republished; the forms with
the write key in the topic still work."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
import pytest
from aiohttp.test_utils import TestClient
from paho.mqtt.reasoncodes import ReasonCode

from server.app import create_app
from server.config import Settings
from server.iot.appkeys import channels_key, mqtt_devices_key, mqtt_key
from server.keys import database_key
from tests.helpers import bearer, new_channel
from tests.iot.dynsec_kit import ADMIN, DynSecBroker, dynsec_broker

WAIT = 10.0
QUIET = 0.5  # how long a message that must not arrive is given to arrive anyway


async def _until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = WAIT) -> Any:
    try:
        async with asyncio.timeout(timeout):
            while True:
                result = await check()
                if result:
                    return result
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def _refused(codes: Any) -> bool:
    return all((c.is_failure if isinstance(c, ReasonCode) else c >= 0x80) for c in codes)


class Device:
    """An MQTT connection with a device's credentials (or none: anonymous), collecting what it receives."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.messages: list[tuple[str, bytes]] = []
        self.reader: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        """Still connected: the broker has not disconnected it."""
        return self.reader is not None and not self.reader.done()

    async def subscribe(self, topic: str) -> bool:
        """True if the broker granted the subscription."""
        return not _refused(await self.client.subscribe(topic, qos=1))

    async def publish(self, topic: str, payload: str) -> None:
        await self.client.publish(topic, payload, qos=1)

    def on(self, topic: str) -> list[bytes]:
        return [p for t, p in self.messages if t == topic]


@contextlib.asynccontextmanager
async def connected(broker: DynSecBroker, creds: dict[str, Any] | None = None) -> AsyncIterator[Device]:
    client = aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        identifier=creds["client_id"] if creds else f"anon-{secrets.token_hex(4)}",
        username=creds["username"] if creds else None,
        password=creds["password"] if creds else None,
    )
    async with client:
        device = Device(client)

        async def collect() -> None:
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                device.messages.append((message.topic.value, message.payload))

        task = device.reader = asyncio.create_task(collect())
        try:
            yield device
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task


async def _entries(client: TestClient, channel_id: int) -> list[Any]:
    rows: list[Any] = await client.app[channels_key].repo.entries_after(channel_id, 0, 100)
    return rows


async def _stored(client: TestClient, channel_id: int, count: int) -> list[Any]:
    async def enough() -> list[Any] | None:
        rows = await _entries(client, channel_id)
        return rows if len(rows) >= count else None

    rows: list[Any] = await _until(enough, f"{count} entries in channel {channel_id}")
    return rows


@pytest.fixture(name="broker")
async def broker_fixture(tmp_path: Path) -> AsyncIterator[DynSecBroker]:
    async with dynsec_broker(tmp_path) as broker:
        yield broker


@pytest.fixture(name="app_client")
async def app_client_fixture(
    broker: DynSecBroker, aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> TestClient:
    # The broker fixture comes first: it is set up before the app and torn down after it.
    settings = make_settings(mqtt_url=broker.url, mqtt_admin_username=ADMIN, mqtt_admin_password=broker.admin_password)
    client: TestClient = await aiohttp_client(create_app(settings))
    provisioner = client.app[mqtt_devices_key].provisioner
    assert provisioner is not None

    async def ready() -> bool:
        return provisioner.synced.is_set() and client.app[mqtt_key].connected

    await _until(ready, "the broker provisioned and the bridge subscribed")
    return client


async def _device(client: TestClient, owner: dict[str, Any], channels: list[dict[str, Any]]) -> dict[str, Any]:
    resp = await client.post(
        "/api/mqtt/devices", json={"name": "sensor", "channels": channels}, headers=bearer(owner["grant"])
    )
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    assert body["provisioned"] is True
    return body


async def test_a_device_publishes_and_subscribes_where_allowed_and_nowhere_else(
    app_client: TestClient, broker: DynSecBroker
) -> None:
    mine = await new_channel(app_client)  # private
    theirs = await new_channel(app_client)  # another user's, private
    cid, other = mine["id"], theirs["id"]
    creds = await _device(app_client, mine, [{"channel_id": cid, "publish": True, "subscribe": True}])

    async with connected(broker, creds) as device, connected(broker) as anonymous:
        # Nobody but the device may listen to the private channel; the device may not listen to another's.
        assert await device.subscribe(f"channels/{cid}/subscribe/#")
        assert not await device.subscribe(f"channels/{other}/subscribe/#")
        assert not await device.subscribe("channels/+/subscribe/#")
        assert not await anonymous.subscribe(f"channels/{cid}/subscribe/#")
        assert not await anonymous.subscribe(f"channels/{cid}/subscribe")
        assert not await anonymous.subscribe("#")
        assert not await anonymous.subscribe(f"channels/{cid}/publish/#")  # where write keys travel

        # No key: the broker authorised the device.
        await device.publish(f"channels/{cid}/publish", "field1=21.5&status=ok")
        [row] = await _stored(app_client, cid, 1)
        assert (row["field1"], row["status"]) == ("21.5", "ok")
        await device.publish(f"channels/{cid}/publish/fields/field2", "40")
        rows = await _stored(app_client, cid, 2)
        assert rows[1]["field2"] == "40"

        # Another user's channel: the broker drops it (MQTT 3.1.1 cannot say so), so it is never written.
        await device.publish(f"channels/{other}/publish", "field1=intruder")
        await device.publish(f"channels/{other}/publish/fields/field1", "intruder")
        # Anonymous, without the key in the topic: refused by the broker too, even with a good key in the payload.
        await anonymous.publish(f"channels/{cid}/publish", f"api_key={mine['write_key']}&field1=anon")

        # The key-in-topic forms still work for anyone holding the key.
        await anonymous.publish(f"channels/{cid}/publish/{mine['write_key']}", "field1=legacy")
        await _stored(app_client, cid, 3)
        await anonymous.publish(f"channels/{cid}/publish/fields/field3/{mine['write_key']}", "7.25")
        rows = await _stored(app_client, cid, 4)
        assert [(r["field1"], r["field3"]) for r in rows[2:]] == [("legacy", None), (None, "7.25")]

        async def all_republished() -> bool:
            return len(device.on(f"channels/{cid}/subscribe")) >= 4

        await _until(all_republished, "four entries republished to the device")
        entries = [orjson.loads(p) for p in device.on(f"channels/{cid}/subscribe")]
        assert [e["entry_id"] for e in entries] == [1, 2, 3, 4]
        assert device.on(f"channels/{cid}/subscribe/fields/field3") == [b"7.25"]
        await asyncio.sleep(QUIET)
        assert anonymous.messages == []

    assert await _entries(app_client, other) == []
    assert [r["field1"] for r in await _entries(app_client, cid)] == ["21.5", None, "legacy", None]


async def test_a_bridge_with_a_user_of_its_own_is_given_the_bridge_role(
    broker: DynSecBroker, aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    broker.create_client("bridge", "bridge-password")
    url = f"mqtt://bridge:bridge-password@127.0.0.1:{broker.port}"
    settings = make_settings(mqtt_url=url, mqtt_admin_username=ADMIN, mqtt_admin_password=broker.admin_password)
    client: TestClient = await aiohttp_client(create_app(settings))

    async def ready() -> bool:
        provisioner = client.app[mqtt_devices_key].provisioner
        return provisioner is not None and provisioner.synced.is_set() and client.app[mqtt_key].connected

    await _until(ready, "the broker provisioned and the bridge subscribed", timeout=20)
    channel = await new_channel(client)
    cid = channel["id"]
    creds = await _device(client, channel, [{"channel_id": cid, "publish": True, "subscribe": True}])
    async with connected(broker, creds) as device:
        assert await device.subscribe(f"channels/{cid}/subscribe/#")
        await device.publish(f"channels/{cid}/publish", "field1=via its own bridge")
        [row] = await _stored(client, cid, 1)
        assert row["field1"] == "via its own bridge"

        async def heard() -> bool:
            return bool(device.on(f"channels/{cid}/subscribe"))

        await _until(heard, "the point republished by the bridge")


async def test_wrong_or_deleted_credentials_cannot_connect(app_client: TestClient, broker: DynSecBroker) -> None:
    channel = await new_channel(app_client)
    creds = await _device(app_client, channel, [{"channel_id": channel["id"], "publish": True, "subscribe": False}])
    with pytest.raises(aiomqtt.MqttError):
        async with connected(broker, {**creds, "password": "not-the-password"}):
            pass
    async with connected(broker, creds) as device:
        assert not await device.subscribe(f"channels/{channel['id']}/subscribe/#")  # publish only
    resp = await app_client.delete(f"/api/mqtt/devices/{creds['id']}", headers=bearer(channel["grant"]))
    assert resp.status == 204
    with pytest.raises(aiomqtt.MqttError):
        async with connected(broker, creds):
            pass


async def test_changing_a_devices_channels_changes_what_the_broker_allows(
    app_client: TestClient, broker: DynSecBroker
) -> None:
    channel = await new_channel(app_client)
    cid, owner = channel["id"], channel["grant"]
    creds = await _device(app_client, channel, [{"channel_id": cid, "publish": True, "subscribe": True}])
    resp = await app_client.patch(
        f"/api/mqtt/devices/{creds['id']}",
        json={"name": "renamed", "channels": [{"channel_id": cid, "publish": False, "subscribe": True}]},
        headers=bearer(owner),
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert (body["name"], body["provisioned"], "password" not in body) == ("renamed", True, True)
    async with connected(broker, creds) as device:
        assert await device.subscribe(f"channels/{cid}/subscribe/#")
        await device.publish(f"channels/{cid}/publish", "field1=refused")  # no longer allowed: dropped
        await app_client.post("/update", data={"api_key": channel["write_key"], "field1": "http"})

        async def heard() -> bool:
            return bool(device.on(f"channels/{cid}/subscribe"))

        await _until(heard, "the HTTP write republished to the device")
    assert [r["field1"] for r in await _entries(app_client, cid)] == ["http"]


async def test_bulk_updates_are_not_republished(app_client: TestClient, broker: DynSecBroker) -> None:
    channel = await new_channel(app_client)
    cid = channel["id"]
    creds = await _device(app_client, channel, [{"channel_id": cid, "publish": False, "subscribe": True}])
    async with connected(broker, creds) as device:
        assert await device.subscribe(f"channels/{cid}/subscribe/#")
        resp = await app_client.post(
            f"/channels/{cid}/bulk_update.json",
            json={
                "write_api_key": channel["write_key"],
                "updates": [{"delta_t": 0, "field1": "1"}, {"delta_t": 1, "field1": "2"}],
            },
        )
        assert resp.status == 202, await resp.text()
        resp = await app_client.post("/update", data={"api_key": channel["write_key"], "field1": "single"})
        assert await resp.text() == "3"

        async def heard() -> bool:
            return bool(device.on(f"channels/{cid}/subscribe"))

        await _until(heard, "the single write republished")
        await asyncio.sleep(QUIET)
        assert [orjson.loads(p)["entry_id"] for p in device.on(f"channels/{cid}/subscribe")] == [3]
        assert device.on(f"channels/{cid}/subscribe/fields/field1") == [b"single"]


async def test_another_server_process_starting_leaves_connected_devices_alone(
    app_client: TestClient, broker: DynSecBroker, aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    channel = await new_channel(app_client)
    cid = channel["id"]
    creds = await _device(app_client, channel, [{"channel_id": cid, "publish": True, "subscribe": True}])
    async with connected(broker, creds) as device:
        assert await device.subscribe(f"channels/{cid}/subscribe/#")
        settings = make_settings(
            mqtt_url=broker.url, mqtt_admin_username=ADMIN, mqtt_admin_password=broker.admin_password
        )
        second: TestClient = await aiohttp_client(create_app(settings))  # same database, same broker
        provisioner = second.app[mqtt_devices_key].provisioner
        assert provisioner is not None

        async def synced() -> bool:
            return provisioner.synced.is_set()

        await _until(synced, "the second process in step with the broker")
        await device.publish(f"channels/{cid}/publish", "field1=still here")
        [row] = await _stored(app_client, cid, 1)
        assert row["field1"] == "still here"

        async def heard() -> bool:
            return bool(device.on(f"channels/{cid}/subscribe"))

        await _until(heard, "the point republished to the device")
        assert device.alive

        # A new name changes nothing the broker holds: the device stays connected.
        resp = await app_client.patch(
            f"/api/mqtt/devices/{creds['id']}", json={"name": "porch"}, headers=bearer(channel["grant"])
        )
        assert (await resp.json())["name"] == "porch"
        await device.publish(f"channels/{cid}/publish", "field1=after rename")
        await _stored(app_client, cid, 2)
        assert device.alive


async def test_a_suspended_accounts_devices_cannot_connect_until_it_is_unsuspended(
    app_client: TestClient, broker: DynSecBroker
) -> None:
    from tests.iot.test_suspension import admin_of, set_suspended

    channel = await new_channel(app_client)
    cid, owner = channel["id"], channel["grant"]["user"]["id"]
    creds = await _device(app_client, channel, [{"channel_id": cid, "publish": True, "subscribe": True}])
    admin = await admin_of(app_client)
    async with connected(broker, creds) as device:
        await set_suspended(app_client, admin, owner, True)

        async def dropped() -> bool:
            return not device.alive

        await _until(dropped, "the broker disconnected the suspended account's device")
    with pytest.raises(aiomqtt.MqttError):
        async with connected(broker, creds):
            pass

    await set_suspended(app_client, admin, owner, False)

    async def let_in() -> bool:
        with contextlib.suppress(aiomqtt.MqttError):
            async with connected(broker, creds) as device:
                await device.publish(f"channels/{cid}/publish", "field1=back")
                return True
        return False

    await _until(let_in, "the device let in again")
    [row] = await _stored(app_client, cid, 1)
    assert row["field1"] == "back"


@pytest.mark.slow
async def test_a_broker_that_lost_its_state_is_provisioned_again(
    app_client: TestClient, broker: DynSecBroker, tmp_path: Path
) -> None:
    channel = await new_channel(app_client)
    creds = await _device(app_client, channel, [{"channel_id": channel["id"], "publish": True, "subscribe": True}])
    provisioner = app_client.app[mqtt_devices_key].provisioner
    assert provisioner is not None
    syncs = provisioner.syncs
    await broker.stop()
    broker.reset_state()  # a fresh dynamic-security file: only the admin, none of our roles or devices
    await broker.start()

    async def resynced() -> bool:
        return provisioner.syncs > syncs and provisioner.synced.is_set() and app_client.app[mqtt_key].connected

    await _until(resynced, "the provisioner synced the new broker", timeout=30)
    async with connected(broker, creds) as device:
        await device.publish(f"channels/{channel['id']}/publish", "field1=again")
        [row] = await _stored(app_client, channel["id"], 1)
        assert row["field1"] == "again"


# -- the API alone (no broker: devices are stored, and provisioned once a broker is configured) -----------------


async def test_devices_api_without_a_broker(client: TestClient) -> None:
    channel = await new_channel(client)
    stranger = await new_channel(client)
    owner, cid = bearer(channel["grant"]), channel["id"]
    resp = await client.post(
        "/api/mqtt/devices",
        json={"name": "greenhouse", "channels": [{"channel_id": cid, "publish": True}]},
        headers=owner,
    )
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert created["provisioned"] is False  # no MQTT_ADMIN_USERNAME
    assert len(created["password"]) == 24
    assert created["username"] == created["client_id"]
    assert created["channels"] == [{"channel_id": cid, "publish": True, "subscribe": False}]
    stored = client.app[mqtt_devices_key].repo
    assert await stored.password(created["id"]) == created["password"]  # kept to provision a broker again
    raw = await client.app[database_key].fetchval("SELECT password FROM mqtt_devices WHERE id = $1", created["id"])
    assert created["password"].encode() not in bytes(raw)  # encrypted at rest

    # Listed and read back without the password; the user API key works as a Bearer session does.
    resp = await client.get("/api/mqtt/devices", params={"api_key": channel["user_key"]})
    listed = await resp.json()
    assert [d["id"] for d in listed["devices"]] == [created["id"]]
    assert listed["next"] is None
    assert "password" not in listed["devices"][0]
    resp = await client.get(f"/api/mqtt/devices/{created['id']}", headers=owner)
    assert (await resp.json())["name"] == "greenhouse"

    # Someone else's channel, a channel listed twice, neither right, unknown members: refused, nothing stored.
    bad_lists: list[Any] = [
        [{"channel_id": stranger["id"], "publish": True}],
        [{"channel_id": cid, "publish": True}, {"channel_id": cid, "subscribe": True}],
        [{"channel_id": cid}],
        [{"channel_id": cid, "publish": "yes"}],
        [{"channel_id": cid, "publish": True, "extra": 1}],
        [{"channel_id": True, "publish": True}],
        "all",
    ]
    for channels in bad_lists:
        resp = await client.post("/api/mqtt/devices", json={"name": "x", "channels": channels}, headers=owner)
        assert resp.status in (400, 404), (channels, await resp.text())
        assert "error" in await resp.json()
    resp = await client.get("/api/mqtt/devices", headers=owner)
    assert len((await resp.json())["devices"]) == 1

    # Another user sees, changes and deletes nothing of it.
    other = bearer(stranger["grant"])
    for method in ("GET", "PATCH", "DELETE"):
        resp = await client.request(method, f"/api/mqtt/devices/{created['id']}", json={}, headers=other)
        assert resp.status == 404, method
        assert (await resp.json())["error"]["code"] == "device_not_found"

    resp = await client.patch(
        f"/api/mqtt/devices/{created['id']}",
        json={"channels": [{"channel_id": cid, "publish": True, "subscribe": True}]},
        headers=owner,
    )
    changed = await resp.json()
    assert changed["channels"] == [{"channel_id": cid, "publish": True, "subscribe": True}]
    assert (changed["name"], "password" in changed) == ("greenhouse", False)

    # Deleting the channel takes it off the device; deleting the device removes it.
    resp = await client.delete(f"/channels/{cid}.json", params={"api_key": channel["user_key"]})
    assert resp.status == 200, await resp.text()
    resp = await client.get(f"/api/mqtt/devices/{created['id']}", headers=owner)
    assert (await resp.json())["channels"] == []
    resp = await client.delete(f"/api/mqtt/devices/{created['id']}", headers=owner)
    assert resp.status == 204
    resp = await client.get(f"/api/mqtt/devices/{created['id']}", headers=owner)
    assert resp.status == 404


async def test_devices_page(client: TestClient) -> None:
    channel = await new_channel(client)
    owner = bearer(channel["grant"])
    made = []
    for n in range(3):
        resp = await client.post(
            "/api/mqtt/devices",
            json={"name": f"d{n}", "channels": [{"channel_id": channel["id"], "subscribe": True}]},
            headers=owner,
        )
        made.append((await resp.json())["id"])
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        resp = await client.get("/api/mqtt/devices", params=params, headers=owner)
        page = await resp.json()
        seen += [d["id"] for d in page["devices"]]
        if page["next"] is None:
            break
        params["cursor"] = page["next"]
    assert seen == made
