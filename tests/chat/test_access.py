"""Every chat route and command, tried by a non-member and (where an admin is needed) by a plain member.

A non-member gets exactly what they would get for a chat that does not exist, so the answer leaks nothing,
not even that the chat exists; and nothing changes.
"""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.chat.chatkit import client_id, connect, group, uid, users
from tests.helpers import bearer

MISSING = "0123456789abcdef01234567"  # shaped like a chat id, but no chat has it

# (method, path, body): every HTTP route that takes a chat.
ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/api/chats/{chat}", None),
    ("PATCH", "/api/chats/{chat}", {"name": "x"}),
    ("POST", "/api/chats/{chat}/members", {"user_ids": ["{other}"]}),
    ("DELETE", "/api/chats/{chat}/members/{member}", None),
    ("PATCH", "/api/chats/{chat}/members/{member}", {"role": "admin"}),
    ("POST", "/api/chats/{chat}/leave", None),
    ("PATCH", "/api/chats/{chat}/settings", {"pinned": True}),
    ("GET", "/api/chats/{chat}/messages", None),
    ("POST", "/api/chats/{chat}/messages", {"client_id": "{cid}", "text": "x"}),
    ("PATCH", "/api/chats/{chat}/messages/1", {"text": "x"}),
    ("DELETE", "/api/chats/{chat}/messages/1?for=everyone", None),
    ("PUT", "/api/chats/{chat}/messages/1/reactions/👍", None),
    ("DELETE", "/api/chats/{chat}/messages/1/reactions/👍", None),
    ("POST", "/api/chats/{chat}/read", {"message_id": 1}),
    ("GET", "/api/chats/{chat}/messages/1/readers", None),
    ("POST", "/api/chats/{chat}/messages/1/report", {"reason": "x"}),
    ("POST", "/api/chats/{chat}/invites", {}),
    ("GET", "/api/chats/{chat}/invites", None),
    ("DELETE", "/api/chats/{chat}/invites/whatever", None),
]

# (type, fields): every WebSocket command that takes a chat.
COMMANDS: list[tuple[str, dict[str, Any]]] = [
    ("message.send", {"client_id": "{cid}", "text": "x"}),
    ("message.edit", {"message_id": 1, "text": "x"}),
    ("message.delete", {"message_id": 1, "for_everyone": True}),
    ("message.react", {"message_id": 1, "emoji": "👍"}),
    ("chat.read", {"message_id": 1}),
    ("chat.delivered", {"message_id": 1}),
    ("chat.typing", {}),
]

# Routes that need a group admin (or the owner), with a plain member calling.
ADMIN_ONLY: list[tuple[str, str, Any]] = [
    ("PATCH", "/api/chats/{chat}", {"name": "x"}),
    ("POST", "/api/chats/{chat}/members", {"user_ids": ["{other}"]}),
    ("DELETE", "/api/chats/{chat}/members/{member}", None),
    ("PATCH", "/api/chats/{chat}/members/{member}", {"role": "admin"}),
    ("POST", "/api/chats/{chat}/invites", {}),
    ("GET", "/api/chats/{chat}/invites", None),
    ("DELETE", "/api/chats/{chat}/invites/whatever", None),
]


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, real in names.items():
            value = value.replace("{" + key + "}", real)
        return value
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


async def test_non_members_learn_nothing_from_any_route(client: TestClient) -> None:
    owner, member, outsider, other = await users(client, 4)
    chat_id = await group(client, owner, [member])
    ws = await connect(client, owner, after_seq=0)
    await ws.ok("message.send", chat_id=chat_id, client_id=client_id(), text="private")
    for method, path, body in ROUTES:
        answers = []
        for chat in (chat_id, MISSING):
            names = {"chat": chat, "member": uid(member), "other": uid(other), "cid": client_id()}
            resp = await client.request(method, _fill(path, names), json=_fill(body, names), headers=bearer(outsider))
            answers.append((resp.status, await resp.json()))
        assert answers[0][0] == 404, (method, path, answers[0])
        assert answers[0] == answers[1], (method, path, answers)  # the real chat answers like a missing one
    # Nothing changed: the chat, its members and its one message are as they were.
    view = await (await client.get(f"/api/chats/{chat_id}", headers=bearer(owner))).json()
    assert view["name"] == "Team"
    assert {m["user_id"] for m in view["members"]} == {uid(owner), uid(member)}
    page = await (await client.get(f"/api/chats/{chat_id}/messages", headers=bearer(owner))).json()
    assert [(m["text"], m.get("reactions")) for m in page["messages"]] == [("private", None)]
    await ws.close()


async def test_non_members_learn_nothing_from_any_command(client: TestClient) -> None:
    owner, outsider = await users(client, 2)
    chat_id = await group(client, owner, [])
    e2e_chat = await group(client, owner, [], e2e=True)  # text would be the wrong field here: still not told
    owner_ws = await connect(client, owner, after_seq=0)
    await owner_ws.ok("message.send", chat_id=chat_id, client_id=client_id(), text="private")
    # Both chats are now known to the process (sends to them skip the membership read): still not told.
    await owner_ws.ok("message.send", chat_id=e2e_chat, client_id=client_id(), ciphertext="c2VjcmV0")
    ws = await connect(client, outsider, after_seq=0)
    for kind, fields in COMMANDS:
        answers = []
        for chat in (chat_id, e2e_chat, MISSING):
            reply = await ws.call(kind, chat_id=chat, **_fill(fields, {"cid": client_id()}))
            assert reply["type"] == "error", (kind, reply)
            answers.append(reply["error"])
        assert answers[0] == answers[1] == answers[2], (kind, answers)
        assert answers[0]["code"] == "chat_not_found"
    following = await ws.ok("presence.follow", user_ids=[uid(owner)])  # allowed: presence is per user, not chat
    assert following["presence"][0]["user_id"] == uid(owner)
    await owner_ws.close()
    await ws.close()
    # The owner's log holds only what the owner did.
    back = await connect(client, owner)
    await back.ok("sync", after_seq=0)
    assert [p["type"] for p in back.pushes if "seq" in p] == ["chat.created", "chat.created", *["message.new"] * 2]
    await back.close()


async def test_plain_members_cannot_do_what_admins_do(client: TestClient) -> None:
    owner, member, victim, other = await users(client, 4)
    chat_id = await group(client, owner, [member, victim])
    for method, path, body in ADMIN_ONLY:
        names = {"chat": chat_id, "member": uid(victim), "other": uid(other), "cid": client_id()}
        resp = await client.request(method, _fill(path, names), json=_fill(body, names), headers=bearer(member))
        assert resp.status == 403, (method, path, resp.status)
        assert (await resp.json())["error"]["code"] == "forbidden"
    view = await (await client.get(f"/api/chats/{chat_id}", headers=bearer(owner))).json()
    assert {m["user_id"]: m["role"] for m in view["members"]} == {
        uid(owner): "owner",
        uid(member): "member",
        uid(victim): "member",
    }
    # A plain member may not delete someone else's message for everyone either.
    ws = await connect(client, owner, after_seq=0)
    sent = await ws.ok("message.send", chat_id=chat_id, client_id=client_id(), text="keep")
    member_ws = await connect(client, member)
    reply = await member_ws.call("message.delete", chat_id=chat_id, message_id=sent["id"], for_everyone=True)
    assert reply["error"]["code"] == "forbidden"
    await ws.close()
    await member_ws.close()
