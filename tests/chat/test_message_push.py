"""Messages to users with no open connection arrive as Web Push: no content in end-to-end chats, a preview
only when the user allows it, nothing for a muted chat unless mentioned, nothing while a device is online."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.chat.chatkit import Browser, PushEndpoint, client_id, connect, direct, group, subscribe, uid, users
from tests.helpers import bearer


@pytest.fixture(name="client")
def client_fixture(push_client: TestClient) -> TestClient:
    return push_client  # an app allowed to push to the push service on loopback


async def send(client: TestClient, sender: dict[str, Any], chat_id: str, text: str, **extra: Any) -> dict[str, Any]:
    resp = await client.post(
        f"/api/chats/{chat_id}/messages", json={"client_id": client_id(), "text": text, **extra}, headers=bearer(sender)
    )
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def pushes_to(endpoint: PushEndpoint, browser: Browser, count: int) -> list[Any]:
    """The pushes this browser's endpoint received, decrypted, once there are `count` (10 s at most)."""
    return [browser.decrypt(r.body) for r in await endpoint.wait_for(browser, count)]


async def test_an_offline_member_gets_a_push_without_content_by_default(
    client: TestClient, push_endpoint: PushEndpoint
) -> None:
    alice, bob = await users(client, 2)
    chat_id = await direct(client, alice, bob)
    phone = push_endpoint.browser()
    await subscribe(client, bob, phone)
    sent = await send(client, alice, chat_id, "the secret plan")
    (payload,) = await pushes_to(push_endpoint, phone, 1)
    assert payload["type"] == "message"
    assert payload["chat_id"] == chat_id
    assert payload["message_id"] == sent["id"]
    assert "preview" not in payload
    assert push_endpoint.to(phone)[0].headers["Urgency"] == "high"  # a direct message
    # The sender's own devices are never pushed their own message.
    laptop = push_endpoint.browser()
    await subscribe(client, alice, laptop)
    await send(client, alice, chat_id, "again")
    await pushes_to(push_endpoint, phone, 2)
    assert push_endpoint.to(laptop) == []


async def test_previews_only_when_allowed_and_never_in_end_to_end_chats(
    client: TestClient, push_endpoint: PushEndpoint
) -> None:
    alice, bob = await users(client, 2)
    plain = await group(client, alice, [bob])
    secret = await group(client, alice, [bob], e2e=True)
    phone = push_endpoint.browser()
    await subscribe(client, bob, phone)
    assert (
        await client.patch("/api/me/chat-settings", json={"push_previews": True}, headers=bearer(bob))
    ).status == 200
    await send(client, alice, plain, "lunch at noon? " + "x" * 200)
    (payload,) = await pushes_to(push_endpoint, phone, 1)
    assert payload["preview"].startswith("lunch at noon?")
    assert len(payload["preview"]) <= 101
    assert payload["chat_name"] == "Team"
    resp = await client.post(
        f"/api/chats/{secret}/messages",
        json={"client_id": client_id(), "ciphertext": "q83vASNFZ4mrze8BI0VniQ=="},
        headers=bearer(alice),
    )
    assert resp.status == 201
    payloads = await pushes_to(push_endpoint, phone, 2)
    assert set(payloads[1]) == {"type", "chat_id", "message_id", "seq", "lang"}  # nothing about the content


async def test_no_push_while_online_or_muted_unless_mentioned(client: TestClient, push_endpoint: PushEndpoint) -> None:
    alice, bob = await users(client, 2)
    chat_id = await group(client, alice, [bob])
    phone = push_endpoint.browser()
    await subscribe(client, bob, phone)
    online = await connect(client, bob, after_seq=0)
    await send(client, alice, chat_id, "you are here")
    await online.wait_for("message.new")
    await online.close()
    await asyncio.sleep(0.3)
    assert push_endpoint.to(phone) == []
    resp = await client.patch(f"/api/chats/{chat_id}/settings", json={"muted_until": 4e9}, headers=bearer(bob))
    assert resp.status == 200
    await send(client, alice, chat_id, "muted")
    alice_ws = await connect(client, alice)
    await alice_ws.ok("message.send", chat_id=chat_id, client_id=client_id(), text="@bob look", mentions=[uid(bob)])
    (payload,) = await pushes_to(push_endpoint, phone, 1)
    assert payload["message_id"] == 3  # the mention, not the muted message before it
    await alice_ws.close()
