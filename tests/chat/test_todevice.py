"""To-device messages as devices see them: a payload for each of some devices reaches each one once (live on its
sockets, and waiting in its inbox until acknowledged, across being offline), bad input changes nothing, the server
stores no plaintext of it; and the people sharing an end-to-end chat with a user hear when that user's devices
change."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.chat.appkeys import inbox_key
from server.keys import database_key
from tests.chat.chatkit import connect, direct, group, uid, users
from tests.chat.test_key_directory import bundle, publish
from tests.helpers import bearer, login, new_email, verified_user


async def device(client: TestClient, grant: dict[str, Any]) -> str:
    """Publish keys for this session; returns its device id."""
    state = await publish(client, grant, bundle(1, 2))
    device_id: str = state["device_id"]
    return device_id


async def send(client: TestClient, grant: dict[str, Any], messages: Any, kind: Any = "m.room.encrypted") -> Any:
    resp = await client.post("/api/todevice", json={"type": kind, "messages": messages}, headers=bearer(grant))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def inbox(client: TestClient, grant: dict[str, Any], **query: Any) -> dict[str, Any]:
    resp = await client.get("/api/todevice", params=query, headers=bearer(grant))
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def ack(client: TestClient, grant: dict[str, Any], up_to: int) -> dict[str, Any]:
    resp = await client.post("/api/todevice/ack", json={"up_to": up_to}, headers=bearer(grant))
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


def olm(text: str) -> dict[str, Any]:
    """Something shaped like the library's Olm content (the server never looks inside)."""
    return {"algorithm": "m.olm.v1.curve25519-aes-sha2", "sender_key": "k", "ciphertext": {"x": {"body": text}}}


async def test_each_target_device_gets_its_own_payload_once(client: TestClient) -> None:
    ada = await verified_user(client)
    email = new_email()
    bob_phone = await verified_user(client, email, name="Bob")
    bob_laptop = await login(client, email)
    ada_device = await device(client, ada)
    phone, laptop = await device(client, bob_phone), await device(client, bob_laptop)
    phone_ws = await connect(client, bob_phone)  # online; the laptop is not

    result = await send(client, ada, {uid(bob_phone): {phone: olm("for the phone"), laptop: olm("for the laptop")}})
    assert result == {"sent": 2, "undelivered": []}

    [pushed] = await phone_ws.wait_for("todevice")
    assert pushed["device_id"] == phone
    [live] = pushed["messages"]
    assert live["content"] == olm("for the phone")
    assert (live["sender_id"], live["sender_device_id"], live["type"]) == (uid(ada), ada_device, "m.room.encrypted")
    # The laptop's socket-less payload waits for it, and only it; the phone's inbox holds the phone's.
    waiting = await inbox(client, bob_laptop)
    assert waiting["device_id"] == laptop
    assert [m["content"] for m in waiting["messages"]] == [olm("for the laptop")]
    assert [m["id"] for m in (await inbox(client, bob_phone))["messages"]] == [live["id"]]

    # The laptop comes online later: its socket gets what is sent from then on, live.
    laptop_ws = await connect(client, bob_laptop)
    await send(client, ada, {uid(bob_phone): {"*": olm("to all of Bob")}})
    [later] = await laptop_ws.wait_for("todevice")
    assert later["messages"][0]["content"] == olm("to all of Bob")
    await phone_ws.wait_for("todevice", count=2)
    assert [m["content"] for m in (await inbox(client, bob_laptop))["messages"]] == [
        olm("for the laptop"),
        olm("to all of Bob"),
    ]
    assert all(p["device_id"] == laptop for p in laptop_ws.pushes if p["type"] == "todevice")

    # Acknowledged: gone for good, and ids go on counting up (never reused), so "up to N" stays well defined.
    last = (await inbox(client, bob_laptop))["messages"][-1]["id"]
    assert await ack(client, bob_laptop, last) == {"removed": 2, "pending": 0}
    assert (await inbox(client, bob_laptop))["messages"] == []
    await send(client, ada, {uid(bob_phone): {laptop: olm("after the ack")}})
    [after] = (await inbox(client, bob_laptop))["messages"]
    assert after["id"] > last
    assert (await inbox(client, bob_phone))["messages"][0]["content"] == olm("for the phone")  # the phone's own stay
    await phone_ws.close()
    await laptop_ws.close()


