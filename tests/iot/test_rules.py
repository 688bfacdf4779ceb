"""Automation rules: the API a channel's owner uses, and rules driven by points written through the real /update
and bulk APIs (thresholds with hysteresis and duration, expressions, loop guards). The helpers here are shared
by the other test_rules_* modules."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from server.iot.appkeys import channels_key, rule_engine_key
from server.keys import database_key
from tests.helpers import bearer, new_channel, verified_user

T0 = 1_700_000_000  # points carry explicit times, so durations and dt do not depend on the wall clock


def at(seconds: float) -> str:
    return str(T0 + seconds)


async def settle(client: TestClient) -> None:
    """Wait until the rule engine has evaluated every write and finished every action."""
    await client.app[rule_engine_key].settle()


async def create_rule(client: TestClient, owner: dict[str, Any], status: int = 201, **body: Any) -> dict[str, Any]:
    body = {"name": "rule", **body}
    resp = await client.post(f"/api/channels/{owner['id']}/rules", json=body, headers=bearer(owner["grant"]))
    assert resp.status == status, await resp.text()
    created: dict[str, Any] = await resp.json()
    return created


async def get_rule(client: TestClient, owner: dict[str, Any], rule: dict[str, Any]) -> dict[str, Any]:
    resp = await client.get(f"/api/channels/{owner['id']}/rules/{rule['id']}", headers=bearer(owner["grant"]))
    assert resp.status == 200, await resp.text()
    found: dict[str, Any] = await resp.json()
    return found


async def events(client: TestClient, owner: dict[str, Any], rule: dict[str, Any]) -> list[dict[str, Any]]:
    """The rule's events, oldest first."""
    resp = await client.get(
        f"/api/channels/{owner['id']}/rules/{rule['id']}/events",
        params={"limit": "200"},
        headers=bearer(owner["grant"]),
    )
    assert resp.status == 200, await resp.text()
    return list(reversed((await resp.json())["events"]))


def kinds_of(found: list[dict[str, Any]]) -> list[str]:
    return [e["kind"] for e in found]


async def bulk(client: TestClient, channel: dict[str, Any], updates: list[dict[str, Any]]) -> None:
    resp = await client.post(
        f"/channels/{channel['id']}/bulk_update.json", json={"write_api_key": channel["write_key"], "updates": updates}
    )
    assert resp.status == 202, await resp.text()
    await settle(client)


async def update(client: TestClient, channel: dict[str, Any], **fields: Any) -> None:
    resp = await client.post("/update", data={"api_key": channel["write_key"], **fields})
    assert resp.status == 200, await resp.text()
    await settle(client)


async def another_channel(client: TestClient, owner: dict[str, Any], name: str = "Other") -> dict[str, Any]:
    """A second channel of the same owner, with its keys, shaped like new_channel's answer."""
    resp = await client.post("/channels.json", json={"api_key": owner["user_key"], "name": name})
    assert resp.status == 200, await resp.text()
    channel: dict[str, Any] = await resp.json()
    channel["write_key"] = next(k["api_key"] for k in channel["api_keys"] if k["write_flag"])
    channel["user_key"], channel["grant"] = owner["user_key"], owner["grant"]
    return channel


async def field_values(client: TestClient, channel_id: int, field: int = 1) -> list[str | None]:
    rows = await client.app[channels_key].repo.entries_after(channel_id, 0, 1000)
    return [r[f"field{field}"] for r in rows]


