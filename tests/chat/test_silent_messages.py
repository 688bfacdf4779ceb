"""Silent messages: an end-to-end chat's reactions travel as encrypted messages flagged `silent`, which reach every
member's devices like any message but count as no unread, ring no push, are not the chat list's last message and
move no chat up the list; a plain chat refuses the flag, and an end-to-end chat refuses message.react (its emoji
would be stored in clear)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.chat.chatkit import PushEndpoint, client_id, connect, direct, group, subscribe, users
from tests.chat.test_message_push import client_fixture, pushes_to
from tests.helpers import bearer

__all__ = ["client_fixture"]  # the fixture this module uses

BLOB = "q83vASNFZ4mrze8BI0VniQ=="


async def post(client: TestClient, sender: dict[str, Any], chat_id: str, **fields: Any) -> dict[str, Any]:
    resp = await client.post(
        f"/api/chats/{chat_id}/messages", json={"client_id": client_id(), **fields}, headers=bearer(sender)
    )
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def listed(client: TestClient, user: dict[str, Any], chat_id: str) -> dict[str, Any]:
    chats = (await (await client.get("/api/chats", headers=bearer(user))).json())["chats"]
    (chat,) = [c for c in chats if c["id"] == chat_id]
    assert isinstance(chat, dict)
    return chat


async def test_a_silent_message_reaches_devices_but_is_no_unread_no_push_and_no_preview(
    client: TestClient, push_endpoint: PushEndpoint
) -> None:
    alice, bob = await users(client, 2)
    secret = await group(client, alice, [bob], e2e=True)
    phone = push_endpoint.browser()
    await subscribe(client, bob, phone)
    first = await post(client, alice, secret, ciphertext=BLOB)
    (payload,) = await pushes_to(push_endpoint, phone, 1)
    assert payload["message_id"] == first["id"]
    before = await listed(client, bob, secret)

    reaction = await post(client, alice, secret, ciphertext=BLOB, silent=True)
    assert reaction["silent"] is True
    assert "silent" not in first
    chat = await listed(client, bob, secret)
    assert chat["unread"] == 1
    assert chat["last_message"]["id"] == first["id"]
    assert chat["last_message_at"] == before["last_message_at"]  # not moved up the list
    page = await (await client.get(f"/api/chats/{secret}/messages", headers=bearer(bob))).json()
    assert [(m["id"], m.get("silent", False)) for m in page["messages"]] == [(1, False), (2, True)]
    bob_ws = await connect(client, bob, after_seq=0)  # replayed with its flag
    got = await bob_ws.wait_for("message.new", 2)
    assert [m["message"].get("silent", False) for m in got] == [False, True]
    await bob_ws.close()

    # The next plain message rings; the silent one never did.
    third = await post(client, alice, secret, ciphertext=BLOB)
    payloads = await pushes_to(push_endpoint, phone, 2)
    assert [p["message_id"] for p in payloads] == [first["id"], third["id"]]
    assert (await listed(client, bob, secret))["unread"] == 2


async def test_a_plain_chat_refuses_silent_messages(client: TestClient) -> None:
    alice, bob = await users(client, 2)
    plain = await direct(client, alice, bob)
    resp = await client.post(
        f"/api/chats/{plain}/messages",
        json={"client_id": client_id(), "text": "hi", "silent": True},
        headers={**bearer(alice), "Accept-Language": "ru"},
    )
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["field"] == "silent"
    assert "сквозным шифрованием" in error["message"]
    ws = await connect(client, alice)
    refused = await ws.call("message.send", chat_id=plain, client_id=client_id(), text="hi", silent=True)
    assert refused["error"]["field"] == "silent"
    refused = await ws.call("message.send", chat_id=plain, client_id=client_id(), text="hi", silent="yes")
    assert refused["error"]["field"] == "silent"
    await ws.close()
    page = await (await client.get(f"/api/chats/{plain}/messages", headers=bearer(alice))).json()
    assert page["messages"] == []


async def test_an_end_to_end_chat_refuses_reactions_in_clear(client: TestClient) -> None:
    alice, bob = await users(client, 2)
    secret = await group(client, alice, [bob], e2e=True)
    first = await post(client, alice, secret, ciphertext=BLOB)
    ws = await connect(client, bob)
    refused = await ws.call("message.react", chat_id=secret, message_id=first["id"], emoji="👍")
    assert refused["error"]["field"] == "emoji"
    assert "encrypted" in refused["error"]["message"]
    await ws.close()
    page = await (await client.get(f"/api/chats/{secret}/messages", headers=bearer(bob))).json()
    assert "reactions" not in page["messages"][0]
