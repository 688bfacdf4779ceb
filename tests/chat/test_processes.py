"""Chat across server processes sharing one database and Redis: messages, seqs, presence and typing reach
a user connected to any process, in order and once each; so does the news that a device signed out."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import RateLimit, Settings
from tests.chat.chatkit import client_id, connect, direct, group, uid, users
from tests.helpers import bearer


@pytest.fixture(name="two")
async def two_processes(aiohttp_client: Any, make_settings: Callable[..., Settings]) -> tuple[TestClient, TestClient]:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL is not set (CI sets it)")
    settings = make_settings(redis_url=url, rate_chat_send=RateLimit(100_000, 60))
    return await aiohttp_client(create_app(settings)), await aiohttp_client(create_app(settings))


async def test_messages_presence_and_typing_cross_processes(two: tuple[TestClient, TestClient]) -> None:
    a, b = two
    alice, bob = await users(a, 2)
    chat_id = await group(a, alice, [bob])
    alice_ws = await connect(a, alice, after_seq=0)
    followed = await alice_ws.ok("presence.follow", user_ids=[uid(bob)])
    assert followed["presence"][0]["online"] is False
    bob_ws = await connect(b, bob, after_seq=0)  # on the other process
    await alice_ws.wait_for("presence", user_id=uid(bob), online=True)
    assert (await alice_ws.ok("presence.follow", user_ids=[uid(bob)]))["presence"][0]["online"] is True
    await alice_ws.ok("message.send", chat_id=chat_id, client_id=client_id(), text="across")
    got = await bob_ws.wait_for("message.new")
    assert got[0]["message"]["text"] == "across"
    await alice_ws.ok("chat.typing", chat_id=chat_id)
    await bob_ws.wait_for("typing", user_id=uid(alice))
    await bob_ws.close()
    await alice_ws.wait_for("presence", user_id=uid(bob), online=False)
    await alice_ws.close()


async def test_sends_on_both_processes_reach_a_device_in_seq_order(two: tuple[TestClient, TestClient]) -> None:
    a, b = two
    alice, bob, carol = await users(a, 3)
    chat_id = await group(a, alice, [bob, carol])
    carol_ws = await connect(b, carol, after_seq=0)
    alice_ws = await connect(a, alice, after_seq=0)
    bob_ws = await connect(b, bob, after_seq=0)

    async def burst(peer: Any, who: str) -> None:
        await asyncio.gather(
            *(peer.ok("message.send", chat_id=chat_id, client_id=client_id(), text=f"{who}{n}") for n in range(40))
        )

    await asyncio.gather(burst(alice_ws, "a"), burst(bob_ws, "b"))
    got = await carol_ws.wait_for("message.new", 80, timeout=30)
    seqs = [p["seq"] for p in got]
    assert seqs == list(range(seqs[0], seqs[0] + 80))  # in order, none missing, none twice
    assert sorted(p["message"]["id"] for p in got) == list(range(1, 81))
    for peer in (alice_ws, bob_ws, carol_ws):
        await peer.close()


async def test_members_and_followers_changed_on_one_process_are_seen_by_the_other(
    two: tuple[TestClient, TestClient],
) -> None:
    """Each process's writer keeps a group's members and its followers' counters between batches: a member
    added or removed through the other process, and a follower whose counter the other process moved (a direct
    message in between), must show in this process's next send."""
    a, b = two
    alice, bob, carol, dave = await users(a, 4)
    chat_id = await group(a, alice, [bob, carol])
    pair = await direct(b, bob, carol)
    carol_ws = await connect(b, carol, after_seq=0)
    alice_ws = await connect(a, alice, after_seq=0)
    bob_ws = await connect(b, bob, after_seq=0)
    for n in range(10):  # carol hears the group (written by a) and bob (written by b) in turn
        await alice_ws.ok("message.send", chat_id=chat_id, client_id=client_id(), text=f"group {n}")
        await bob_ws.ok("message.send", chat_id=pair, client_id=client_id(), text=f"direct {n}")
    got = await carol_ws.wait_for("message.new", 20, timeout=30)
    seqs = [p["seq"] for p in got]
    assert seqs == list(range(seqs[0], seqs[0] + 20))
    assert [p["message"]["text"] for p in got] == [f"{k} {n}" for n in range(10) for k in ("group", "direct")]
    synced = await connect(a, carol, after_seq=seqs[0] - 1)
    again = await synced.wait_for("message.new", 20, timeout=30)
    assert [p["seq"] for p in again] == seqs
    await synced.close()

    # Through b: dave joins, carol is removed. a's writer must send to dave and not to carol at once.
    dave_ws = await connect(a, dave, after_seq=0)
    resp = await b.post(f"/api/chats/{chat_id}/members", json={"user_ids": [uid(dave)]}, headers=bearer(alice))
    assert resp.status == 200, await resp.text()
    resp = await b.delete(f"/api/chats/{chat_id}/members/{uid(carol)}", headers=bearer(alice))
    assert resp.status == 204, await resp.text()
    await alice_ws.ok("message.send", chat_id=chat_id, client_id=client_id(), text="after")
    [news] = await dave_ws.wait_for("message.new", timeout=30)
    assert news["message"]["text"] == "after"
    carol_on_a = await connect(a, carol)
    refused = await carol_on_a.call("message.send", chat_id=chat_id, client_id=client_id(), text="still here?")
    assert refused["error"]["code"] == "chat_not_found"
    await carol_on_a.close()
    await bob_ws.ok("message.send", chat_id=pair, client_id=client_id(), text="direct after")
    last = await carol_ws.wait_for("message.new", 21, timeout=30)
    assert [p["message"]["text"] for p in last[20:]] == ["direct after"]  # nothing of the group after leaving
    for peer in (alice_ws, bob_ws, carol_ws, dave_ws):
        await peer.close()
