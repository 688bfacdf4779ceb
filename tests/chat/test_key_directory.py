"""The end-to-end key directory as clients see it: a device publishes its public keys, others fetch and claim
them, each one-time prekey is handed out once (however many claims race), bad input changes nothing, and the
keys of a signed-out device disappear."""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.keys import database_key
from tests.helpers import bearer, login, new_email, verified_user


def key(size: int = 33) -> str:
    return base64.b64encode(os.urandom(size)).decode()


def bundle(*key_ids: int) -> dict[str, Any]:
    return {
        "identity_key": key(),
        "signed_prekey": {"key_id": 1, "public_key": key(), "signature": key(64)},
        "one_time_prekeys": prekeys(*key_ids),
    }


def prekeys(*key_ids: int) -> list[dict[str, Any]]:
    return [{"key_id": n, "public_key": key()} for n in key_ids]


async def publish(client: TestClient, grant: dict[str, Any], body: dict[str, Any], status: int = 201) -> Any:
    resp = await client.put("/api/keys/device", json=body, headers=bearer(grant))
    assert resp.status == status, await resp.text()
    return await resp.json()


async def my_device(client: TestClient, grant: dict[str, Any]) -> Any:
    resp = await client.get("/api/keys/device", headers=bearer(grant))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def devices_of(client: TestClient, grant: dict[str, Any], user_id: str) -> list[dict[str, Any]]:
    resp = await client.get(f"/api/keys/users/{user_id}", headers=bearer(grant))
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["user_id"] == user_id
    devices: list[dict[str, Any]] = body["devices"]
    return devices


async def claim(client: TestClient, grant: dict[str, Any], user_id: str, **body: Any) -> list[dict[str, Any]]:
    resp = await client.post(f"/api/keys/users/{user_id}/claim", json=body, headers=bearer(grant))
    assert resp.status == 200, await resp.text()
    devices: list[dict[str, Any]] = (await resp.json())["devices"]
    return devices


def public(body: dict[str, Any]) -> dict[str, Any]:
    """The part of a published bundle that anyone may fetch."""
    return {k: body[k] for k in ("identity_key", "signed_prekey")}


async def test_a_device_publishes_tops_up_replaces_and_removes_its_keys(client: TestClient) -> None:
    ada = await verified_user(client)
    resp = await client.get("/api/keys/device", headers=bearer(ada))
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_published"
    resp = await client.post("/api/keys/device/one-time", json={"one_time_prekeys": prekeys(1)}, headers=bearer(ada))
    assert resp.status == 404

    sent = bundle(1, 2, 3)
    raw = os.urandom(40)
    sent["identity_key"] = base64.urlsafe_b64encode(raw).decode().rstrip("=")  # url-safe, unpadded: accepted
    state = await publish(client, ada, sent)
    assert state["identity_key"] == base64.b64encode(raw).decode()  # answered in standard base64
    assert state["signed_prekey"] == sent["signed_prekey"]
    assert (state["one_time_prekey_count"], state["one_time_prekey_limit"]) == (3, 1000)
    assert await my_device(client, ada) == state

    # A new signed prekey under the same identity keeps the one-time prekeys.
    rotated = {**public(state), "signed_prekey": {"key_id": 2, "public_key": key(), "signature": key(64)}}
    again = await publish(client, ada, rotated, status=200)
    assert again["device_id"] == state["device_id"]
    assert (again["signed_prekey"]["key_id"], again["one_time_prekey_count"]) == (2, 3)

    resp = await client.post("/api/keys/device/one-time", json={"one_time_prekeys": prekeys(4, 5)}, headers=bearer(ada))
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["one_time_prekey_count"] == 5

    # A new identity key replaces the key set: the old one-time prekeys go with it.
    renewed = await publish(client, ada, bundle(), status=200)
    assert renewed["identity_key"] != state["identity_key"]
    assert renewed["one_time_prekey_count"] == 0

    resp = await client.delete("/api/keys/device", headers=bearer(ada))
    assert resp.status == 204
    assert (await client.get("/api/keys/device", headers=bearer(ada))).status == 404
    assert await devices_of(client, ada, ada["user"]["id"]) == []
    assert (await client.delete("/api/keys/device", headers=bearer(ada))).status == 204


