"""Retention: points older than a channel's period go, in batches; newer ones and other channels stay."""

from __future__ import annotations

import time

from aiohttp.test_utils import TestClient

from server.iot.appkeys import channels_key
from server.iot.retention import sweep
from server.keys import database_key
from tests.helpers import new_channel


async def test_old_points_are_deleted_in_batches(client: TestClient) -> None:
    kept = await new_channel(client, retention_days="7")
    untouched = await new_channel(client)
    now = time.time()
    old = [{"created_at": int(now - 10 * 86400) + i, "field1": str(i)} for i in range(25)]
    recent = [{"created_at": int(now - 3600) + i, "field1": str(i)} for i in range(5)]
    for ch in (kept, untouched):
        resp = await client.post(
            f"/channels/{ch['id']}/bulk_update.json", json={"write_api_key": ch["write_key"], "updates": old + recent}
        )
        assert resp.status == 202
    deleted = await sweep(client.app[channels_key].repo, now=now, batch=10)
    assert deleted == 25
    db = client.app[database_key]
    remaining = await db.fetch("SELECT entry_id FROM feeds WHERE channel_id = $1 ORDER BY entry_id", kept["id"])
    assert [r["entry_id"] for r in remaining] == list(range(26, 31))
    assert await db.fetchval("SELECT count(*) FROM feeds WHERE channel_id = $1", untouched["id"]) == 30
    assert await sweep(client.app[channels_key].repo, now=now) == 0
