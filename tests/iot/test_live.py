"""Live feeds over the WebSocket: points arrive after commit; a returning subscriber gets exactly what it missed."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import Settings
from tests.helpers import new_channel


async def frames(
    ws: ClientWebSocketResponse, until: Callable[[list[dict[str, Any]]], bool], timeout: float = 10
) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while not until(got):
            got.append(await ws.receive_json())
    return got


def entry_ids(got: list[dict[str, Any]]) -> list[int]:
    return [e["entry_id"] for f in got if f["type"] == "channel.entries" for e in f["entries"]]


async def test_owner_sees_points_as_they_commit(client: TestClient) -> None:
    ch = await new_channel(client)
    async with client.ws_connect("/ws") as ws:
        await ws.send_json({"type": "auth", "id": "a", "token": ch["grant"]["access_token"]})
        await ws.send_json({"type": "channel.subscribe", "id": "s", "channel_id": ch["id"]})
        await frames(ws, lambda got: any(f.get("id") == "s" for f in got))
        await client.get(f"/update?api_key={ch['write_key']}&field1=20.5")
        await client.post(
            f"/channels/{ch['id']}/bulk_update.json",
            json={
                "write_api_key": ch["write_key"],
                "updates": [{"delta_t": 0, "field1": "1"}, {"delta_t": 1, "field1": "2"}],
            },
        )
        got = await frames(ws, lambda got: len(entry_ids(got)) >= 3)
    assert entry_ids(got) == [1, 2, 3]
    assert got[0]["entries"][0]["field1"] == "20.5"


async def test_resume_from_last_entry_id(client: TestClient) -> None:
    ch = await new_channel(client)
    for n in range(5):
        await client.get(f"/update?api_key={ch['write_key']}&field1={n}")
    async with client.ws_connect("/ws") as ws:
        # No auth: a read key is enough.
        await ws.send_json(
            {
                "type": "channel.subscribe",
                "id": 1,
                "channel_id": ch["id"],
                "after_entry_id": 2,
                "api_key": ch["read_key"],
            }
        )
        got = await frames(ws, lambda got: any(f.get("id") == 1 for f in got))
        assert got[-1]["result"] == {"channel_id": ch["id"], "last_entry_id": 5}
        assert entry_ids(got) == [3, 4, 5]
        assert all(f.get("backfill") for f in got if f["type"] == "channel.entries")

        # Writes racing the catch-up are neither lost nor doubled.
        async def write_some() -> None:
            for n in range(20):
                await client.get(f"/update?api_key={ch['write_key']}&field1={n}")

        await ws.send_json({"type": "channel.unsubscribe", "id": 2, "channel_id": ch["id"]})
        await frames(ws, lambda got: any(f.get("id") == 2 for f in got))
        writer = asyncio.create_task(write_some())
        await ws.send_json(
            {
                "type": "channel.subscribe",
                "id": 3,
                "channel_id": ch["id"],
                "after_entry_id": 5,
                "api_key": ch["read_key"],
            }
        )
        await writer
        later = await frames(ws, lambda got: 25 in entry_ids(got))
    assert entry_ids(later) == list(range(6, 26))


async def test_private_channel_refuses_and_public_allows(client: TestClient) -> None:
    ch = await new_channel(client)
    async with client.ws_connect("/ws") as ws:
        for frame in (
            {"channel_id": ch["id"]},
            {"channel_id": ch["id"], "api_key": "WRONGKEY00000000"},
            {"channel_id": 987654},
        ):
            await ws.send_json({"type": "channel.subscribe", "id": 1, **frame})
            reply = await ws.receive_json()
            assert reply["error"]["code"] == "channel_not_readable"
        await client.put(f"/channels/{ch['id']}.json", data={"api_key": ch["user_key"], "public_flag": "true"})
        await ws.send_json({"type": "channel.subscribe", "id": 2, "channel_id": ch["id"]})
        assert (await ws.receive_json())["type"] == "result"
        await ws.send_json({"type": "channel.subscribe", "id": 3, "channel_id": ch["id"]})
        assert (await ws.receive_json())["error"]["code"] == "already_subscribed"
    # A channel's write key reads it, here as on HTTP (ThingSpeak allows it).
    private = await new_channel(client)
    async with client.ws_connect("/ws") as ws:
        await ws.send_json(
            {"type": "channel.subscribe", "id": 1, "channel_id": private["id"], "api_key": ch["write_key"]}
        )
        assert (await ws.receive_json())["error"]["code"] == "channel_not_readable"  # another channel's key
        frame = {"type": "channel.subscribe", "id": 2, "channel_id": private["id"], "api_key": private["write_key"]}
        await ws.send_json(frame)
        assert (await ws.receive_json())["type"] == "result"


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "channel.subscribe", "id": 1},
        {"type": "channel.subscribe", "id": 1, "channel_id": "7"},
        {"type": "channel.subscribe", "id": 1, "channel_id": 1, "after_entry_id": -1},
        {"type": "channel.subscribe", "id": 1, "channel_id": True},
        {"type": "channel.unsubscribe", "id": 1, "channel_id": 1},
    ],
)
async def test_bad_frames_get_errors_and_the_socket_stays(client: TestClient, frame: dict[str, Any]) -> None:
    async with client.ws_connect("/ws") as ws:
        await ws.send_json(frame)
        reply = await ws.receive_json()
        assert reply["type"] == "error"
        assert reply["id"] == 1
        await ws.send_json({"type": "ping", "id": 2})
        assert (await ws.receive_json())["type"] == "pong"


async def test_points_reach_subscribers_of_another_process_through_redis(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL is not set (CI sets it)")
    settings = make_settings(redis_url=url)
    writer_side = await aiohttp_client(create_app(settings))
    reader_side = await aiohttp_client(create_app(settings))
    ch = await new_channel(writer_side)
    async with reader_side.ws_connect("/ws") as ws:
        await ws.send_json({"type": "channel.subscribe", "id": 1, "channel_id": ch["id"], "api_key": ch["read_key"]})
        await frames(ws, lambda got: any(f.get("id") == 1 for f in got))
        for n in range(3):
            await writer_side.get(f"/update?api_key={ch['write_key']}&field1={n}")
        got = await frames(ws, lambda got: len(entry_ids(got)) >= 3)
    assert entry_ids(got) == [1, 2, 3]
