"""TalkBack as ThingSpeak documents it: TalkBacks for their owner, a command queue for devices with the
TalkBack's key, execution in queue order (never the same command twice), and /update with talkback_key."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from server.iot.appkeys import channels_key
from server.keys import database_key
from tests.helpers import bearer, new_channel, user_api_key, verified_user


async def new_talkback(client: TestClient, owner: dict[str, Any], **params: Any) -> dict[str, Any]:
    resp = await client.post("/talkbacks.json", data={"api_key": owner["user_key"], "name": "Door", **params})
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def add(client: TestClient, talkback: dict[str, Any], command: str, **params: Any) -> str:
    resp = await client.post(
        f"/talkbacks/{talkback['id']}/commands",
        data={"api_key": talkback["api_key"], "command_string": command, **params},
    )
    assert resp.status == 200, await resp.text()
    return await resp.text()


async def queue(client: TestClient, talkback: dict[str, Any]) -> list[str]:
    resp = await client.get(f"/talkbacks/{talkback['id']}/commands.json", params={"api_key": talkback["api_key"]})
    assert resp.status == 200, await resp.text()
    return [c["command_string"] for c in await resp.json()]


async def execute(client: TestClient, talkback: dict[str, Any]) -> str:
    resp = await client.post(f"/talkbacks/{talkback['id']}/commands/execute", data={"api_key": talkback["api_key"]})
    assert resp.status == 200, await resp.text()
    return await resp.text()


async def test_owner_creates_lists_changes_and_deletes_talkbacks(client: TestClient) -> None:
    owner = await new_channel(client)
    talkback = await new_talkback(client, owner, channel_id=str(owner["id"]))
    assert talkback["name"] == "Door"
    assert talkback["channel_id"] == owner["id"]
    assert len(talkback["api_key"]) == 16

    # A signed-in session works as well as the user API key.
    resp = await client.post("/talkbacks.json", json={"name": "Window"}, headers=bearer(owner["grant"]))
    assert resp.status == 201, await resp.text()
    listed = await (await client.get("/talkbacks.json", params={"api_key": owner["user_key"]})).json()
    assert [t["name"] for t in listed] == ["Door", "Window"]

    resp = await client.put(
        f"/talkbacks/{talkback['id']}.json", data={"api_key": owner["user_key"], "name": "Gate", "channel_id": ""}
    )
    assert resp.status == 200, await resp.text()
    changed = await resp.json()
    assert (changed["name"], changed["channel_id"], changed["api_key"]) == ("Gate", None, talkback["api_key"])

    resp = await client.post(f"/talkbacks/{talkback['id']}/api_key.json", data={"api_key": owner["user_key"]})
    new_key = (await resp.json())["api_key"]
    assert new_key != talkback["api_key"]
    old = await client.get(f"/talkbacks/{talkback['id']}/commands", params={"api_key": talkback["api_key"]})
    assert old.status == 401

    # Someone else sees none of it, and cannot tie a TalkBack to a channel they do not own.
    stranger = await verified_user(client)
    stranger_key = await user_api_key(client, stranger)
    resp = await client.get(f"/talkbacks/{talkback['id']}.json", params={"api_key": stranger_key})
    assert resp.status == 404
    resp = await client.post("/talkbacks.json", data={"api_key": stranger_key, "channel_id": str(owner["id"])})
    assert resp.status == 400
    assert "channel_id" in (await resp.json())["error"]["details"]

    resp = await client.delete(f"/talkbacks/{talkback['id']}.json", data={"api_key": owner["user_key"]})
    assert resp.status == 200
    resp = await client.get(f"/talkbacks/{talkback['id']}/commands", params={"api_key": new_key})
    assert resp.status == 404


async def test_queue_add_list_get_update_delete_execute(client: TestClient) -> None:
    owner = await new_channel(client)
    tb = await new_talkback(client, owner)
    first = await add(client, tb, "OPENDOOR")
    assert first.isdigit()
    await add(client, tb, "CLOSEDOOR")
    await add(client, tb, "LIGHTON", position="1")  # at the front; the others move down
    assert await queue(client, tb) == ["LIGHTON", "OPENDOOR", "CLOSEDOOR"]

    base = f"/talkbacks/{tb['id']}/commands"
    resp = await client.get(f"{base}/{first}", params={"api_key": tb["api_key"]})
    assert await resp.text() == "OPENDOOR"
    resp = await client.get(f"{base}/{first}.json", params={"api_key": tb["api_key"]})
    body = await resp.json()
    assert body["command_string"] == "OPENDOOR"
    assert body["position"] == 2
    assert body["executed_at"] is None
    resp = await client.get(f"{base}/{first}.xml", params={"api_key": tb["api_key"]})
    assert "<command-string>OPENDOOR</command-string>" in await resp.text()

    resp = await client.put(f"{base}/{first}", data={"api_key": tb["api_key"], "command_string": "OPEN"})
    assert await resp.text() == "OPEN"
    # Moving it works as adding does: it takes that position, and those at or after it move down.
    resp = await client.put(f"{base}/{first}.json", data={"api_key": tb["api_key"], "position": "4"})
    assert (await resp.json())["position"] == 4
    assert await queue(client, tb) == ["LIGHTON", "CLOSEDOOR", "OPEN"]

    assert await execute(client, tb) == "LIGHTON"
    resp = await client.post(f"{base}/execute.json", data={"api_key": tb["api_key"]})
    executed = await resp.json()
    assert executed["command_string"] == "CLOSEDOOR"
    assert executed["executed_at"] is not None
    assert executed["position"] is None
    resp = await client.get(f"{base}/last", params={"api_key": tb["api_key"]})
    assert await resp.text() == "CLOSEDOOR"
    assert await queue(client, tb) == ["OPEN"]

    resp = await client.delete(f"{base}/{first}", data={"api_key": tb["api_key"]})
    assert await resp.text() == "OPEN"
    assert await execute(client, tb) == ""  # an empty queue answers an empty body
    resp = await client.post(f"{base}/execute.json", data={"api_key": tb["api_key"]})
    assert await resp.json() == {}

    for command in ("A", "B", "C"):
        await add(client, tb, command)
    resp = await client.delete(f"{base}.json", data={"api_key": tb["api_key"]})
    assert resp.status == 200
    assert await resp.json() == []
    assert await queue(client, tb) == []
    resp = await client.get(f"{base}/{first}", params={"api_key": tb["api_key"]})
    assert resp.status == 404


async def test_bad_keys_and_bad_commands_are_refused(client: TestClient) -> None:
    owner = await new_channel(client)
    tb = await new_talkback(client, owner)
    other = await new_talkback(client, owner)
    base = f"/talkbacks/{tb['id']}/commands"
    resp = await client.post(base, data={"api_key": other["api_key"], "command_string": "X"})
    assert (resp.status, await resp.text()) == (401, "0")
    resp = await client.post(f"{base}.json", data={"api_key": owner["write_key"], "command_string": "X"})
    assert resp.status == 401
    assert (await resp.json())["error"]["error_code"] == "error_auth_required"
    resp = await client.get("/talkbacks/999999/commands.json", params={"api_key": tb["api_key"]})
    assert resp.status == 404

    resp = await client.post(f"{base}.json", data={"api_key": tb["api_key"], "command_string": "x" * 256})
    assert resp.status == 400
    assert "255" in (await resp.json())["error"]["details"]
    resp = await client.post(f"{base}.json", data={"api_key": tb["api_key"]})
    assert resp.status == 400
    resp = await client.post(f"{base}.json", data={"api_key": tb["api_key"], "command_string": "X", "position": "0"})
    assert resp.status == 400
    assert await add(client, tb, "x" * 255)

    # The owner may use the queue too (the web app), signed in or with the user API key.
    resp = await client.get(f"{base}.json", headers=bearer(owner["grant"]))
    assert [len(c["command_string"]) for c in await resp.json()] == [255]


async def test_two_executes_never_take_the_same_command(client: TestClient) -> None:
    owner = await new_channel(client)
    tb = await new_talkback(client, owner)
    sent = [f"CMD{n}" for n in range(15)]
    for command in sent:
        await add(client, tb, command)
    taken = await asyncio.gather(*(execute(client, tb) for _ in range(25)))
    got = [t for t in taken if t]
    assert sorted(got) == sorted(sent)  # each exactly once, and ten executes found the queue empty
    assert taken.count("") == 10


async def test_update_with_talkback_key_writes_and_executes(client: TestClient) -> None:
    owner = await new_channel(client)
    tb = await new_talkback(client, owner)
    await add(client, tb, "TURN_ON")
    await add(client, tb, "TURN_OFF")

    resp = await client.post(
        "/update", data={"api_key": owner["write_key"], "field1": "1", "talkback_key": tb["api_key"]}
    )
    assert (resp.status, await resp.text()) == (200, "TURN_ON")
    resp = await client.post(
        "/update.json", data={"api_key": owner["write_key"], "field1": "2", "talkback_key": tb["api_key"]}
    )
    body = await resp.json()
    assert body["entry_id"] == 2
    assert body["command"]["command_string"] == "TURN_OFF"
    resp = await client.get(
        "/update", params={"api_key": owner["write_key"], "field1": "3", "talkback_key": tb["api_key"]}
    )
    assert (resp.status, await resp.text()) == (200, "")  # the queue is empty now
    # Without talkback_key the reply is the entry id, as before.
    resp = await client.post("/update", data={"api_key": owner["write_key"], "field1": "4"})
    assert await resp.text() == "4"

    rows = await client.app[channels_key].repo.entries_after(owner["id"], 0, 10)
    assert [r["field1"] for r in rows] == ["1", "2", "3", "4"]
    assert await queue(client, tb) == []

    resp = await client.post("/update", data={"api_key": owner["write_key"], "field1": "5", "talkback_key": "WRONG"})
    assert resp.status == 401
    # Refused before the write: the point was not stored either.
    rows = await client.app[channels_key].repo.entries_after(owner["id"], 0, 10)
    assert [r["field1"] for r in rows] == ["1", "2", "3", "4"]


async def test_executed_commands_are_logged_to_the_tied_channel(client: TestClient) -> None:
    owner = await new_channel(client)
    tb = await new_talkback(client, owner, channel_id=str(owner["id"]))
    await add(client, tb, "OPENDOOR")
    assert await execute(client, tb) == "OPENDOOR"
    rows = await client.app[channels_key].repo.entries_after(owner["id"], 0, 10)
    assert [r["status"] for r in rows] == ["OPENDOOR"]


async def test_talkback_keys_are_encrypted_at_rest(client: TestClient) -> None:
    owner = await new_channel(client)
    tb = await new_talkback(client, owner)
    row = await client.app[database_key].fetchrow("SELECT api_key, key_index FROM talkback_keys")
    assert row is not None
    assert tb["api_key"].encode() not in bytes(row["api_key"])
    assert tb["api_key"].encode() not in bytes(row["key_index"])
