"""A call to a user with no device online: a high-urgency Web Push that lives as long as the invite, a decline
link that works without signing in, and a missed-call notification when nobody answers."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient

from tests.calls.callkit import call_entries, device, invite, new_id
from tests.chat.chatkit import PushEndpoint, direct, subscribe, uid, users

pytestmark = pytest.mark.timeout(60)


async def test_an_offline_callee_is_rung_by_push_and_can_decline_from_it(
    push_client: TestClient, push_endpoint: PushEndpoint
) -> None:
    client = push_client
    alice, bob = await users(client, 2)
    chat_id = await direct(client, alice, bob)
    phone = push_endpoint.browser()
    await subscribe(client, bob, phone)
    caller = await device(client, alice)
    call_id = new_id()
    await invite(caller, chat_id, call_id, media="audio", lifetime=30_000)

    (received,) = await push_endpoint.wait_for(phone, 1)
    payload = phone.decrypt(received.body)
    assert payload["type"] == "call"
    assert payload["call_id"] == call_id
    assert payload["chat_id"] == chat_id
    assert payload["caller_id"] == uid(alice)
    assert payload["media"] == "audio"
    assert payload["caller_name"]
    assert received.headers["Urgency"] == "high"
    assert received.headers["TTL"] == "30"

    link = urlsplit(payload["decline_url"])
    path = f"{link.path}?{link.query}"
    forged = path.replace("token=", "token=x")
    assert (await client.post(forged)).status == 403
    other = path.replace(call_id, new_id())
    assert (await client.post(other)).status == 403  # the token is for this call only
    assert (await client.post(link.path)).status == 400
    resp = await client.post(path)
    assert resp.status == 200, await resp.text()
    assert (await resp.json()) == {"call_id": call_id, "state": "ended"}
    rejected = await caller.wait_for("call.reject", call_id=call_id)
    assert rejected["user_id"] == uid(bob)
    await caller.wait_for("call.hangup", call_id=call_id, reason="user_declined")
    (entry,) = await call_entries(client, alice, chat_id)
    assert entry["call"]["outcome"] == "declined"
    again = await client.post(path)
    assert again.status == 409
    assert (await again.json())["error"]["code"] == "call_ended"


async def test_a_call_nobody_answers_leaves_a_missed_call_notification(
    push_client: TestClient, push_endpoint: PushEndpoint
) -> None:
    client = push_client
    alice, bob = await users(client, 2)
    chat_id = await direct(client, alice, bob)
    phone = push_endpoint.browser()
    await subscribe(client, bob, phone)
    caller = await device(client, alice)
    call_id = new_id()
    await invite(caller, chat_id, call_id, lifetime=5000)
    await caller.peer.wait_for("call.hangup", call_id=call_id, timeout=15)
    received = await push_endpoint.wait_for(phone, 2)
    payloads = [phone.decrypt(r.body) for r in received]
    assert [p["type"] for p in payloads] == ["call", "call.missed"]
    assert payloads[1]["call_id"] == call_id
    assert payloads[1]["caller_id"] == uid(alice)
    assert payloads[1]["lang"] == "en"  # the service worker writes the texts in the callee's language
    await asyncio.sleep(0.3)
    # The call's history entry reaches Bob's log, but is not pushed again as a "new message".
    assert len(push_endpoint.to(phone)) == 2


async def test_an_online_callee_gets_no_push(push_client: TestClient, push_endpoint: PushEndpoint) -> None:
    client = push_client
    alice, bob = await users(client, 2)
    chat_id = await direct(client, alice, bob)
    phone = push_endpoint.browser()
    await subscribe(client, bob, phone)
    caller, online = await device(client, alice), await device(client, bob)
    call_id = new_id()
    await invite(caller, chat_id, call_id)
    await online.wait_for("call.invite", call_id=call_id)
    await caller.ok("call.hangup", call_id=call_id)
    await call_entries(client, bob, chat_id)
    await asyncio.sleep(0.3)
    assert push_endpoint.to(phone) == []