async def test_unknown_devices_and_full_inboxes_are_reported_and_the_rest_delivered(client: TestClient) -> None:
    ada, bob, carol = await users(client, 3)
    bob_device = await device(client, bob)
    await device(client, carol)
    result = await send(
        client,
        ada,
        {uid(bob): {bob_device: olm("1"), "NOSUCHDEVICE": olm("2")}, uid(carol): {"0123456789abcdef": olm("3")}},
    )
    assert result["sent"] == 1
    assert sorted((u["user_id"], u["device_id"], u["reason"]) for u in result["undelivered"]) == sorted(
        [(uid(bob), "NOSUCHDEVICE", "unknown_device"), (uid(carol), "0123456789abcdef", "unknown_device")]
    )
    client.app[inbox_key]._max_pending = 2  # a small inbox instead of thousands of sends
    await send(client, ada, {uid(bob): {bob_device: olm("2")}})
    full = await send(client, ada, {uid(bob): {bob_device: olm("3")}})
    assert full == {"sent": 0, "undelivered": [{"user_id": uid(bob), "device_id": bob_device, "reason": "inbox_full"}]}
    assert len((await inbox(client, bob))["messages"]) == 2

    # A device whose keys are removed loses its inbox with them.
    resp = await client.delete("/api/keys/device", headers=bearer(bob))
    assert resp.status == 204
    resp = await client.get("/api/todevice", headers=bearer(bob))
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_published"
    assert await client.app[database_key].fetchval("SELECT count(*) FROM e2e_inbox") == 0


Body = Callable[[str, str], dict[str, Any]]
BAD: list[tuple[Body, str]] = [  # (body for Bob's user id and device id, the field named)
    (lambda u, d: {"type": "m.room.encrypted"}, "messages"),
    (lambda u, d: {"type": "bad type!", "messages": {u: {d: {}}}}, "type"),
    (lambda u, d: {"type": "x" * 65, "messages": {u: {d: {}}}}, "type"),
    (lambda u, d: {"type": "m.x", "messages": {}}, "messages"),
    (lambda u, d: {"type": "m.x", "messages": []}, "messages"),
    (lambda u, d: {"type": "m.x", "messages": {u: {d: {}}, "not a user": {}}}, "messages"),
    (lambda u, d: {"type": "m.x", "messages": {u: []}}, "messages.{u}"),
    (lambda u, d: {"type": "m.x", "messages": {u: {d: {}, "bad/device": {}}}}, "messages.{u}"),
    (lambda u, d: {"type": "m.x", "messages": {u: {d: "a string"}}}, "messages.{u}.{d}"),
    (lambda u, d: {"type": "m.x", "messages": {u: {d: {"c": "x" * 17000}}}}, "messages.{u}.{d}"),
    (lambda u, d: {"type": "m.x", "messages": {u: {d: {}, **{f"D{n}": {} for n in range(250)}}}}, "messages"),
    (lambda u, d: {"type": "m.x", "messages": {u: {d: {}}}, "extra": 1}, "extra"),
]


@pytest.mark.parametrize(("body", "field"), BAD)
async def test_bad_input_gets_a_clear_400_and_stores_nothing(client: TestClient, body: Body, field: str) -> None:
    ada, bob = await verified_user(client), await verified_user(client)
    bob_device = await device(client, bob)
    # Any bad part refuses the whole send: Bob's device, named in a valid part, gets nothing either.
    resp = await client.post("/api/todevice", json=body(uid(bob), bob_device), headers=bearer(ada))
    assert resp.status == 400, await resp.text()
    error = (await resp.json())["error"]
    assert error["field"] == field.format(u=uid(bob), d=bob_device), error
    assert (await inbox(client, bob))["messages"] == []


async def test_bad_reads_and_acks_are_refused(client: TestClient) -> None:
    ada = await verified_user(client)
    resp = await client.post("/api/todevice/ack", json={"up_to": 1}, headers=bearer(ada))
    assert resp.status == 404  # no device yet
    await device(client, ada)
    for query in ({"after": "-1"}, {"after": "x"}, {"limit": "0"}, {"limit": "501"}):
        resp = await client.get("/api/todevice", params=query, headers=bearer(ada))
        assert resp.status == 400, query
    for body in ({"up_to": -1}, {"up_to": "1"}, {}, {"up_to": 1, "more": 2}):
        resp = await client.post("/api/todevice/ack", json=body, headers=bearer(ada))
        assert resp.status == 400, body
    resp = await client.post("/api/todevice", json={"type": "m.x", "messages": {"a": {"*": {}}}})
    assert resp.status == 401


