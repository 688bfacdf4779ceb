"""Groups and direct chats over HTTP: roles, members, leaving, invites, settings, blocks, reports."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient

from server.auth.appkeys import accounts_key
from tests.chat.chatkit import PDF, client_id, connect, direct, group, png, uid, uploaded, users
from tests.helpers import PASSWORD, bearer, login, new_email, verified_user


async def test_a_pair_has_one_direct_chat(client: TestClient) -> None:
    alice, bob = await users(client, 2)
    for grant, name in ((alice, "Alice"), (bob, "Bob")):
        assert (await client.patch("/api/me", json={"display_name": name}, headers=bearer(grant))).status == 200
    first = await client.post("/api/chats", json={"kind": "direct", "user_id": uid(bob)}, headers=bearer(alice))
    assert first.status == 201
    again = await client.post("/api/chats", json={"kind": "direct", "user_id": uid(alice)}, headers=bearer(bob))
    assert again.status == 200
    assert (await again.json())["id"] == (await first.json())["id"]
    # Members see each other's display names; the list says who a direct chat is with.
    view = await again.json()
    assert {m["user_id"]: m["display_name"] for m in view["members"]} == {uid(alice): "Alice", uid(bob): "Bob"}
    listed = (await (await client.get("/api/chats", headers=bearer(alice))).json())["chats"]
    assert listed[0]["peer"] == {"user_id": uid(bob), "display_name": "Bob"}
    # Both at once still make one.
    carol, dave = await users(client, 2)
    made = await asyncio.gather(direct(client, carol, dave), direct(client, dave, carol))
    assert made[0] == made[1]
    bad = await client.post("/api/chats", json={"kind": "direct", "user_id": uid(alice)}, headers=bearer(alice))
    assert bad.status == 400
    assert (await bad.json())["error"]["field"] == "user_id"
    unknown = await client.post("/api/chats", json={"kind": "direct", "user_id": "nobody"}, headers=bearer(alice))
    assert unknown.status == 404


async def test_roles_members_and_leaving(client: TestClient) -> None:
    owner, admin, member, extra = await users(client, 4)
    chat_id = await group(client, owner, [admin, member], description="plans")
    view = await (await client.get(f"/api/chats/{chat_id}", headers=bearer(owner))).json()
    assert view["name"] == "Team"
    assert view["description"] == "plans"
    assert {m["user_id"]: m["role"] for m in view["members"]} == {
        uid(owner): "owner",
        uid(admin): "member",
        uid(member): "member",
    }
    resp = await client.patch(
        f"/api/chats/{chat_id}/members/{uid(admin)}", json={"role": "admin"}, headers=bearer(owner)
    )
    assert resp.status == 200
    # An admin adds people and renames; a plain member may not.
    resp = await client.post(f"/api/chats/{chat_id}/members", json={"user_ids": [uid(extra)]}, headers=bearer(admin))
    assert resp.status == 200
    assert uid(extra) in [m["user_id"] for m in (await resp.json())["members"]]
    refused = await client.patch(f"/api/chats/{chat_id}", json={"name": "Mine"}, headers=bearer(member))
    assert refused.status == 403
    renamed = await client.patch(f"/api/chats/{chat_id}", json={"name": "Crew"}, headers=bearer(admin))
    assert (await renamed.json())["name"] == "Crew"
    # Admins cannot remove admins or the owner; the owner can.
    assert (await client.delete(f"/api/chats/{chat_id}/members/{uid(owner)}", headers=bearer(admin))).status == 403
    assert (await client.delete(f"/api/chats/{chat_id}/members/{uid(extra)}", headers=bearer(admin))).status == 204
    # The owner leaves: the admin inherits the group.
    assert (await client.post(f"/api/chats/{chat_id}/leave", headers=bearer(owner))).status == 204
    view = await (await client.get(f"/api/chats/{chat_id}", headers=bearer(member))).json()
    assert {m["user_id"]: m["role"] for m in view["members"]} == {uid(admin): "owner", uid(member): "member"}
    assert (await client.get(f"/api/chats/{chat_id}", headers=bearer(owner))).status == 404


async def test_a_removed_member_stops_receiving_at_once(client: TestClient) -> None:
    owner, bob = await users(client, 2)
    chat_id = await group(client, owner, [bob])
    owner_ws = await connect(client, owner, after_seq=0)
    bob_ws = await connect(client, bob, after_seq=0)
    await owner_ws.ok("message.send", chat_id=chat_id, client_id=client_id(), text="hello")
    await bob_ws.wait_for("message.new")
    assert (await client.delete(f"/api/chats/{chat_id}/members/{uid(bob)}", headers=bearer(owner))).status == 204
    await bob_ws.wait_for("chat.removed", chat_id=chat_id)
    await owner_ws.ok("message.send", chat_id=chat_id, client_id=client_id(), text="after")
    await owner_ws.ok("chat.typing", chat_id=chat_id)
    await owner_ws.wait_for("message.new", 2)
    # Bob's events reach him in order: once a later message in another chat is in, anything for the group is too.
    other_chat = await direct(client, owner, bob)
    await owner_ws.ok("message.send", chat_id=other_chat, client_id=client_id(), text="marker")
    await bob_ws.wait_for("message.new", chat_id=other_chat)
    assert len([p for p in bob_ws.pushes if p["type"] == "message.new" and p["chat_id"] == chat_id]) == 1
    assert not [p for p in bob_ws.pushes if p["type"] == "typing"]
    refused = await bob_ws.call("message.send", chat_id=chat_id, client_id=client_id(), text="let me in")
    assert refused["error"]["code"] == "chat_not_found"
    assert (await client.get(f"/api/chats/{chat_id}/messages", headers=bearer(bob))).status == 404
    await owner_ws.close()
    await bob_ws.close()


async def test_late_joiners_do_not_see_earlier_history(client: TestClient) -> None:
    owner, late = await users(client, 2)
    chat_id = await group(client, owner, [])
    ws = await connect(client, owner, after_seq=0)
    await ws.ok("message.send", chat_id=chat_id, client_id=client_id(), text="before you")
    await client.post(f"/api/chats/{chat_id}/members", json={"user_ids": [uid(late)]}, headers=bearer(owner))
    await ws.ok("message.send", chat_id=chat_id, client_id=client_id(), text="welcome")
    page = await (await client.get(f"/api/chats/{chat_id}/messages", headers=bearer(late))).json()
    assert [m["text"] for m in page["messages"]] == ["welcome"]
    await ws.close()


async def test_history_pages_both_ways(client: TestClient) -> None:
    alice, bob = await users(client, 2)
    chat_id = await direct(client, alice, bob)
    for n in range(7):
        resp = await client.post(
            f"/api/chats/{chat_id}/messages", json={"client_id": client_id(), "text": f"m{n}"}, headers=bearer(alice)
        )
        assert resp.status == 201
    newest = await (await client.get(f"/api/chats/{chat_id}/messages?limit=3", headers=bearer(bob))).json()
    assert [m["id"] for m in newest["messages"]] == [5, 6, 7]
    assert newest["has_more"] is True
    older = await (await client.get(f"/api/chats/{chat_id}/messages?limit=3&before=5", headers=bearer(bob))).json()
    assert [m["id"] for m in older["messages"]] == [2, 3, 4]
    forward = await (await client.get(f"/api/chats/{chat_id}/messages?limit=3&after=4", headers=bearer(bob))).json()
    assert [m["id"] for m in forward["messages"]] == [5, 6, 7]
    bad = await client.get(f"/api/chats/{chat_id}/messages?before=x", headers=bearer(bob))
    assert bad.status == 400


async def test_invite_links_expire_run_out_and_can_be_revoked(client: TestClient) -> None:
    owner, member, a, b, c = await users(client, 5)
    chat_id = await group(client, owner, [member])
    refused = await client.post(f"/api/chats/{chat_id}/invites", json={}, headers=bearer(member))
    assert refused.status == 403
    resp = await client.post(f"/api/chats/{chat_id}/invites", json={"max_uses": 1}, headers=bearer(owner))
    assert resp.status == 201
    invite = await resp.json()
    assert invite["state"] == "active"
    assert invite["code"] in invite["url"]
    preview = await (await client.get(f"/api/invites/{invite['code']}", headers=bearer(a))).json()
    assert preview["name"] == "Team"
    assert preview["members"] == 2
    joined = await client.post(f"/api/invites/{invite['code']}/join", headers=bearer(a))
    assert joined.status == 200
    assert uid(a) in [m["user_id"] for m in (await joined.json())["members"]]
    used_up = await client.post(f"/api/invites/{invite['code']}/join", headers=bearer(b))
    assert used_up.status == 410
    # Revoked links stop working.
    second = await (await client.post(f"/api/chats/{chat_id}/invites", json={}, headers=bearer(owner))).json()
    resp = await client.delete(f"/api/chats/{chat_id}/invites/{second['id']}", headers=bearer(owner))
    assert resp.status == 204
    assert (await client.post(f"/api/invites/{second['code']}/join", headers=bearer(c))).status == 410
    assert (await client.post("/api/invites/no-such-code/join", headers=bearer(c))).status == 404
    listed = await (await client.get(f"/api/chats/{chat_id}/invites", headers=bearer(owner))).json()
    assert [i["state"] for i in listed["invites"]] == ["used_up", "revoked"]
    bad = await client.post(f"/api/chats/{chat_id}/invites", json={"expires_in": 5}, headers=bearer(owner))
    assert (await bad.json())["error"]["field"] == "expires_in"


async def test_a_use_limit_holds_under_concurrent_joins(client: TestClient) -> None:
    owner, *joiners = await users(client, 6)
    chat_id = await group(client, owner, [])
    invite = await (
        await client.post(f"/api/chats/{chat_id}/invites", json={"max_uses": 2}, headers=bearer(owner))
    ).json()
    answers = await asyncio.gather(
        *(client.post(f"/api/invites/{invite['code']}/join", headers=bearer(j)) for j in joiners)
    )
    assert sorted(a.status for a in answers) == [200, 200, 410, 410, 410]
    view = await (await client.get(f"/api/chats/{chat_id}", headers=bearer(owner))).json()
    assert len(view["members"]) == 3


async def test_pin_mute_archive_follow_the_user_across_devices(client: TestClient) -> None:
    alice, bob = await users(client, 2)
    chat_id = await direct(client, alice, bob)
    other_device = await connect(client, alice, after_seq=0)
    resp = await client.patch(
        f"/api/chats/{chat_id}/settings",
        json={"pinned": True, "archived": True, "muted_until": 4e9},
        headers=bearer(alice),
    )
    assert resp.status == 200
    pushed = await other_device.wait_for("chat.settings")
    assert pushed[0]["archived"] is True
    assert pushed[0]["muted_until"] == 4e9
    assert pushed[0]["pinned_at"] is not None
    archived = await (await client.get("/api/chats?archived=true", headers=bearer(alice))).json()
    assert [c["id"] for c in archived["chats"]] == [chat_id]
    assert (await (await client.get("/api/chats?archived=false", headers=bearer(alice))).json())["chats"] == []
    # Bob's view is his own (he sees the chat from its first message on).
    said = {"client_id": client_id(), "text": "hi"}
    assert (await client.post(f"/api/chats/{chat_id}/messages", json=said, headers=bearer(alice))).status == 201
    bobs = await (await client.get("/api/chats", headers=bearer(bob))).json()
    assert bobs["chats"][0]["me"]["archived"] is False
    await other_device.close()


async def test_blocking_stops_direct_messages_both_ways(client: TestClient) -> None:
    alice, bob = await users(client, 2)
    chat_id = await direct(client, alice, bob)
    assert (await client.post("/api/blocks", json={"user_id": uid(bob)}, headers=bearer(alice))).status == 204
    listed = await (await client.get("/api/blocks", headers=bearer(alice))).json()
    assert [b["user_id"] for b in listed["blocks"]] == [uid(bob)]
    for sender in (bob, alice):
        resp = await client.post(
            f"/api/chats/{chat_id}/messages", json={"client_id": client_id(), "text": "hi"}, headers=bearer(sender)
        )
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "blocked"
    assert (await client.delete(f"/api/blocks/{uid(bob)}", headers=bearer(alice))).status == 204
    resp = await client.post(
        f"/api/chats/{chat_id}/messages", json={"client_id": client_id(), "text": "hi"}, headers=bearer(bob)
    )
    assert resp.status == 201


async def test_reports_reach_the_admin_queue_and_admins_act(client: TestClient) -> None:
    admin_email = new_email()
    await client.app[accounts_key].ensure_admin(email=admin_email, password=PASSWORD, display_name="Root")
    admin = await login(client, admin_email)
    alice, bob = await users(client, 2)
    chat_id = await direct(client, alice, bob)
    alice_ws = await connect(client, alice, after_seq=0)
    bob_ws = await connect(client, bob, after_seq=0)
    ids = []
    for text in ("spam spam", "more spam"):
        resp = await client.post(
            f"/api/chats/{chat_id}/messages", json={"client_id": client_id(), "text": text}, headers=bearer(bob)
        )
        ids.append((await resp.json())["id"])
    for message_id in ids:
        resp = await client.post(
            f"/api/chats/{chat_id}/messages/{message_id}/report", json={"reason": "spam"}, headers=bearer(alice)
        )
        assert resp.status == 201
    # A message you cannot see cannot be reported.
    outsider = await verified_user(client)
    hidden = await client.post(f"/api/chats/{chat_id}/messages/1/report", json={}, headers=bearer(outsider))
    assert hidden.status == 404
    # Only server admins see the queue, with the reported message.
    assert (await client.get("/api/admin/reports", headers=bearer(alice))).status == 403
    queue = await (await client.get("/api/admin/reports", headers=bearer(admin))).json()
    assert [(r["message"]["text"], r["reason"]) for r in queue["reports"]] == [
        ("spam spam", "spam"),
        ("more spam", "spam"),
    ]
    first, second = queue["reports"]
    resp = await client.post(
        f"/api/admin/reports/{first['id']}/resolve", json={"action": "delete_message"}, headers=bearer(admin)
    )
    assert (await resp.json())["resolution"] == "delete_message"
    deleted = await alice_ws.wait_for("message.deleted")
    assert deleted[0]["moderated"] is True
    resp = await client.post(
        f"/api/admin/reports/{second['id']}/resolve", json={"action": "suspend_sender"}, headers=bearer(admin)
    )
    assert resp.status == 200
    assert (await client.get("/api/me", headers=bearer(bob))).status == 401  # suspended: sessions ended
    assert await bob_ws.closed_by_server() == 4003  # and the open socket closes as a signed-out one
    assert (await (await client.get("/api/admin/reports", headers=bearer(admin))).json())["reports"] == []
    again = await client.post(
        f"/api/admin/reports/{second['id']}/resolve", json={"action": "dismiss"}, headers=bearer(admin)
    )
    assert again.status == 400
    await alice_ws.close()


async def test_presence_follows_the_privacy_setting(client: TestClient) -> None:
    alice, bob, stranger = await users(client, 3)
    await direct(client, alice, bob)
    watcher = await connect(client, alice, after_seq=0)
    followed = await watcher.ok("presence.follow", user_ids=[uid(bob)])
    assert followed["presence"] == [{"user_id": uid(bob), "online": False, "last_seen_at": None}]
    bob_ws = await connect(client, bob)
    online = await watcher.wait_for("presence", user_id=uid(bob), online=True)
    assert "seq" not in online[0]
    await bob_ws.close()
    offline = await watcher.wait_for("presence", user_id=uid(bob), online=False)
    assert offline[0]["last_seen_at"] is not None
    # "contacts": only people who share a chat with Bob see him.
    resp = await client.patch("/api/me/chat-settings", json={"presence": "contacts"}, headers=bearer(bob))
    assert (await resp.json()) == {"presence": "contacts", "push_previews": False}
    stranger_ws = await connect(client, stranger)
    assert (await stranger_ws.ok("presence.follow", user_ids=[uid(bob)]))["presence"] == [
        {"user_id": uid(bob), "hidden": True}
    ]
    # "nobody": no one sees it, not even contacts; those already following are told, and stop.
    await client.patch("/api/me/chat-settings", json={"presence": "nobody"}, headers=bearer(bob))
    await watcher.wait_for("presence", user_id=uid(bob), hidden=True)
    assert (await watcher.ok("presence.follow", user_ids=[uid(bob)]))["presence"][0]["hidden"] is True

    def onlines() -> int:
        return len([p for p in watcher.pushes if p["type"] == "presence" and p.get("online")])

    seen = onlines()
    await client.patch("/api/me/chat-settings", json={"presence": "everyone"}, headers=bearer(bob))
    again = await connect(client, bob)
    # Presence changes reach the watcher in order: once the stranger's later one is in, Bob's would be too.
    await watcher.ok("presence.follow", user_ids=[uid(stranger)])
    await stranger_ws.close()
    await watcher.wait_for("presence", user_id=uid(stranger), online=False)
    assert onlines() == seen  # no longer following: it takes a new follow to see it again
    await again.close()
    bad = await client.patch("/api/me/chat-settings", json={"presence": "friends"}, headers=bearer(bob))
    assert (await bad.json())["error"]["field"] == "presence"
    await watcher.close()


async def test_a_group_avatar_is_an_uploaded_image_every_member_can_fetch(client: TestClient) -> None:
    owner, member, late = await users(client, 3)
    chat_id = await group(client, owner, [member])
    photo = await uploaded(client, owner, chat_id, png(), name="team.png")
    document = await uploaded(client, owner, chat_id, PDF, name="notes.pdf")
    refused = await client.patch(f"/api/chats/{chat_id}", json={"avatar_id": document["id"]}, headers=bearer(owner))
    assert (await refused.json())["error"]["field"] == "avatar_id"
    resp = await client.patch(f"/api/chats/{chat_id}", json={"avatar_id": photo["id"]}, headers=bearer(owner))
    assert (await resp.json())["avatar_id"] == photo["id"]
    # Members who joined later see it too; outsiders do not.
    await client.post(f"/api/chats/{chat_id}/members", json={"user_ids": [uid(late)]}, headers=bearer(owner))
    for who in (member, late):
        assert (await client.get(f"/api/attachments/{photo['id']}", headers=bearer(who))).status == 200
    (outsider,) = await users(client, 1)
    assert (await client.get(f"/api/attachments/{photo['id']}", headers=bearer(outsider))).status == 404
    # A new avatar replaces it; the old one goes.
    newer = await uploaded(client, owner, chat_id, png((32, 32)), name="new.png")
    await client.patch(f"/api/chats/{chat_id}", json={"avatar_id": newer["id"]}, headers=bearer(owner))
    assert (await client.get(f"/api/attachments/{photo['id']}", headers=bearer(member))).status == 404
    assert (await client.get(f"/api/attachments/{newer['id']}", headers=bearer(member))).status == 200