async def new_talkback(client: TestClient, owner: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post("/talkbacks.json", data={"api_key": owner["user_key"], "name": "Heater"})
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def commands(client: TestClient, talkback: dict[str, Any]) -> list[str]:
    resp = await client.get(f"/talkbacks/{talkback['id']}/commands.json", params={"api_key": talkback["api_key"]})
    assert resp.status == 200, await resp.text()
    return [c["command_string"] for c in await resp.json()]


def threshold(field: int = 1, op: str = "above", value: float = 30, clear: float = 28, for_seconds: float = 0) -> Any:
    return {"field": field, "op": op, "value": value, "clear": clear, "for_seconds": for_seconds}


# -- the API --------------------------------------------------------------------------------------------


async def test_owner_creates_reads_changes_and_deletes_rules(client: TestClient) -> None:
    owner = await new_channel(client)
    tb = await new_talkback(client, owner)
    action = [{"type": "talkback", "talkback_id": tb["id"], "command": "HOT {value}"}]
    rule = await create_rule(client, owner, name="Hot", kind="threshold", config=threshold(), actions=action)
    assert rule["enabled"] is True
    assert rule["config"] == threshold()
    assert rule["state"]["phase"] == "armed"
    second = await create_rule(client, owner, name="Quiet", kind="no_data", config={"seconds": 60}, actions=action)

    base = f"/api/channels/{owner['id']}/rules"
    page = await (await client.get(base, params={"limit": "1"}, headers=bearer(owner["grant"]))).json()
    assert [r["name"] for r in page["rules"]] == ["Hot"]
    page = await (
        await client.get(base, params={"limit": "1", "cursor": page["next"]}, headers=bearer(owner["grant"]))
    ).json()
    assert [r["name"] for r in page["rules"]] == ["Quiet"]
    # The user API key works as well as a session.
    listed = await (await client.get(base, params={"api_key": owner["user_key"]})).json()
    assert len(listed["rules"]) == 2

    await update(client, owner, field1="31")
    assert (await get_rule(client, owner, rule))["state"]["phase"] == "triggered"
    # Renaming keeps the state; changing the config starts afresh.
    resp = await client.patch(f"{base}/{rule['id']}", json={"name": "Very hot"}, headers=bearer(owner["grant"]))
    assert (await resp.json())["state"]["phase"] == "triggered"
    resp = await client.patch(
        f"{base}/{rule['id']}", json={"config": threshold(value=35, clear=33)}, headers=bearer(owner["grant"])
    )
    changed = await resp.json()
    assert (changed["name"], changed["config"]["value"], changed["state"]["phase"]) == ("Very hot", 35, "armed")

    resp = await client.post(f"{base}/{rule['id']}/disable", headers=bearer(owner["grant"]))
    assert (await resp.json())["enabled"] is False
    await update(client, owner, field1="40")
    assert (await get_rule(client, owner, rule))["state"]["phase"] == "armed"  # a disabled rule does nothing
    resp = await client.post(f"{base}/{rule['id']}/enable", headers=bearer(owner["grant"]))
    assert (await resp.json())["enabled"] is True

    resp = await client.delete(f"{base}/{second['id']}", headers=bearer(owner["grant"]))
    assert resp.status == 204
    resp = await client.get(f"{base}/{second['id']}", headers=bearer(owner["grant"]))
    assert resp.status == 404

    # Nobody else can see or touch them.
    stranger = await verified_user(client)
    resp = await client.get(base, headers=bearer(stranger))
    assert resp.status == 404
    resp = await client.get(f"{base}/{rule['id']}", headers=bearer(stranger))
    assert resp.status == 404
    resp = await client.get(base)
    assert resp.status == 401


async def test_bad_rules_get_a_400_that_names_the_problem(client: TestClient) -> None:
    owner = await new_channel(client)
    theirs = await new_channel(client)
    their_talkback = await new_talkback(client, theirs)
    write = [{"type": "write", "channel_id": owner["id"], "field": 2}]
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"kind": "magic", "config": {}, "actions": write}, "kind", "kind must be one of"),
        ({"kind": "threshold", "config": threshold(clear=31), "actions": write}, "config.clear", "at or below"),
        ({"kind": "threshold", "config": {**threshold(), "op": "near"}, "actions": write}, "config.op", "above"),
        ({"kind": "threshold", "config": {**threshold(), "extra": 1}, "actions": write}, "config.extra", "not a"),
        ({"kind": "threshold", "config": threshold(field=9), "actions": write}, "config.field", "1 to 8"),
        ({"kind": "no_data", "config": {"seconds": 0}, "actions": write}, "config.seconds", "between"),
        (
            {"kind": "expression", "config": {"expression": "field1 * (2 +"}, "actions": write},
            "config.expression",
            "position 14",
        ),
        ({"kind": "expression", "config": {"expression": "2 + 2"}, "actions": write}, "config.expression", "no field"),
        (
            {"kind": "expression", "config": {"expression": "system('x')"}, "actions": write},
            "config.expression",
            "unexpected character",
        ),
        (
            {"kind": "pid", "config": {"field": 1, "setpoint": 1, "output_min": 5, "output_max": 5}, "actions": write},
            "config.output_max",
            "above output_min",
        ),
        ({"kind": "threshold", "config": threshold(), "actions": []}, "actions", "1 to 5"),
        ({"kind": "threshold", "config": threshold(), "actions": [{"type": "shell"}]}, "actions[0].type", "one of"),
        (
            {
                "kind": "threshold",
                "config": threshold(),
                "actions": [{"type": "write", "channel_id": theirs["id"], "field": 1}],
            },
            "actions[0].channel_id",
            "not a channel of yours",
        ),
        (
            {
                "kind": "threshold",
                "config": threshold(),
                "actions": [{"type": "talkback", "talkback_id": their_talkback["id"]}],
            },
            "actions[0].talkback_id",
            "not a TalkBack of yours",
        ),
        (
            {"kind": "threshold", "config": threshold(), "actions": [{**write[0], "value": "{value.__class__}"}]},
            "actions[0].value",
            "unknown placeholder",
        ),
        (
            {"kind": "threshold", "config": threshold(), "actions": [{"type": "webhook", "url": "ftp://example.com/"}]},
            "actions[0].url",
            "http:// or https://",
        ),
        (
            {"kind": "threshold", "config": threshold(), "actions": [{"type": "webhook", "url": "http://127.0.0.1/x"}]},
            "actions[0].url",
            "loopback",
        ),
        (
            {"kind": "threshold", "config": threshold(), "actions": [{"type": "webhook", "url": "http://10.1.2.3/"}]},
            "actions[0].url",
            "private",
        ),
        (
            {
                "kind": "threshold",
                "config": threshold(),
                "actions": [{"type": "webhook", "url": "http://169.254.169.254/latest/meta-data"}],
            },
            "actions[0].url",
            "link-local",
        ),
    ]
    for body, field, words in cases:
        resp = await client.post(
            f"/api/channels/{owner['id']}/rules", json={"name": "bad", **body}, headers=bearer(owner["grant"])
        )
        assert resp.status == 400, (body, await resp.text())
        error = (await resp.json())["error"]
        assert error["field"] == field, error
        assert words in error["message"], error


