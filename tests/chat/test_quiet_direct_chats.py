"""A new direct chat stays out of sight of the person it was started with until its first message: their chat
list, their event log (sync), and their live pushes (chat.created, typing) say nothing of it before then."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient

from tests.chat.chatkit import client_id, connect, direct, uid, users
from tests.helpers import bearer


async def listed(client: TestClient, grant: dict[str, object]) -> list[str]:
    resp = await client.get("/api/chats", headers=bearer(grant))
    assert resp.status == 200
    return [chat["id"] for chat in (await resp.json())["chats"]]


async def test_the_other_person_sees_a_direct_chat_only_from_its_first_message(client: TestClient) -> None:
    alice, bob = await users(client, 2)
    bob_live = await connect(client, bob, after_seq=0)
    chat_id = await direct(client, alice, bob)

    # Alice, who started it, has it in her list; Bob has nothing: not in his list, not in his log, not live.
    assert await listed(client, alice) == [chat_id]
    assert await listed(client, bob) == []
    alice_live = await connect(client, alice, after_seq=0)
    assert [p["type"] for p in alice_live.pushes] == ["chat.created"]
    assert (await alice_live.ok("chat.typing", chat_id=chat_id))["sent"] is True
    bob_again = await connect(client, bob)
    replay = await bob_again.ok("sync", after_seq=0)
    assert replay["last_seq"] == 0
    await asyncio.sleep(0.2)
    assert bob_live.pushes == []
    assert bob_again.pushes == []

    # The first message brings the chat to Bob: live, through sync, and in his list.
    sent = await alice_live.ok("message.send", chat_id=chat_id, client_id=client_id(), text="Hello")
    pushed = await bob_live.wait_for("message.new", chat_id=chat_id)
    assert pushed[0]["message"]["id"] == sent["id"]
    assert await listed(client, bob) == [chat_id]
    late = await connect(client, bob)
    await late.ok("sync", after_seq=0)
    assert [p["type"] for p in late.pushes] == ["message.new"]
    # From now on Bob hears Alice typing.
    await asyncio.sleep(3.1)  # typing is throttled to one event per 3 s per chat
    assert (await alice_live.ok("chat.typing", chat_id=chat_id))["sent"] is True
    assert (await bob_live.wait_for("typing", chat_id=chat_id))[0]["user_id"] == uid(alice)
    for peer in (bob_live, bob_again, late, alice_live):
        await peer.ws.close()


async def test_the_other_person_may_still_open_and_answer_the_chat_they_were_given(client: TestClient) -> None:
    alice, bob = await users(client, 2)
    chat_id = await direct(client, alice, bob)
    # Bob starting "the same" chat finds Alice's (one chat per pair), and may write first in it.
    assert await direct(client, bob, alice) == chat_id
    resp = await client.get(f"/api/chats/{chat_id}", headers=bearer(bob))
    assert resp.status == 200
    resp = await client.post(
        f"/api/chats/{chat_id}/messages", json={"client_id": client_id(), "text": "Hi"}, headers=bearer(bob)
    )
    assert resp.status == 201
    assert await listed(client, alice) == [chat_id]
    assert await listed(client, bob) == [chat_id]
    # Archived or not, the filter is the same.
    resp = await client.get("/api/chats?archived=false", headers=bearer(bob))
    assert [c["id"] for c in (await resp.json())["chats"]] == [chat_id]
