"""Channels through ThingSpeak's REST API: create, list, view, update, clear, delete; keys and who may see them."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.helpers import bearer, new_channel, user_api_key, verified_user


async def test_user_api_key_is_shown_and_regenerable(client: TestClient) -> None:
    grant = await verified_user(client)
    first = await user_api_key(client, grant)
    assert len(first) == 16
    assert await user_api_key(client, grant) == first
    resp = await client.post("/api/me/api-key/regenerate", headers=bearer(grant))
    second = (await resp.json())["api_key"]
    assert second != first
    # The old key no longer creates channels.
    resp = await client.post("/channels.json", json={"api_key": first, "name": "x"})
    assert resp.status == 401
    assert (await resp.json())["error"]["error_code"] == "error_auth_required"
    resp = await client.post("/channels.json", json={"api_key": second, "name": "x"})
    assert resp.status == 200


async def test_create_view_update_list_delete(client: TestClient) -> None:
    channel = await new_channel(
        client,
        description="Roof",
        latitude="51.5",
        longitude="-0.12",
        tags="weather, roof",
        metadata='{"site": 3}',
        public_flag="false",
    )
    assert channel["name"] == "Weather"
    assert channel["field1"] == "Temperature"
    assert "field3" not in channel
    assert channel["latitude"] == "51.5"
    assert [t["name"] for t in channel["tags"]] == ["weather", "roof"]
    assert channel["public_flag"] is False
    assert len(channel["write_key"]) == 16
    key = channel["user_key"]
    cid = channel["id"]

    # Only the owner sees the keys.
    owner_view = await (await client.get(f"/channels/{cid}.json?api_key={key}")).json()
    assert {k["write_flag"] for k in owner_view["api_keys"]} == {True, False}
    reader_view = await (await client.get(f"/channels/{cid}.json?api_key={channel['read_key']}")).json()
    assert "api_keys" not in reader_view
    assert (await client.get(f"/channels/{cid}.json")).status == 401

    resp = await client.put(
        f"/channels/{cid}.json",
        data={"api_key": key, "name": "Garden", "field3": "Wind", "public_flag": "true", "retention_days": "30"},
    )
    assert resp.status == 200
    updated = await resp.json()
    assert updated["name"] == "Garden"
    assert updated["field3"] == "Wind"
    assert updated["public_flag"] is True
    # Public now: anyone may view it.
    assert (await client.get(f"/channels/{cid}.json")).status == 200
    xml = await client.get(f"/channels/{cid}.xml")
    assert xml.content_type == "application/xml"
    assert "<name>Garden</name>" in await xml.text()

    listing = await (await client.get(f"/channels.json?api_key={key}")).json()
    assert [c["id"] for c in listing] == [cid]
    public = await (await client.get("/channels/public.json?tag=roof")).json()
    assert cid in [c["id"] for c in public["channels"]]

    resp = await client.delete(f"/channels/{cid}.json", data={"api_key": key})
    assert resp.status == 200
    assert (await client.get(f"/channels/{cid}.json?api_key={key}")).status == 404
    assert (await client.get(f"/update?api_key={channel['write_key']}&field1=1")).status == 401


async def test_others_cannot_touch_a_channel(client: TestClient) -> None:
    channel = await new_channel(client)
    other = await verified_user(client)
    other_key = await user_api_key(client, other)
    cid = channel["id"]
    for method, path in (
        ("PUT", f"/channels/{cid}.json"),
        ("DELETE", f"/channels/{cid}.json"),
        ("DELETE", f"/channels/{cid}/feeds.json"),
        ("POST", f"/channels/{cid}/api_keys/write.json"),
        ("POST", f"/channels/{cid}/api_keys/read.json"),
    ):
        resp = await client.request(method, path, data={"api_key": other_key, "name": "mine now"})
        # Not "forbidden": to anyone but the owner the channel does not exist.
        assert resp.status == 404, (method, path)
        missing = await client.request(
            method,
            "/channels/999999.json" if "api_keys" not in path else "/channels/999999/api_keys/read.json",
            data={"api_key": other_key},
        )
        assert missing.status == 404
        assert await missing.json() == await resp.json()
    view = await (await client.get(f"/channels/{cid}.json?api_key={channel['user_key']}")).json()
    assert view["name"] == "Weather"


async def test_keys_regenerate_and_read_keys(client: TestClient) -> None:
    channel = await new_channel(client)
    cid, key = channel["id"], channel["user_key"]
    old_write = channel["write_key"]
    assert (await client.get(f"/update?api_key={old_write}&field1=1")).status == 200
    resp = await client.post(f"/channels/{cid}/api_keys/write.json", data={"api_key": key})
    new_write = (await resp.json())["api_key"]
    assert new_write != old_write
    assert (await client.get(f"/update?api_key={old_write}&field1=2")).status == 401
    assert await (await client.get(f"/update?api_key={new_write}&field1=2")).text() == "2"

    resp = await client.post(f"/channels/{cid}/api_keys/read.json", data={"api_key": key, "note": "dashboard"})
    assert resp.status == 201
    extra = await resp.json()
    assert (await client.get(f"/channels/{cid}.json?api_key={extra['api_key']}")).status == 200
    resp = await client.delete(f"/channels/{cid}/api_keys/read/{extra['id']}.json", data={"api_key": key})
    assert resp.status == 200
    assert (await client.get(f"/channels/{cid}.json?api_key={extra['api_key']}")).status == 401
    # The channel's write key reads it too (ThingSpeak allows it); the replaced one no longer does.
    assert (await client.get(f"/channels/{cid}.json?api_key={new_write}")).status == 200
    assert (await client.get(f"/channels/{cid}.json?api_key={old_write}")).status == 401


async def test_bearer_session_manages_channels_too(client: TestClient) -> None:
    grant = await verified_user(client)
    resp = await client.post("/channels.json", json={"name": "From the app"}, headers=bearer(grant))
    assert resp.status == 200
    listing = await (await client.get("/channels.json", headers=bearer(grant))).json()
    assert [c["name"] for c in listing] == ["From the app"]


async def test_bad_channel_settings_are_refused(client: TestClient) -> None:
    grant = await verified_user(client)
    key = await user_api_key(client, grant)
    for body, field in (
        ({"name": "x" * 256}, "name"),
        ({"latitude": "91"}, "latitude"),
        ({"public_flag": "maybe"}, "public_flag"),
        ({"retention_days": "1.5"}, "retention_days"),
        ({"colour": "red"}, "colour"),
        ({"field1": "y" * 300}, "field1"),
    ):
        resp = await client.post("/channels.json", json={"api_key": key, **body})
        assert resp.status == 400, body
        assert field in (await resp.json())["error"]["details"]
    assert await (await client.get(f"/channels.json?api_key={key}")).json() == []


async def test_clear_keeps_counting(client: TestClient) -> None:
    channel = await new_channel(client)
    for n in range(3):
        await client.get(f"/update?api_key={channel['write_key']}&field1={n}")
    resp = await client.delete(f"/channels/{channel['id']}/feeds.json", data={"api_key": channel["user_key"]})
    assert resp.status == 200
    assert await resp.json() == []
    # Entry ids are never reused after a clear, as ThingSpeak does.
    assert await (await client.get(f"/update?api_key={channel['write_key']}&field1=9")).text() == "4"
