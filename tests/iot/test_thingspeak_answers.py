"""Where ThingSpeak answers differently from what we once did: public channel pages, the channel object (ranking,
username, tags with ids), and the limits on filling empty buckets."""

from __future__ import annotations

import uuid

from aiohttp.test_utils import TestClient

from tests.helpers import new_channel
from tests.iot.test_reads import bulk, get_json


async def test_public_channels_page_as_thingspeak(client: TestClient) -> None:
    owner = await new_channel(client)  # private: never listed
    tag = f"t{uuid.uuid4().hex[:8]}"
    made = []
    for n in range(17):
        resp = await client.post(
            "/channels.json",
            json={"api_key": owner["user_key"], "name": f"Public {n}", "public_flag": True, "tags": f"x, {tag}"},
        )
        assert resp.status == 200
        made.append((await resp.json())["id"])
    await client.post("/channels.json", json={"api_key": owner["user_key"], "public_flag": True, "tags": "other"})

    first = await get_json(client, f"/channels/public.json?tag={tag}")
    assert first["pagination"]["current_page"] == 1
    assert first["pagination"]["per_page"] == 15
    assert first["pagination"]["total_entries"] == 17
    assert [c["id"] for c in first["channels"]] == made[:15]
    second = await get_json(client, f"/channels/public.json?tag={tag.upper()}&page=2")
    assert second["pagination"]["current_page"] == 2
    assert [c["id"] for c in second["channels"]] == made[15:]
    assert (await get_json(client, f"/channels/public.json?tag={tag}&page=3"))["channels"] == []
    everything = await get_json(client, "/channels/public.json")
    assert everything["pagination"]["total_entries"] == 18
    for bad in ("0", "x", "10001", "-1"):
        body = await get_json(client, f"/channels/public.json?page={bad}", 400)
        assert "page" in body["error"]["details"]


async def test_the_channel_object_has_ranking_username_and_tag_ids(client: TestClient) -> None:
    bare = await new_channel(client)
    full = await new_channel(
        client, description="On the roof", latitude=1, longitude=2, url="https://example.test", tags="roof, Weather"
    )
    again = await new_channel(client, tags="weather")
    view = await get_json(client, f"/channels/{full['id']}.json?api_key={full['read_key']}")
    assert view["ranking"] == 85  # 15 name + 20 description + 15 location + 15 url + 20 tags (no video here)
    assert [t["name"] for t in view["tags"]] == ["roof", "Weather"]
    assert all(isinstance(t["id"], int) for t in view["tags"])
    other = await get_json(client, f"/channels/{again['id']}.json?api_key={again['read_key']}")
    assert other["tags"][0]["id"] == view["tags"][1]["id"]  # one tag, one id, on every channel
    assert other["ranking"] == 35
    plain = await get_json(client, f"/channels/{bare['id']}.json?api_key={bare['read_key']}")
    assert plain["ranking"] == 15
    assert plain["tags"] == []
    # The owner's public name is a pseudonym: stable for one owner, different between owners, no e-mail in it.
    assert plain["username"].startswith("user-")
    assert plain["username"] != view["username"]
    assert (
        plain["username"]
        == (await get_json(client, f"/channels/{bare['id']}.json?api_key={bare['user_key']}"))["username"]
    )
    assert "@" not in plain["username"]
    feed = await get_json(client, f"/channels/{full['id']}/feeds.json?api_key={full['read_key']}")
    assert feed["channel"]["ranking"] == 85


async def test_empty_buckets_are_filled_up_to_a_limit(client: TestClient) -> None:
    ch = await new_channel(client)
    await bulk(
        client,
        ch,
        [
            {"created_at": "2014-01-01T00:00:00Z", "field1": "1"},
            {"created_at": "2024-01-01T00:00:00Z", "field1": "2"},
        ],
    )
    url = f"/channels/{ch['id']}/fields/1.json?api_key={ch['read_key']}&results=10"
    # Ten years of 10-minute buckets would be half a million empty entries: at most 8000 are filled in.
    feeds = (await get_json(client, f"{url}&timescale=10"))["feeds"]
    assert len(feeds) == 8002
    assert feeds[0] == {"created_at": "2014-01-01T00:00:00Z", "entry_id": 1, "field1": "1"}
    assert feeds[1] == {"created_at": "2014-01-01T00:10:00Z", "entry_id": None, "field1": None}
    assert feeds[-1] == {"created_at": "2024-01-01T00:00:00Z", "entry_id": 2, "field1": "2"}
    # Averages: an empty bucket has null values and no entry_id.
    feeds = (await get_json(client, f"{url}&average=1440&start=2023-12-30&end=2024-01-02"))["feeds"]
    assert feeds == [{"created_at": "2024-01-01T00:00:00Z", "field1": "2.0"}]
