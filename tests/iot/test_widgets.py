"""Dashboard widgets: the owner saves and rearranges a channel's widgets; specs are checked member by member; no one
else may change them; a public channel shows its display widgets (never its controls) to anyone."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers import bearer, new_channel, verified_user

GAUGE = {"type": "gauge", "title": "Temperature", "field": 1, "min": -20, "max": 50, "unit": "°C"}
LAMP = {"type": "lamp", "field": 2, "thresholds": [{"at": 60, "level": "warning"}, {"at": 80, "level": "alert"}]}


def url(channel: dict[str, Any]) -> str:
    return f"/api/channels/{channel['id']}/widgets"


async def save(client: TestClient, channel: dict[str, Any], widgets: Any, status: int = 200, **headers: str) -> Any:
    resp = await client.put(url(channel), json={"widgets": widgets}, headers=headers or bearer(channel["grant"]))
    assert resp.status == status, await resp.text()
    return await resp.json()


async def talkback(client: TestClient, owner: dict[str, Any]) -> int:
    resp = await client.post("/talkbacks.json", json={"api_key": owner["user_key"], "name": "Heater"})
    assert resp.status == 201, await resp.text()
    number: int = (await resp.json())["id"]
    return number


async def test_the_owner_saves_rearranges_and_reads_widgets_with_defaults(client: TestClient) -> None:
    owner = await new_channel(client)
    resp = await client.get(url(owner), headers=bearer(owner["grant"]))
    assert resp.status == 200
    assert await resp.json() == {"channel_id": owner["id"], "widgets": [], "updated_at": None}

    queue = await talkback(client, owner)
    widgets = [
        GAUGE,
        LAMP,
        {"type": "number", "field": 2},
        {"type": "status"},
        {"type": "location"},
        {"type": "switch", "target": {"field": 3}},
        {"type": "button", "target": {"talkback_id": queue}, "send": "OPEN"},
        {"type": "slider", "target": {"talkback_id": queue}, "min": 0, "max": 100, "step": 5, "command": "SET {value}"},
    ]
    saved = await save(client, owner, widgets)
    assert [w["type"] for w in saved["widgets"]] == [w["type"] for w in widgets]
    assert saved["widgets"][2] == {"type": "number", "title": "", "field": 2, "unit": ""}
    assert saved["widgets"][4] == {"type": "location", "title": "", "points": 100}
    assert saved["widgets"][5] == {"type": "switch", "title": "", "target": {"field": 3}, "on": "1", "off": "0"}
    assert isinstance(saved["updated_at"], float)

    # Rearranging is saving the list in its new order (with the user API key this time).
    await save(client, owner, [LAMP, GAUGE], THINGSPEAKAPIKEY=owner["user_key"])
    resp = await client.get(url(owner), headers=bearer(owner["grant"]))
    assert [w["type"] for w in (await resp.json())["widgets"]] == ["lamp", "gauge"]


async def test_bad_specs_are_refused_naming_the_member(client: TestClient) -> None:
    owner = await new_channel(client)
    cases: list[tuple[Any, str]] = [
        ([{"type": "clock"}], "widgets[0].type"),
        ([{"type": "number"}], "widgets[0].field"),
        ([{"type": "number", "field": 9}], "widgets[0].field"),
        ([{"type": "number", "field": True}], "widgets[0].field"),
        ([GAUGE, {**GAUGE, "min": 10, "max": 10}], "widgets[1].max"),
        ([{**LAMP, "thresholds": [{"at": 5, "level": "ok"}, {"at": 5, "level": "ok"}]}], "widgets[0].thresholds[1].at"),
        ([{**LAMP, "thresholds": [{"at": 5, "level": "red"}]}], "widgets[0].thresholds[0].level"),
        ([{**LAMP, "thresholds": []}], "widgets[0].thresholds"),
        ([{"type": "status", "colour": "red"}], "widgets[0].colour"),
        ([{"type": "switch", "target": {"field": 1, "talkback_id": 2}}], "widgets[0].target"),
        ([{"type": "button", "target": {"field": 1}, "send": ""}], "widgets[0].send"),
        ([{"type": "slider", "target": {"field": 1}, "min": 0, "max": 10, "step": 20}], "widgets[0].step"),
        ([{"type": "slider", "target": {"field": 1}, "min": 0, "max": 10, "command": "SET"}], "widgets[0].command"),
        ([{"type": "number", "field": 1, "title": "a\x07b"}], "widgets[0].title"),
        ([{"type": "gauge", "field": 1, "min": 0, "max": 1e16}], "widgets[0].max"),
        ([{"type": "status"}] * 25, "widgets"),
        ("status", "widgets"),
    ]
    for widgets, field in cases:
        answer = await save(client, owner, widgets, status=400)
        assert answer["error"]["field"] == field, (widgets, answer)
    resp = await client.get(url(owner), headers=bearer(owner["grant"]))
    assert (await resp.json())["widgets"] == []  # nothing was saved


async def test_a_control_may_only_name_the_owners_talkback(client: TestClient) -> None:
    owner = await new_channel(client)
    other = await new_channel(client)
    theirs = await talkback(client, other)
    answer = await save(client, owner, [{"type": "button", "target": {"talkback_id": theirs}, "send": "GO"}], 400)
    assert answer["error"]["field"] == "widgets[0].target.talkback_id"
    answer = await save(client, owner, [{"type": "button", "target": {"talkback_id": 999_999}, "send": "GO"}], 400)
    assert answer["error"]["field"] == "widgets[0].target.talkback_id"


async def test_only_the_owner_writes_and_a_private_channels_widgets_stay_private(client: TestClient) -> None:
    owner = await new_channel(client)
    await save(client, owner, [GAUGE])
    stranger = await verified_user(client)

    resp = await client.put(url(owner), json={"widgets": []}, headers=bearer(stranger))
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "channel_not_found"
    resp = await client.put(url(owner), json={"widgets": []})
    assert resp.status == 401
    resp = await client.put(url(owner), json={"widgets": []}, headers={"THINGSPEAKAPIKEY": owner["write_key"]})
    assert resp.status == 401  # a channel key is no user API key
    for headers in ({}, bearer(stranger), {"THINGSPEAKAPIKEY": owner["read_key"]}):
        resp = await client.get(url(owner), headers=headers)
        assert resp.status == 404
    resp = await client.get("/api/channels/999999999/widgets", headers=bearer(owner["grant"]))
    assert resp.status == 404
    resp = await client.get(url(owner), headers=bearer(owner["grant"]))
    assert [w["type"] for w in (await resp.json())["widgets"]] == ["gauge"]  # unchanged


async def test_a_public_channel_shows_its_display_widgets_to_anyone_but_not_its_controls(client: TestClient) -> None:
    owner = await new_channel(client, public_flag="true")
    queue = await talkback(client, owner)
    await save(client, owner, [GAUGE, {"type": "button", "target": {"talkback_id": queue}, "send": "GO"}, LAMP])
    resp = await client.get(url(owner))
    assert resp.status == 200
    assert [w["type"] for w in (await resp.json())["widgets"]] == ["gauge", "lamp"]
    resp = await client.get(url(owner), headers=bearer(owner["grant"]))
    assert [w["type"] for w in (await resp.json())["widgets"]] == ["gauge", "button", "lamp"]


async def test_deleting_the_channel_deletes_its_widgets(client: TestClient) -> None:
    owner = await new_channel(client)
    await save(client, owner, [GAUGE])
    resp = await client.delete(f"/channels/{owner['id']}.json", params={"api_key": owner["user_key"]})
    assert resp.status == 200, await resp.text()
    resp = await client.get(url(owner), headers=bearer(owner["grant"]))
    assert resp.status == 404
