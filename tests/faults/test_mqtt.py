"""Mosquitto blinks between the bridge and it (reset, or a silent hang): the process stays up, /readyz names the
bridge within seconds, and the bridge reconnects by itself within seconds of the restore. Devices publish to the
broker directly (QoS 1, as the bridge subscribes): every point, published before, during or after the cut, is
written once (the broker keeps the bridge's session and queues for it while it is away), never twice."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from pathlib import Path

import aiohttp
import aiomqtt
import pytest

from tests.e2e.server_process import running_server
from tests.faults.kit import READY_WITHIN, RECOVER_WITHIN, Site, create_admins, host_port, service_url, until_ready
from tests.faults.proxy import Cut, FaultProxy

pytestmark = pytest.mark.slow
CUT_SECONDS = 3.0


def _values(db_path: Path, channel_id: int) -> Counter[str]:
    """How many times each field1 value is stored for the channel."""
    db = sqlite3.connect(db_path)
    try:
        return Counter(row[0] for row in db.execute("SELECT field1 FROM feeds WHERE channel_id = ?", (channel_id,)))
    finally:
        db.close()


async def _until_stored(db_path: Path, channel_id: int, value: str, within: float) -> None:
    deadline = time.monotonic() + within
    while not _values(db_path, channel_id)[value]:
        assert time.monotonic() < deadline, f"{value} was not written within {within} s"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("mode", ["reset", "hang"])
async def test_mqtt_bridge_cut_and_restored(tmp_path: Path, mode: Cut) -> None:
    mqtt_url = service_url("TEST_MQTT_URL")
    broker = host_port(mqtt_url, 1883)
    db_path = tmp_path / "data" / "app.db"
    create_admins({"DATA_DIR": str(tmp_path / "data")})
    with FaultProxy(*broker) as proxy:
        env = {"MQTT_URL": proxy.url_for(mqtt_url), "MQTT_KEEPALIVE_SECONDS": "2"}
        with running_server(tmp_path, env=env) as server:
            async with aiohttp.ClientSession() as session, aiomqtt.Client(*broker) as device:
                site = await Site.open(server, session)
                topic = f"channels/{site.channel_id}/publish/{site.write_key}"
                await until_ready(session, server, ready=True, within=READY_WITHIN)
                await device.publish(topic, b"field1=before", qos=1)
                await _until_stored(db_path, site.channel_id, "before", RECOVER_WITHIN)

                proxy.cut(mode)
                body = await until_ready(session, server, ready=False, within=READY_WITHIN)
                assert body["checks"]["mqtt"] is False
                for n in range(5):  # the broker acknowledges these and queues them for the bridge
                    await device.publish(topic, f"field1=during{n}".encode(), qos=1)
                await asyncio.sleep(CUT_SECONDS)
                proxy.restore()
                await until_ready(session, server, ready=True, within=RECOVER_WITHIN)
                await device.publish(topic, b"field1=after", qos=1)
                await _until_stored(db_path, site.channel_id, "after", RECOVER_WITHIN)
                assert server.running
    stored = _values(db_path, site.channel_id)
    assert stored == Counter(["before", *(f"during{n}" for n in range(5)), "after"]), stored