async def test_the_inbox_pages_and_holds_no_plaintext(client: TestClient) -> None:
    ada, bob = await verified_user(client), await verified_user(client)
    bob_device = await device(client, bob)
    secret = "the plaintext nobody may store"
    for n in range(5):
        await send(client, ada, {uid(bob): {bob_device: olm(f"{secret} {n}")}})
    first = await inbox(client, bob, limit=2)
    assert (len(first["messages"]), first["more"]) == (2, True)
    rest = await inbox(client, bob, after=first["messages"][-1]["id"], limit=10)
    assert (len(rest["messages"]), rest["more"]) == (3, False)
    rows = await client.app[database_key].fetch("SELECT * FROM e2e_inbox")
    assert len(rows) == 5
    for row in rows:
        stored = b"".join(bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode() for v in tuple(row))
        assert secret.encode() not in stored
        assert uid(ada).encode() not in stored  # who wrote to whom is sealed too
        assert b"m.room.encrypted" not in stored


async def test_people_sharing_an_end_to_end_chat_hear_when_a_users_devices_change(client: TestClient) -> None:
    ada, bob, carol, dan = await users(client, 4)
    await direct(client, ada, bob, e2e=True)
    await group(client, carol, [ada], e2e=True)
    await direct(client, ada, dan)  # a plain chat: Dan has no use for Ada's keys
    email = new_email()
    eve = await verified_user(client, email)
    sockets = {name: await connect(client, grant) for name, grant in (("bob", bob), ("carol", carol), ("dan", dan))}
    ada_ws = await connect(client, ada)

    await device(client, ada)  # a new device
    for name in ("bob", "carol"):
        [event] = await sockets[name].wait_for("keys.changed")
        assert event["user_id"] == uid(ada)
        assert isinstance(event["seq"], int)
    await ada_ws.wait_for("keys.changed", user_id=uid(ada))  # her own other devices re-query too

    await publish(client, ada, {**bundle(), "one_time_prekeys": []}, status=200)  # a new identity key: changed
    await sockets["bob"].wait_for("keys.changed", count=2)
    state = await publish(client, ada, bundle(), status=200)
    same_identity = {"identity_key": state["identity_key"], "signed_prekey": bundle()["signed_prekey"]}
    await publish(client, ada, same_identity, status=200)  # only a new signed prekey: nothing to re-query
    resp = await client.delete("/api/keys/device", headers=bearer(ada))  # removed
    assert resp.status == 204
    await sockets["carol"].wait_for("keys.changed", count=4)
    await asyncio.sleep(0.2)
    assert len([p for p in sockets["bob"].pushes if p["type"] == "keys.changed"]) == 4
    assert not [p for p in sockets["dan"].pushes if p["type"] == "keys.changed"]
    await device(client, eve)  # shares no end-to-end chat with anyone
    await asyncio.sleep(0.2)
    assert all(p.get("user_id") != uid(eve) for s in sockets.values() for p in s.pushes)

    # Numbered events: a device that was offline reads them back with sync.
    replay = await connect(client, await login_again(client, bob))
    await replay.ok("sync", after_seq=0)
    replayed = [p for p in replay.pushes if p["type"] == "keys.changed"]
    assert [p["user_id"] for p in replayed] == [uid(ada)] * 4
    for peer in (*sockets.values(), ada_ws, replay):
        await peer.close()


async def login_again(client: TestClient, grant: dict[str, Any]) -> dict[str, Any]:
    """Another session of the same user."""
    email = grant["user"]["email"]
    return await login(client, email)


async def test_concurrent_sends_to_the_same_devices_all_arrive_with_distinct_ids(client: TestClient) -> None:
    senders = await users(client, 4)
    email = new_email()
    bob_phone = await verified_user(client, email, name="Bob")
    bob_laptop = await login(client, email)
    phone, laptop = await device(client, bob_phone), await device(client, bob_laptop)

    async def burst(grant: dict[str, Any], n: int) -> None:
        for k in range(5):  # each send locks both devices, in the same order: no deadlock on PostgreSQL
            await send(client, grant, {uid(bob_phone): {laptop: olm(f"{n}.{k}"), phone: olm(f"{n}.{k}")}})

    await asyncio.gather(*(burst(grant, n) for n, grant in enumerate(senders)))
    for grant in (bob_phone, bob_laptop):
        got = (await inbox(client, grant))["messages"]
        assert len(got) == 20
        assert len({m["id"] for m in got}) == 20
        assert sorted(m["content"]["ciphertext"]["x"]["body"] for m in got) == sorted(
            f"{n}.{k}" for n in range(4) for k in range(5)
        )