async def test_others_fetch_bundles_and_claim_each_one_time_prekey_once(client: TestClient) -> None:
    email = new_email()
    ada = await verified_user(client, email)
    ada_phone = await login(client, email)
    bob = await verified_user(client)
    ada_id = ada["user"]["id"]
    laptop = bundle(7, 3)
    phone = bundle()
    laptop_id = (await publish(client, ada, laptop))["device_id"]
    phone_id = (await publish(client, ada_phone, phone))["device_id"]

    listed = await devices_of(client, bob, ada_id)
    assert {d["device_id"]: public(d) for d in listed} == {laptop_id: public(laptop), phone_id: public(phone)}
    assert all("one_time_prekey" not in d and "one_time_prekey_count" not in d for d in listed)

    first = {d["device_id"]: d for d in await claim(client, bob, ada_id)}
    assert public(first[laptop_id]) == public(laptop)
    assert first[laptop_id]["one_time_prekey"] == laptop["one_time_prekeys"][1]  # the lowest key id first
    assert first[phone_id]["one_time_prekey"] is None  # none left: the signed prekey alone
    second = {d["device_id"]: d for d in await claim(client, bob, ada_id, device_ids=[laptop_id])}
    assert list(second) == [laptop_id]
    assert second[laptop_id]["one_time_prekey"] == laptop["one_time_prekeys"][0]
    third = await claim(client, bob, ada_id, device_ids=[laptop_id])
    assert third[0]["one_time_prekey"] is None
    assert public(third[0]) == public(laptop)
    assert (await my_device(client, ada))["one_time_prekey_count"] == 0

    # Claiming one's own keys leaves out the claiming device itself.
    own = await claim(client, ada_phone, ada_id)
    assert [d["device_id"] for d in own] == [laptop_id]

    # An unknown user answers as a user without devices does.
    assert await devices_of(client, bob, "0" * 32) == []
    assert await claim(client, bob, "0" * 32) == []
    assert await devices_of(client, bob, bob["user"]["id"]) == []


async def test_concurrent_claims_never_hand_out_a_prekey_twice(client: TestClient) -> None:
    email = new_email()
    ada = await verified_user(client, email)
    ada_phone = await login(client, email)
    published: dict[str, set[int]] = {}
    for grant, ids in ((ada, range(100, 125)), (ada_phone, range(500, 525))):
        state = await publish(client, grant, bundle(*ids))
        published[state["device_id"]] = set(ids)
    claimers = [await verified_user(client) for _ in range(4)]

    results = await asyncio.gather(
        *(claim(client, claimer, ada["user"]["id"]) for claimer in claimers for _ in range(15))
    )

    handed: dict[str, list[int]] = {device_id: [] for device_id in published}
    for devices in results:
        assert sorted(d["device_id"] for d in devices) == sorted(published)  # every claim gets every bundle
        for d in devices:
            if d["one_time_prekey"] is not None:
                handed[d["device_id"]].append(d["one_time_prekey"]["key_id"])
    for device_id, ids in published.items():
        assert sorted(handed[device_id]) == sorted(ids)  # each exactly once: none twice, none lost
    assert (await my_device(client, ada))["one_time_prekey_count"] == 0
    assert (await my_device(client, ada_phone))["one_time_prekey_count"] == 0


BAD_BUNDLES: list[tuple[str, dict[str, Any], str]] = [
    ("missing identity", {"signed_prekey": bundle()["signed_prekey"]}, "identity_key"),
    ("not base64", {**bundle(), "identity_key": "not base64!"}, "identity_key"),
    ("mixed alphabets", {**bundle(), "identity_key": "ab+_" * 11}, "identity_key"),
    ("bad padding", {**bundle(), "identity_key": key(32) + "="}, "identity_key"),
    ("too short", {**bundle(), "identity_key": key(31)}, "identity_key"),
    ("too long", {**bundle(), "identity_key": key(1025)}, "identity_key"),
    ("key as number", {**bundle(), "identity_key": 5}, "identity_key"),
    ("signed prekey as list", {**bundle(), "signed_prekey": []}, "signed_prekey"),
    (
        "signature missing",
        {**bundle(), "signed_prekey": {"key_id": 1, "public_key": key()}},
        "signed_prekey.signature",
    ),
    (
        "negative key id",
        {**bundle(), "signed_prekey": {"key_id": -1, "public_key": key(), "signature": key(64)}},
        "signed_prekey.key_id",
    ),
    (
        "key id as string",
        {**bundle(), "signed_prekey": {"key_id": "1", "public_key": key(), "signature": key(64)}},
        "signed_prekey.key_id",
    ),
    (
        "key id too large",
        {**bundle(), "signed_prekey": {"key_id": 2**31, "public_key": key(), "signature": key(64)}},
        "signed_prekey.key_id",
    ),
    (
        "unknown member",
        {**bundle(), "signed_prekey": {"key_id": 1, "public_key": key(), "signature": key(), "x": 1}},
        "signed_prekey.x",
    ),
    ("unknown field", {**bundle(), "device_name": "phone"}, "device_name"),
    ("prekeys not a list", {**bundle(), "one_time_prekeys": {}}, "one_time_prekeys"),
    (
        "a bad prekey among good ones",
        {**bundle(), "one_time_prekeys": [*prekeys(1, 2), {"key_id": 3, "public_key": "!"}]},
        "one_time_prekeys[2].public_key",
    ),
    ("duplicate prekey ids", {**bundle(), "one_time_prekeys": prekeys(1, 2, 1)}, "one_time_prekeys[2].key_id"),
    ("more than 200 prekeys", {**bundle(), "one_time_prekeys": prekeys(*range(201))}, "one_time_prekeys"),
]