# -- thresholds -----------------------------------------------------------------------------------------


async def test_threshold_with_duration_fires_once_per_crossing_and_clears_below_hysteresis(client: TestClient) -> None:
    owner = await new_channel(client)
    tb = await new_talkback(client, owner)
    rule = await create_rule(
        client,
        owner,
        kind="threshold",
        config=threshold(value=30, clear=28, for_seconds=300),
        actions=[{"type": "talkback", "talkback_id": tb["id"], "command": "HOT {value:.1f}"}],
    )
    readings = [(0, 31), (120, 32), (310, 33), (400, 29), (500, 31), (600, 27.5), (700, 31), (800, 29.5), (900, 31)]
    await bulk(client, owner, [{"created_at": at(t), "field1": str(v)} for t, v in readings])
    # Above 30 from t=0; 300 s later (t=310) it fires; 29 and 31 change nothing (not below 28); 27.5 clears;
    # 31 at t=700 starts a new wait that 29.5 breaks; 31 at t=900 starts another.
    assert await commands(client, tb) == ["HOT 33.0"]
    assert (await get_rule(client, owner, rule))["state"]["phase"] == "pending"

    await bulk(client, owner, [{"created_at": at(1100), "field1": "35"}, {"created_at": at(1250), "field1": "36"}])
    # 35 at t=1100 is only 200 s into the wait that began at t=900; 36 at t=1250 completes it.
    assert await commands(client, tb) == ["HOT 33.0", "HOT 36.0"]
    found = await events(client, owner, rule)
    # Actions run once the evaluation (and its events) committed: the first bulk's action comes after its clear.
    assert kinds_of(found) == ["triggered", "cleared", "action", "triggered", "action"]
    assert found[0]["detail"]["value"] == 33
    assert found[0]["at"] == T0 + 310

    # A point older than what was seen cannot rewrite history.
    await bulk(client, owner, [{"created_at": at(1000), "field1": "10"}])
    assert (await get_rule(client, owner, rule))["state"]["phase"] == "triggered"


async def test_threshold_below_without_duration(client: TestClient) -> None:
    owner = await new_channel(client)
    target = await another_channel(client, owner)
    rule = await create_rule(
        client,
        owner,
        kind="threshold",
        config=threshold(field=2, op="below", value=10, clear=12),
        actions=[{"type": "write", "channel_id": target["id"], "field": 1, "value": "cold: {field2}"}],
    )
    for value in ("11", "9", "8", "11", "13", "9.5"):
        await update(client, owner, field2=value)
    assert await field_values(client, target["id"]) == ["cold: 9", "cold: 9.5"]
    assert kinds_of(await events(client, owner, rule)).count("triggered") == 2


# -- expressions ----------------------------------------------------------------------------------------


