"""A pair of users has at most one plain and one end-to-end direct chat: each is found again when asked for, both
are listed with their kind, and messages stay in the one they were sent to."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from server.keys import blind_index_key, database_key
from tests.chat.chatkit import client_id, connect, uid, users
from tests.helpers import bearer

BLOB = "c2VjcmV0"  # base64 of what only the devices can read


async def ask(client: TestClient, a: dict[str, Any], b: dict[str, Any], e2e: bool) -> tuple[int, dict[str, Any]]:
    """`a` asks for their direct chat of this kind with `b`: the status (201 made, 200 found) and the chat."""
    body: dict[str, Any] = {"kind": "direct", "user_id": uid(b), **({"e2e": True} if e2e else {})}
    resp = await client.post("/api/chats", json=body, headers=bearer(a))
    assert resp.status in (200, 201), await resp.text()
    view: dict[str, Any] = await resp.json()
    assert view["e2e"] is e2e
    return resp.status, view


async def listed(client: TestClient, grant: dict[str, Any]) -> dict[str, bool]:
    """The user's chat list as {chat id: its e2e flag}."""
    chats = (await (await client.get("/api/chats", headers=bearer(grant))).json())["chats"]
    return {chat["id"]: chat["e2e"] for chat in chats}


async def check_both(client: TestClient, alice: dict[str, Any], bob: dict[str, Any], plain: str, e2e: str) -> None:
    """Both kinds are found again from either side, hold their own messages and are listed with their flag."""
    assert plain != e2e
    for a, b in ((alice, bob), (bob, alice)):
        assert (await ask(client, a, b, e2e=False))[1]["id"] == plain
        assert (await ask(client, a, b, e2e=True))[1]["id"] == e2e
    alice_ws, bob_ws = await connect(client, alice), await connect(client, bob)
    await alice_ws.ok("message.send", chat_id=plain, client_id=client_id(), text="in the open")
    await alice_ws.ok("message.send", chat_id=e2e, client_id=client_id(), ciphertext=BLOB)
    # The e2e chat refuses plain text and the plain one ciphertext: each message can only land where it belongs.
    assert (await alice_ws.call("message.send", chat_id=e2e, client_id=client_id(), text="oops"))["type"] == "error"
    assert (await alice_ws.call("message.send", chat_id=plain, client_id=client_id(), ciphertext=BLOB))[
        "type"
    ] == "error"
    await bob_ws.wait_for("message.new", chat_id=plain)
    await bob_ws.wait_for("message.new", chat_id=e2e)
    for chat_id, field in ((plain, "text"), (e2e, "ciphertext")):
        page = await (await client.get(f"/api/chats/{chat_id}/messages", headers=bearer(bob))).json()
        assert [m.get(field) for m in page["messages"]] == ["in the open" if chat_id == plain else BLOB]
    for grant in (alice, bob):
        mine = await listed(client, grant)
        assert {k: v for k, v in mine.items() if k in (plain, e2e)} == {plain: False, e2e: True}
    await alice_ws.close()
    await bob_ws.close()


async def test_plain_then_end_to_end(client: TestClient) -> None:
    alice, bob = await users(client, 2)
    status, plain = await ask(client, alice, bob, e2e=False)
    assert status == 201
    status, sealed = await ask(client, alice, bob, e2e=True)
    assert status == 201  # not the plain chat again
    await check_both(client, alice, bob, plain["id"], sealed["id"])


async def test_end_to_end_then_plain(client: TestClient) -> None:
    alice, bob = await users(client, 2)
    status, sealed = await ask(client, bob, alice, e2e=True)
    assert status == 201
    status, plain = await ask(client, alice, bob, e2e=False)
    assert status == 201
    await check_both(client, alice, bob, plain["id"], sealed["id"])


async def test_an_end_to_end_chat_under_the_old_index(client: TestClient) -> None:
    """E2e chats made before a pair could have both kinds hold the plain index form: still the pair's e2e chat,
    and a plain chat can be made beside it (the old chat moves to the e2e form in the same transaction)."""
    alice, bob = await users(client, 2)
    _, sealed = await ask(client, alice, bob, e2e=True)
    db, blind = client.app[database_key], client.app[blind_index_key]
    low, high = sorted((uid(alice), uid(bob)))
    old_form = blind(f"{low}:{high}", purpose="chat_pair")
    await db.execute("UPDATE chats SET pair_index = $1 WHERE id = $2", old_form, sealed["id"])
    status, found = await ask(client, bob, alice, e2e=True)
    assert (status, found["id"]) == (200, sealed["id"])
    status, plain = await ask(client, bob, alice, e2e=False)
    assert status == 201
    moved = await db.fetchval("SELECT pair_index FROM chats WHERE id = $1", sealed["id"])
    assert bytes(moved) == blind(f"{low}:{high}:e2e", purpose="chat_pair")
    await check_both(client, alice, bob, plain["id"], sealed["id"])


async def test_both_sides_at_once_make_one_of_each(client: TestClient) -> None:
    alice, bob = await users(client, 2)
    made = await asyncio.gather(
        ask(client, alice, bob, e2e=False),
        ask(client, bob, alice, e2e=False),
        ask(client, alice, bob, e2e=True),
        ask(client, bob, alice, e2e=True),
    )
    ids = [view["id"] for _, view in made]
    assert ids[0] == ids[1]
    assert ids[2] == ids[3]
    assert ids[0] != ids[2]
    assert sorted(status for status, _ in made) == [200, 200, 201, 201]