async def test_bad_input_is_refused_by_field_and_stores_nothing(client: TestClient) -> None:
    ada = await verified_user(client)
    for name, body, field in BAD_BUNDLES:
        resp = await client.put("/api/keys/device", json=body, headers=bearer(ada))
        assert resp.status == 400, name
        assert (await resp.json())["error"]["field"] == field, name
        assert (await client.get("/api/keys/device", headers=bearer(ada))).status == 404, name
    resp = await client.put("/api/keys/device", data=b"{not json", headers=bearer(ada))
    assert resp.status == 400
    resp = await client.put("/api/keys/device", data=b"x" * (600 * 1024), headers=bearer(ada))
    assert resp.status == 413

    state = await publish(client, ada, bundle(1, 2))
    for name, body, _ in BAD_BUNDLES:
        # Nothing of a refused replacement is kept: not its identity key, not its good prekeys.
        resp = await client.put("/api/keys/device", json=body, headers=bearer(ada))
        assert resp.status == 400, name
        resp = await client.post(
            "/api/keys/device/one-time", json={"one_time_prekeys": body.get("one_time_prekeys", 1)}, headers=bearer(ada)
        )
        assert resp.status == 400, name
        assert await my_device(client, ada) == state, name
    resp = await client.post("/api/keys/device/one-time", json={"one_time_prekeys": []}, headers=bearer(ada))
    assert resp.status == 400
    assert (await resp.json())["error"]["field"] == "one_time_prekeys"

    # A key id already stored: the same key again is a retried upload; another key under it is a conflict.
    stored = await client.post("/api/keys/device/one-time", json={"one_time_prekeys": prekeys(3)}, headers=bearer(ada))
    assert (await stored.json())["one_time_prekey_count"] == 3
    conflict = [*prekeys(4), {"key_id": 2, "public_key": key()}]
    resp = await client.post("/api/keys/device/one-time", json={"one_time_prekeys": conflict}, headers=bearer(ada))
    assert resp.status == 409
    error = (await resp.json())["error"]
    assert (error["code"], error["field"]) == ("key_id_taken", "one_time_prekeys[1].key_id")
    assert (await my_device(client, ada))["one_time_prekey_count"] == 3

    # At most 1000 stored per device.
    for start in range(10, 1000, 200):
        ids = range(start, min(start + 200, 1007))
        resp = await client.post(
            "/api/keys/device/one-time", json={"one_time_prekeys": prekeys(*ids)}, headers=bearer(ada)
        )
        assert resp.status == 200, await resp.text()
    assert (await my_device(client, ada))["one_time_prekey_count"] == 1000
    resp = await client.post("/api/keys/device/one-time", json={"one_time_prekeys": prekeys(5000)}, headers=bearer(ada))
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "too_many_prekeys"

    bob = await verified_user(client)
    resp = await client.get("/api/keys/users/" + "x" * 65, headers=bearer(bob))
    assert resp.status == 400
    resp = await client.post(
        f"/api/keys/users/{ada['user']['id']}/claim", json={"device_ids": "all"}, headers=bearer(bob)
    )
    assert resp.status == 400
    assert (await resp.json())["error"]["field"] == "device_ids"
    assert (await my_device(client, ada))["one_time_prekey_count"] == 1000