async def test_expression_writes_to_another_channel_and_to_its_own(client: TestClient) -> None:
    owner = await new_channel(client)
    target = await another_channel(client, owner)
    fahrenheit = await create_rule(
        client,
        owner,
        kind="expression",
        config={"expression": "field1 * 1.8 + 32"},
        actions=[{"type": "write", "channel_id": target["id"], "field": 3}],
    )
    ratio = await create_rule(
        client,
        owner,
        kind="expression",
        config={"expression": "round(field1 / field2, 2)"},
        actions=[{"type": "write", "channel_id": owner["id"], "field": 4}],
    )
    await bulk(
        client,
        owner,
        [
            {"created_at": at(0), "field1": "100", "field2": "3"},
            {"created_at": at(60), "field1": "-40", "field2": "0"},  # field1 / field2 has no value here
            {"created_at": at(120), "field1": "37", "field2": "oops"},  # not a number: the ratio is skipped
        ],
    )
    assert await field_values(client, target["id"], 3) == ["212", "-40", "98.6"]
    rows = await client.app[channels_key].repo.entries_after(target["id"], 0, 10)
    assert [float(r["created_at"]) for r in rows] == [T0, T0 + 60, T0 + 120]  # the source points' times
    # Its own channel got one derived point, which did not set the rule off again.
    assert await field_values(client, owner["id"], 4) == [None, None, None, "33.33"]
    found = await events(client, owner, fahrenheit)
    assert kinds_of(found) == ["action"]  # one write of three points; the derived point has no field1
    assert found[0]["detail"]["count"] == 3
    found = await events(client, owner, ratio)
    assert kinds_of(found) == ["error", "action"]
    assert found[0]["detail"] == {"message": "division by zero", "count": 1}


async def test_rules_writing_to_each_other_stop(client: TestClient) -> None:
    owner = await new_channel(client)
    other = await another_channel(client, owner)
    plus_one = {"kind": "expression", "config": {"expression": "field1 + 1"}}
    await create_rule(client, owner, **plus_one, actions=[{"type": "write", "channel_id": other["id"], "field": 1}])
    await create_rule(client, other, **plus_one, actions=[{"type": "write", "channel_id": owner["id"], "field": 1}])
    await update(client, owner, field1="1")
    # 1 -> other gets 2 -> back to owner as 3, which the first rule (already in the chain) leaves alone.
    assert await field_values(client, owner["id"]) == ["1", "3"]
    assert await field_values(client, other["id"]) == ["2"]


async def test_a_chain_of_rules_is_capped(client: TestClient) -> None:
    owner = await new_channel(client)
    chain = [owner] + [await another_channel(client, owner, f"C{n}") for n in range(2, 7)]
    rules = []
    for source, target in itertools.pairwise(chain):
        rules.append(
            await create_rule(
                client,
                source,
                kind="expression",
                config={"expression": "field1 * 2"},
                actions=[{"type": "write", "channel_id": target["id"], "field": 1}],
            )
        )
    await update(client, owner, field1="1")
    values = [await field_values(client, c["id"]) for c in chain]
    assert values == [["1"], ["2"], ["4"], ["8"], ["16"], []]  # the fifth rule would be the chain's fifth: stopped
    assert kinds_of(await events(client, chain[4], rules[4])) == ["loop_guard"]


async def test_events_page_newest_first(client: TestClient) -> None:
    owner = await new_channel(client)
    target = await another_channel(client, owner)
    rule = await create_rule(
        client,
        owner,
        kind="threshold",
        config=threshold(clear=30),
        actions=[{"type": "write", "channel_id": target["id"], "field": 1}],
    )
    await bulk(client, owner, [{"created_at": at(t), "field1": str(31 if t % 2 == 0 else 29)} for t in range(6)])
    url = f"/api/channels/{owner['id']}/rules/{rule['id']}/events"
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": "4", **({"cursor": cursor} if cursor else {})}
        page = await (await client.get(url, params=params, headers=bearer(owner["grant"]))).json()
        seen += [e["seq"] for e in page["events"]]
        cursor = page["next"]
        if cursor is None:
            break
    # Three triggers, three clears and one write (of three points), newest first, no gaps or repeats.
    assert seen == list(range(7, 0, -1))
    resp = await client.get(url, params={"cursor": "garbage"}, headers=bearer(owner["grant"]))
    assert resp.status == 400


async def test_webhook_urls_are_encrypted_at_rest(client: TestClient) -> None:
    owner = await new_channel(client)
    secret = "tok-" + uuid.uuid4().hex
    rule = await create_rule(
        client,
        owner,
        name="hook",
        kind="threshold",
        config=threshold(),
        actions=[{"type": "webhook", "url": f"https://hooks.example.org/in?token={secret}"}],
    )
    row = await client.app[database_key].fetchrow("SELECT actions FROM rules WHERE id = $1", rule["id"])
    assert secret.encode() not in bytes(row["actions"])
    # The owner still reads it back.
    assert secret in (await get_rule(client, owner, rule))["actions"][0]["url"]
