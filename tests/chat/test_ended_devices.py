"""A device whose session ends leaves the end-to-end key directory: signed out, revoked by its user or an admin,
ended with all of the account's by a password reset, a suspension or a copied refresh token, its keys, prekeys and
to-device inbox are gone at once and the people sharing an end-to-end chat with its user hear `keys.changed`; the
sweep removes the devices of sessions that expired. A user of plain chats only signs out without a sound."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.auth.appkeys import accounts_key
from server.chat.appkeys import key_directory_key
from server.events.appkeys import event_log_key
from server.keys import database_key
from tests.chat.chatkit import Peer, connect, direct, uid, users
from tests.chat.test_key_directory import devices_of
from tests.chat.test_todevice import device, inbox, olm, send
from tests.conftest import Mailbox, link_in
from tests.helpers import PASSWORD, bearer, login, new_email, verified_user


@dataclass
class Pair:
    """Ada on a laptop and a phone, and Bob, sharing an end-to-end chat: every session has a device, and Ada's two
    devices each have a to-device message from Bob's waiting in their inboxes."""

    email: str
    laptop: dict[str, Any]
    phone: dict[str, Any]
    bob: dict[str, Any]
    laptop_device: str
    phone_device: str


async def pair(client: TestClient) -> Pair:
    email = new_email()
    laptop = await verified_user(client, email)
    phone = await login(client, email)
    [bob] = await users(client, 1)
    await direct(client, laptop, bob, e2e=True)
    laptop_device, phone_device = await device(client, laptop), await device(client, phone)
    await device(client, bob)
    sent = await send(client, bob, {uid(laptop): {"*": olm("a room key")}})
    assert sent == {"sent": 2, "undelivered": []}
    return Pair(email, laptop, phone, bob, laptop_device, phone_device)


async def stored(client: TestClient, device_id: str) -> tuple[int, int, int]:
    """How many rows the device has: itself, its one-time prekeys, its inbox."""
    db = client.app[database_key]
    return (
        int(await db.fetchval("SELECT count(*) FROM e2e_devices WHERE id = $1", device_id)),
        int(await db.fetchval("SELECT count(*) FROM e2e_one_time_prekeys WHERE device_id = $1", device_id)),
        int(await db.fetchval("SELECT count(*) FROM e2e_inbox WHERE device_id = $1", device_id)),
    )


def heard(peer: Peer, user_id: str) -> int:
    return len([p for p in peer.pushes if p["type"] == "keys.changed" and p["user_id"] == user_id])


async def test_signing_out_removes_the_devices_keys_and_inbox_and_tells_its_chat_partners(client: TestClient) -> None:
    ada = await pair(client)
    assert await stored(client, ada.laptop_device) == (1, 2, 1)
    bob_ws, phone_ws = await connect(client, ada.bob), await connect(client, ada.phone)

    resp = await client.post("/api/auth/logout", headers=bearer(ada.laptop))
    assert resp.status == 204
    [event] = await bob_ws.wait_for("keys.changed", user_id=uid(ada.laptop))
    assert isinstance(event["seq"], int)
    await phone_ws.wait_for("keys.changed", user_id=uid(ada.laptop))  # her own other device drops it too

    assert await stored(client, ada.laptop_device) == (0, 0, 0)
    assert await stored(client, ada.phone_device) == (1, 2, 1)  # the other device keeps everything
    assert [d["device_id"] for d in await devices_of(client, ada.bob, uid(ada.laptop))] == [ada.phone_device]
    later = await send(client, ada.bob, {uid(ada.laptop): {ada.laptop_device: olm("too late")}})
    assert later["undelivered"] == [
        {"user_id": uid(ada.laptop), "device_id": ada.laptop_device, "reason": "unknown_device"}
    ]
    # Bob's app, offline meanwhile, reads the change back with sync.
    replay = await connect(client, await login(client, ada.bob["user"]["email"]))
    await replay.ok("sync", after_seq=0)
    assert heard(replay, uid(ada.laptop)) >= 1
    for peer in (bob_ws, phone_ws, replay):
        await peer.close()


async def _user_revokes(client: TestClient, ada: Pair, mail: Mailbox) -> None:
    sessions = (await (await client.get("/api/me/sessions", headers=bearer(ada.laptop))).json())["sessions"]
    laptop = next(s["id"] for s in sessions if s["current"])
    resp = await client.delete(f"/api/me/sessions/{laptop}", headers=bearer(ada.phone))
    assert resp.status == 204


async def _admin(client: TestClient) -> dict[str, Any]:
    email = new_email()
    await client.app[accounts_key].ensure_admin(email=email, password=PASSWORD, display_name="Root")
    return await login(client, email)