async def test_keys_of_ended_sessions_are_neither_listed_nor_claimed(client: TestClient) -> None:
    email = new_email()
    grants = [await verified_user(client, email)] + [await login(client, email) for _ in range(2)]
    bob = await verified_user(client)
    ada_id = grants[0]["user"]["id"]
    device_ids = [(await publish(client, grant, bundle(1, 2)))["device_id"] for grant in grants]
    assert sorted(d["device_id"] for d in await devices_of(client, bob, ada_id)) == sorted(device_ids)

    # Signed out.
    resp = await client.post("/api/auth/logout", headers=bearer(grants[0]))
    assert resp.status == 204
    # Ended from another device.
    sessions = (await (await client.get("/api/me/sessions", headers=bearer(grants[1]))).json())["sessions"]
    current = next(s["id"] for s in sessions if s["current"])
    resp = await client.delete(f"/api/me/sessions/{current}", headers=bearer(grants[2]))
    assert resp.status == 204
    left = await devices_of(client, bob, ada_id)
    assert [d["device_id"] for d in left] == [device_ids[2]]
    assert [d["device_id"] for d in await claim(client, bob, ada_id)] == [device_ids[2]]

    # Expired.
    sessions = (await (await client.get("/api/me/sessions", headers=bearer(grants[2]))).json())["sessions"]
    await client.app[database_key].execute("UPDATE sessions SET expires_at = 0 WHERE id = $1", sessions[0]["id"])
    assert await devices_of(client, bob, ada_id) == []
    assert await claim(client, bob, ada_id) == []

    # A new sign-in publishes a new device; the ended ones stay gone.
    fresh = await login(client, email)
    new_id = (await publish(client, fresh, bundle()))["device_id"]
    assert [d["device_id"] for d in await devices_of(client, bob, ada_id)] == [new_id]


async def test_only_the_device_itself_changes_its_keys(client: TestClient) -> None:
    for method, path in (
        ("PUT", "/api/keys/device"),
        ("GET", "/api/keys/device"),
        ("DELETE", "/api/keys/device"),
        ("POST", "/api/keys/device/one-time"),
        ("GET", "/api/keys/users/abc"),
        ("POST", "/api/keys/users/abc/claim"),
    ):
        resp = await client.request(method, path, json={})
        assert resp.status == 401, (method, path)

    ada = await verified_user(client)
    bob = await verified_user(client)
    ada_state = await publish(client, ada, bundle(1, 2, 3))
    bob_state = await publish(client, bob, bundle(9))
    assert bob_state["device_id"] != ada_state["device_id"]
    await publish(client, bob, bundle(), status=200)
    resp = await client.post("/api/keys/device/one-time", json={"one_time_prekeys": prekeys(4)}, headers=bearer(bob))
    assert resp.status == 200
    assert (await client.delete("/api/keys/device", headers=bearer(bob))).status == 204

    assert await my_device(client, ada) == ada_state
    [listed] = await devices_of(client, bob, ada["user"]["id"])
    assert listed == {k: ada_state[k] for k in ("device_id", "identity_key", "signed_prekey")}


async def test_claims_are_rate_limited_per_claimer(client: TestClient) -> None:
    ada = await verified_user(client)
    bob = await verified_user(client)
    carol = await verified_user(client)
    await publish(client, ada, bundle(*range(40)))
    for _ in range(20):
        await claim(client, bob, ada["user"]["id"])
    resp = await client.post(f"/api/keys/users/{ada['user']['id']}/claim", headers=bearer(bob))
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) > 0
    assert (await my_device(client, ada))["one_time_prekey_count"] == 20  # the refused claim took nothing

    # Others still claim; Bob still reads bundles and claims from other users.
    [claimed] = await claim(client, carol, ada["user"]["id"])
    assert claimed["one_time_prekey"] is not None
    assert len(await devices_of(client, bob, ada["user"]["id"])) == 1
    assert await claim(client, bob, carol["user"]["id"]) == []


@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
async def test_both_base64_alphabets_are_accepted(client: TestClient, encode: Any) -> None:
    ada = await verified_user(client)
    raw = bytes(range(256))[-64:]  # encodes with + and / (or - and _)
    body = bundle()
    body["signed_prekey"]["signature"] = encode(raw).decode()
    state = await publish(client, ada, body)
    assert base64.b64decode(state["signed_prekey"]["signature"]) == raw
