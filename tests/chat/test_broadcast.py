"""Broadcast groups ("channels"): only the owner and admins post, members read and react; members join by invite
link and sync; the owner alone turns it on and off; a channel holds more members than a plain group; and a
message costs the same rows in storage whatever the number of members."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from server.chat import messages
from server.chat import service as chat_service
from server.keys import blind_index_key, database_key, keyring_key
from server.storage.accounts import AccountRepository
from tests.chat.chatkit import client_id, connect, group, uid, users
from tests.helpers import bearer


async def post(client: TestClient, who: dict[str, Any], chat_id: str, text: str) -> Any:
    return await client.post(
        f"/api/chats/{chat_id}/messages", json={"client_id": client_id(), "text": text}, headers=bearer(who)
    )


async def test_admins_post_and_members_read_react_and_cannot_post(client: TestClient) -> None:
    owner, admin, member = await users(client, 3)
    chat_id = await group(client, owner, [admin, member], broadcast=True)
    view = await (await client.get(f"/api/chats/{chat_id}", headers=bearer(member))).json()
    assert view["broadcast"] is True
    promote = f"/api/chats/{chat_id}/members/{uid(admin)}"
    assert (await client.patch(promote, json={"role": "admin"}, headers=bearer(owner))).status == 200
    live = await connect(client, member, after_seq=0)

    assert (await post(client, owner, chat_id, "from the owner")).status == 201
    assert (await post(client, admin, chat_id, "from an admin")).status == 201
    refused = await post(client, member, chat_id, "from a member")
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "broadcast_only_admins"
    over_ws = await live.call("message.send", chat_id=chat_id, client_id=client_id(), text="also refused")
    assert over_ws["error"]["code"] == "broadcast_only_admins"
    typing = await live.call("chat.typing", chat_id=chat_id)
    assert typing["error"]["code"] == "broadcast_only_admins"

    got = await live.wait_for("message.new", count=2)
    assert [f["message"]["text"] for f in got] == ["from the owner", "from an admin"]
    first = got[0]["message"]["id"]
    reacted = await client.put(f"/api/chats/{chat_id}/messages/{first}/reactions/👍", headers=bearer(member))
    assert reacted.status == 204  # reading and reacting are what members do
    add = await client.post(f"/api/chats/{chat_id}/members", json={"user_ids": [uid(owner)]}, headers=bearer(member))
    assert add.status == 403  # members cannot add others
    history = await (await client.get(f"/api/chats/{chat_id}/messages", headers=bearer(member))).json()
    assert [m["text"] for m in history["messages"]] == ["from the owner", "from an admin"]
    await live.close()


async def test_a_member_joins_by_invite_link_and_syncs(client: TestClient) -> None:
    owner, early, newcomer = await users(client, 3)
    chat_id = await group(client, owner, [early], broadcast=True)
    assert (await post(client, owner, chat_id, "before the newcomer")).status == 201
    invite = await (await client.post(f"/api/chats/{chat_id}/invites", json={}, headers=bearer(owner))).json()
    preview = await (await client.get(f"/api/invites/{invite['code']}", headers=bearer(newcomer))).json()
    assert (preview["members"], preview["broadcast"]) == (2, True)
    owner_live = await connect(client, owner, after_seq=0)
    early_live = await connect(client, early, after_seq=0)
    joined = await client.post(f"/api/invites/{invite['code']}/join", headers=bearer(newcomer))
    assert joined.status == 200
    assert (await joined.json())["broadcast"] is True
    await owner_live.wait_for("member.added", user_id=uid(newcomer))  # the admins hear of the join

    assert (await post(client, owner, chat_id, "after the newcomer")).status == 201
    await early_live.wait_for("message.new", count=2)
    # A channel's members are not told of each other's joins.
    assert not [f for f in early_live.pushes if f["type"] == "member.added"]

    peer = await connect(client, newcomer)
    synced = await peer.ok("sync", after_seq=0)
    await peer.wait_for("message.new")
    frames = [f for f in peer.pushes if f.get("chat_id") == chat_id and "seq" in f]
    assert [f["type"] for f in frames] == ["chat.created", "message.new"]
    assert frames[1]["message"]["text"] == "after the newcomer"
    assert [f["seq"] for f in frames] == [1, 2]
    assert synced is not None
    history = await (await client.get(f"/api/chats/{chat_id}/messages", headers=bearer(newcomer))).json()
    assert [m["text"] for m in history["messages"]] == ["after the newcomer"]
    for live in (owner_live, early_live, peer):
        await live.close()


async def test_only_the_owner_turns_broadcast_on_and_off(client: TestClient) -> None:
    owner, admin, member = await users(client, 3)
    chat_id = await group(client, owner, [admin, member])
    await client.patch(f"/api/chats/{chat_id}/members/{uid(admin)}", json={"role": "admin"}, headers=bearer(owner))
    assert (await post(client, member, chat_id, "a plain group")).status == 201
    for who in (admin, member):
        resp = await client.patch(f"/api/chats/{chat_id}", json={"broadcast": True}, headers=bearer(who))
        assert resp.status == 403, who
    live = await connect(client, member, after_seq=0)
    on = await client.patch(f"/api/chats/{chat_id}", json={"broadcast": True}, headers=bearer(owner))
    assert on.status == 200
    assert (await on.json())["broadcast"] is True
    updated = await live.wait_for("chat.updated")
    assert updated[0]["broadcast"] is True
    assert (await post(client, member, chat_id, "now refused")).status == 403
    off = await client.patch(f"/api/chats/{chat_id}", json={"broadcast": False}, headers=bearer(owner))
    assert (await off.json())["broadcast"] is False
    assert (await post(client, member, chat_id, "allowed again")).status == 201
    await live.close()


async def test_a_channel_holds_more_members_than_a_plain_group(client: TestClient, monkeypatch: Any) -> None:
    monkeypatch.setattr(chat_service, "MAX_MEMBERS", 3)
    monkeypatch.setattr(chat_service, "MAX_BROADCAST_MEMBERS", 5)
    owner, *others = await users(client, 6)
    plain = await group(client, owner, others[:2])
    resp = await client.post(f"/api/chats/{plain}/members", json={"user_ids": [uid(others[2])]}, headers=bearer(owner))
    assert resp.status == 400
    channel = await group(client, owner, others[:2], broadcast=True)
    resp = await client.post(
        f"/api/chats/{channel}/members", json={"user_ids": [uid(o) for o in others[2:4]]}, headers=bearer(owner)
    )
    assert resp.status == 200
    invite = await (await client.post(f"/api/chats/{channel}/invites", json={}, headers=bearer(owner))).json()
    full = await client.post(f"/api/invites/{invite['code']}/join", headers=bearer(others[4]))
    assert full.status == 403
    assert (await full.json())["error"]["code"] == "group_full"
    # A channel of 5 cannot turn into a plain group of at most 3: every member would post.
    back = await client.patch(f"/api/chats/{channel}", json={"broadcast": False}, headers=bearer(owner))
    assert back.status == 400


async def test_the_member_list_pages(client: TestClient, monkeypatch: Any) -> None:
    monkeypatch.setattr(chat_service, "MEMBERS_LISTED", 3)
    owner, *others = await users(client, 5)
    chat_id = await group(client, owner, others, broadcast=True)
    view = await (await client.get(f"/api/chats/{chat_id}", headers=bearer(others[0]))).json()
    assert (view["member_count"], view["members_complete"]) == (5, False)
    assert [m["user_id"] for m in view["members"]] == [uid(owner)]  # who runs it; the rest are paged
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await (await client.get(f"/api/chats/{chat_id}/members", params=params, headers=bearer(owner))).json()
        seen += [m["user_id"] for m in page["members"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [uid(owner), *sorted(uid(o) for o in others)]
    stranger = (await users(client, 1))[0]
    assert (await client.get(f"/api/chats/{chat_id}/members", headers=bearer(stranger))).status == 404


# -- storage cost per message ---------------------------------------------------------------------------------


async def make_members(client: TestClient, count: int) -> list[str]:
    """`count` accounts written straight through the repository (as bench/chat.py makes them): no sign-in."""
    app = client.app
    assert app is not None
    db = app[database_key]
    repo = AccountRepository(db, app[keyring_key], app[blind_index_key])
    ids = [uuid.uuid4().hex for _ in range(count)]
    now = time.time()
    async with db.transaction() as tx:
        for user_id in ids:
            await repo.create_user(
                tx,
                user_id=user_id,
                email=f"{user_id}@example.test",
                display_name="Reader",
                password_hash="unused",
                role="user",
                now=now,
                verified=True,
            )
    return ids


async def table_state(client: TestClient) -> tuple[int, int, dict[str, tuple[Any, ...]]]:
    app = client.app
    assert app is not None
    db = app[database_key]
    chat_events = int(await db.fetchval("SELECT COUNT(*) FROM chat_events") or 0)
    user_events = int(await db.fetchval("SELECT COUNT(*) FROM user_events") or 0)
    counters = {
        r["user_id"]: (r["last_seq"], r["open_chat"], r["open_seq"], r["open_from"])
        for r in await db.fetch("SELECT * FROM user_seq")
    }
    return chat_events, user_events, counters


async def rows_per_message(client: TestClient, owner: dict[str, Any], members: int) -> tuple[str, tuple[int, int, int]]:
    """A channel of `members`, and the (chat_events, user_events, user_seq) rows written or changed by one
    message to it once the members follow it (after its first message)."""
    ids = await make_members(client, members - 1)
    chat_id = await group(client, owner, [], broadcast=True)
    for start in range(0, len(ids), 1000):  # a body holds at most 64 KiB
        resp = await client.post(
            f"/api/chats/{chat_id}/members", json={"user_ids": ids[start : start + 1000]}, headers=bearer(owner)
        )
        assert resp.status == 200, await resp.text()
    assert (await post(client, owner, chat_id, "the first: every member starts following the channel")).status == 201
    before = await table_state(client)
    assert (await post(client, owner, chat_id, "a message like any other")).status == 201
    after = await table_state(client)
    changed = sum(1 for user, state in after[2].items() if before[2].get(user) != state)
    return chat_id, (after[0] - before[0], after[1] - before[1], changed)


async def test_a_message_writes_the_same_rows_at_100_and_2000_members(client: TestClient) -> None:
    owner, newcomer = await users(client, 2)
    _, small = await rows_per_message(client, owner, 100)
    chat_id, large = await rows_per_message(client, owner, 2000)
    assert small == large
    assert small[0] == 1  # one row of the channel's stream
    assert small[1] + small[2] <= 2  # at most the sender's own counter and log

    # A newcomer to the big channel joins by invite link, hears the next message live and reads it in sync.
    invite = await (await client.post(f"/api/chats/{chat_id}/invites", json={}, headers=bearer(owner))).json()
    joined = await client.post(f"/api/invites/{invite['code']}/join", headers=bearer(newcomer))
    view = await joined.json()
    assert (view["member_count"], view["members_complete"]) == (2001, False)
    assert [m["user_id"] for m in view["members"]] == [uid(owner)]
    live = await connect(client, newcomer, after_seq=0)
    assert (await post(client, owner, chat_id, "welcome")).status == 201
    assert (await live.wait_for("message.new"))[0]["message"]["text"] == "welcome"
    later = await connect(client, newcomer)
    await later.ok("sync", after_seq=0)
    await later.wait_for("message.new")
    assert [f["type"] for f in later.pushes if f.get("chat_id") == chat_id] == ["chat.created", "message.new"]
    for peer in (live, later):
        await peer.close()


async def test_typing_in_a_big_group_is_not_fanned_out(client: TestClient, monkeypatch: Any) -> None:
    monkeypatch.setattr(messages, "RECEIPT_FANOUT_MAX", 2)
    alice, bob, carol = await users(client, 3)
    small = await group(client, alice, [bob])
    big = await group(client, alice, [bob, carol])
    typist = await connect(client, alice)
    listener = await connect(client, bob)
    assert (await typist.ok("chat.typing", chat_id=small))["sent"] is True
    await listener.wait_for("typing", chat_id=small)
    assert (await typist.ok("chat.typing", chat_id=big))["sent"] is False  # over the limit: nobody is told
    await asyncio.sleep(0.2)  # what would have been sent has arrived
    assert not [p for p in listener.pushes if p["type"] == "typing" and p["chat_id"] == big]
    for peer in (typist, listener):
        await peer.close()