async def _admin_revokes(client: TestClient, ada: Pair, mail: Mailbox) -> None:
    admin = await _admin(client)
    sessions = (await (await client.get("/api/me/sessions", headers=bearer(ada.laptop))).json())["sessions"]
    laptop = next(s["id"] for s in sessions if s["current"])
    resp = await client.delete(f"/api/admin/users/{uid(ada.laptop)}/sessions/{laptop}", headers=bearer(admin))
    assert resp.status == 204


async def _admin_ends_all(client: TestClient, ada: Pair, mail: Mailbox) -> None:
    resp = await client.delete(f"/api/admin/users/{uid(ada.laptop)}/sessions", headers=bearer(await _admin(client)))
    assert resp.status == 204


async def _suspension(client: TestClient, ada: Pair, mail: Mailbox) -> None:
    admin = await _admin(client)
    resp = await client.post(f"/api/admin/users/{uid(ada.laptop)}/suspend", json={}, headers=bearer(admin))
    assert resp.status == 200, await resp.text()


async def _password_reset(client: TestClient, ada: Pair, mail: Mailbox) -> None:
    assert (await client.post("/api/auth/password-reset", json={"email": ada.email})).status == 202
    token = link_in(await mail.wait_for(ada.email), "/reset-password").split("token=")[1]
    body = {"token": token, "password": "a brand new secret"}
    assert (await client.post("/api/auth/password-reset/confirm", json=body)).status == 200


async def _refresh_token_copied(client: TestClient, ada: Pair, mail: Mailbox) -> None:
    for status in (200, 401):  # the second use of one refresh token ends its session
        resp = await client.post("/api/auth/refresh", json={"refresh_token": ada.laptop["refresh_token"]})
        assert resp.status == status


Ending = Callable[[TestClient, Pair, Mailbox], Awaitable[None]]


@pytest.mark.parametrize(
    ("end", "both"),
    [
        (_user_revokes, False),
        (_admin_revokes, False),
        (_refresh_token_copied, False),
        (_admin_ends_all, True),
        (_suspension, True),
        (_password_reset, True),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else ("every session" if v else "one session"),
)
async def test_a_session_ended_any_other_way_takes_its_device_too(
    client: TestClient, mail: Mailbox, end: Ending, both: bool
) -> None:
    ada = await pair(client)
    bob_ws = await connect(client, ada.bob)
    await end(client, ada, mail)
    await bob_ws.wait_for("keys.changed", user_id=uid(ada.laptop))
    assert await stored(client, ada.laptop_device) == (0, 0, 0)
    assert await stored(client, ada.phone_device) == ((0, 0, 0) if both else (1, 2, 1))
    left = [] if both else [ada.phone_device]
    assert [d["device_id"] for d in await devices_of(client, ada.bob, uid(ada.laptop))] == left
    await bob_ws.close()


async def test_the_sweep_removes_the_devices_of_expired_sessions_in_batches(client: TestClient) -> None:
    ada = await pair(client)
    tablet = await login(client, ada.email)
    tablet_device = await device(client, tablet)
    bob_ws = await connect(client, ada.bob)
    sessions = (await (await client.get("/api/me/sessions", headers=bearer(ada.phone))).json())["sessions"]
    others = [s["id"] for s in sessions if not s["current"]]  # the laptop's and the tablet's
    db = client.app[database_key]
    for session_id in others:  # expired without a sign-out
        await db.execute("UPDATE sessions SET expires_at = 0 WHERE id = $1", session_id)

    directory = client.app[key_directory_key]
    assert await directory.sweep(batch=1) == 2
    await bob_ws.wait_for("keys.changed", user_id=uid(ada.laptop))
    for gone in (ada.laptop_device, tablet_device):
        assert await stored(client, gone) == (0, 0, 0)
    assert await stored(client, ada.phone_device) == (1, 2, 1)
    assert await directory.sweep() == 0
    assert (await inbox(client, ada.phone))["device_id"] == ada.phone_device
    await bob_ws.close()


async def test_a_user_of_plain_chats_only_signs_out_without_telling_anyone(client: TestClient) -> None:
    ada, eve, dan = await users(client, 3)
    await direct(client, ada, dan)
    await direct(client, eve, dan)
    await device(client, eve)  # Eve has keys, but shares no end-to-end chat with anyone
    events = client.app[event_log_key]
    watched = (uid(ada), uid(dan))
    before = [await events.last_seq(user_id) for user_id in watched]
    dan_ws = await connect(client, dan)
    ada_phone = await login(client, ada["user"]["email"])
    ada_ws = await connect(client, ada_phone)

    for grant in (ada, eve):
        assert (await client.post("/api/auth/logout", headers=bearer(grant))).status == 204
    await asyncio.sleep(0.2)
    assert [p for p in dan_ws.pushes if p["type"] == "keys.changed"] == []
    assert [p for p in ada_ws.pushes if p["type"] == "keys.changed"] == []  # Ada had no device to drop
    assert [await events.last_seq(user_id) for user_id in watched] == before  # nothing new in their logs
    for peer in (dan_ws, ada_ws):
        await peer.close()
