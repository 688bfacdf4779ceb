"""What the web app's TalkBack screen relies on: the owner reads the executed commands with their times, newest first,
a page at a time (GET /api/talkbacks/{id}/executed), and reorders the queue by moving a command to the place of its
neighbour (PUT .../commands/{cid} with `position`), signed in. No one else sees or changes anything."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers import bearer, new_channel, verified_user


async def talkback(client: TestClient, owner: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post("/talkbacks.json", json={"name": "Door"}, headers=bearer(owner["grant"]))
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def add(client: TestClient, owner: dict[str, Any], tb: dict[str, Any], command: str) -> dict[str, Any]:
    resp = await client.post(
        f"/talkbacks/{tb['id']}/commands.json", json={"command_string": command}, headers=bearer(owner["grant"])
    )
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def queue(client: TestClient, owner: dict[str, Any], tb: dict[str, Any]) -> list[dict[str, Any]]:
    resp = await client.get(f"/talkbacks/{tb['id']}/commands.json", headers=bearer(owner["grant"]))
    assert resp.status == 200, await resp.text()
    body: list[dict[str, Any]] = await resp.json()
    return body


async def execute(client: TestClient, tb: dict[str, Any]) -> None:
    resp = await client.post(f"/talkbacks/{tb['id']}/commands/execute.json", data={"api_key": tb["api_key"]})
    assert resp.status == 200, await resp.text()


def executed_url(tb: dict[str, Any]) -> str:
    return f"/api/talkbacks/{tb['id']}/executed"


async def test_the_owner_pages_through_the_executed_commands_newest_first(client: TestClient) -> None:
    owner = await new_channel(client)
    tb = await talkback(client, owner)
    resp = await client.get(executed_url(tb), headers=bearer(owner["grant"]))
    assert resp.status == 200
    assert await resp.json() == {"commands": [], "next": None}

    for command in ("OPEN", "CLOSE", "LOCK"):
        await add(client, owner, tb, command)
    for _ in range(3):
        await execute(client, tb)
    await add(client, owner, tb, "WAIT")  # still queued: not in the list

    resp = await client.get(executed_url(tb), params={"limit": "2"}, headers=bearer(owner["grant"]))
    first = await resp.json()
    assert [c["command_string"] for c in first["commands"]] == ["LOCK", "CLOSE"]
    assert all(isinstance(c["executed_at"], float) for c in first["commands"])
    assert first["commands"][0]["executed_at"] >= first["commands"][1]["executed_at"]
    resp = await client.get(
        executed_url(tb),
        params={"limit": "2", "cursor": first["next"]},
        headers={"THINGSPEAKAPIKEY": owner["user_key"]},  # the user API key works too
    )
    second = await resp.json()
    assert [c["command_string"] for c in second["commands"]] == ["OPEN"]
    assert second["next"] is None


async def test_no_one_else_reads_them_and_bad_paging_is_a_400(client: TestClient) -> None:
    owner = await new_channel(client)
    tb = await talkback(client, owner)
    stranger = await verified_user(client)
    resp = await client.get(executed_url(tb), headers=bearer(stranger))
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "talkback_not_found"
    resp = await client.get("/api/talkbacks/99999999999/executed", headers=bearer(owner["grant"]))
    assert resp.status == 404
    resp = await client.get(executed_url(tb))
    assert resp.status == 401
    resp = await client.get(executed_url(tb), params={"api_key": tb["api_key"]})
    assert resp.status == 401  # the TalkBack's own key is for its device, not for its owner's screens
    for params in (
        {"limit": "0"},
        {"cursor": "nonsense"},
        {"cursor": "WzFd"},
        {"cursor": "WzEsOTk5OTk5OTk5OTk5OTk5OTk5OTld"},
        {"cursor": "WyJhIiwxXQ"},
    ):
        resp = await client.get(executed_url(tb), params=params, headers=bearer(owner["grant"]))
        assert resp.status == 400, params


async def test_moving_a_command_to_its_neighbours_place_reorders_the_queue(client: TestClient) -> None:
    owner = await new_channel(client)
    tb = await talkback(client, owner)
    for command in ("A", "B", "C", "D"):
        await add(client, owner, tb, command)
    await execute(client, tb)  # A is gone: positions no longer start at 1

    async def move(command: dict[str, Any], position: int, status: int = 200) -> None:
        resp = await client.put(
            f"/talkbacks/{tb['id']}/commands/{command['id']}.json",
            json={"position": position},
            headers=bearer(owner["grant"]),
        )
        assert resp.status == status, await resp.text()

    b, c, d = await queue(client, owner, tb)
    await move(d, c["position"])  # D up one: to C's place
    assert [x["command_string"] for x in await queue(client, owner, tb)] == ["B", "D", "C"]
    b, d, c = await queue(client, owner, tb)
    await move(b, d["position"] + 1)  # B down one: just after D
    assert [x["command_string"] for x in await queue(client, owner, tb)] == ["D", "B", "C"]

    stranger = await verified_user(client)
    resp = await client.put(
        f"/talkbacks/{tb['id']}/commands/{b['id']}.json", json={"position": 1}, headers=bearer(stranger)
    )
    assert resp.status == 401
    await move(b, 0, status=400)
    assert [x["command_string"] for x in await queue(client, owner, tb)] == ["D", "B", "C"]  # unchanged
