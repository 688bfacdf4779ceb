"""A group's events are stored once for the chat and numbered into each member's log: through joins, removals,
rejoins and leaves in the middle of a conversation, every member's log stays gapless, holds exactly the events
of their time in the group, and reads back (sync from 0) as it was pushed live."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from server.keys import database_key
from tests.chat.chatkit import Peer, client_id, connect, group, uid, users
from tests.helpers import bearer


def summary(frames: list[dict[str, Any]], chat_id: str) -> list[tuple[int, str, Any]]:
    """(seq, type, what) of a user's frames of the chat: the message's text, or the member an event names."""
    out = []
    for frame in frames:
        if frame.get("chat_id") != chat_id or "seq" not in frame:
            continue
        what = frame.get("message", {}) or {}
        out.append((frame["seq"], frame["type"], what.get("text", frame.get("user_id"))))
    return out


async def test_members_hear_exactly_their_windows(client: TestClient) -> None:
    alice, bob, carol = await users(client, 3)
    chat_id = await group(client, alice, [bob, carol])
    live = {
        name: await connect(client, who, after_seq=0)
        for name, who in (("alice", alice), ("bob", bob), ("carol", carol))
    }
    sent: list[str] = []

    async def say(who: dict[str, Any], text: str) -> None:
        peer = await connect(client, who)
        await peer.ok("message.send", chat_id=chat_id, client_id=client_id(), text=text)
        sent.append(text)
        await peer.close()

    async def members(method: str, path: str, body: Any = None, by: dict[str, Any] = alice) -> None:
        resp = await client.request(method, f"/api/chats/{chat_id}{path}", json=body, headers=bearer(by))
        assert resp.status in (200, 201, 204), await resp.text()

    for n in range(3):
        await say(alice, f"before-{n}")
    await members("DELETE", f"/members/{uid(carol)}")  # carol removed mid-conversation
    await say(alice, "carol-away-0")
    await say(bob, "carol-away-1")
    await members("POST", "/members", {"user_ids": [uid(carol)]})  # and added back
    await say(carol, "carol-back")
    await members("POST", "/leave", by=bob)  # bob leaves
    await say(alice, "bob-gone")
    await say(carol, "last")

    expected = {
        "alice": list(sent),
        "bob": [t for t in sent if t not in ("bob-gone", "last")],
        "carol": [t for t in sent if not t.startswith("carol-away")],
    }
    for name, who in (("alice", alice), ("bob", bob), ("carol", carol)):
        peer: Peer = live[name]
        texts = expected[name]
        await peer.wait_for("message.new", len(texts), chat_id=chat_id)
        pushed = summary(peer.pushes, chat_id)
        # Synced from 0 on a new socket: the same events, with the same seqs.
        fresh = await connect(client, who, after_seq=0)
        seqs = fresh.seqs()
        assert seqs == list(range(1, len(seqs) + 1)), f"{name}'s log has a gap or a repeat: {seqs}"
        synced = summary(fresh.pushes, chat_id)
        assert [s for s in synced if s[1] != "message.new"] == [p for p in pushed if p[1] != "message.new"], name
        assert [s[0] for s in synced] == [p[0] for p in pushed], name
        # Live, each message of their windows once, in order; read back, those they may still read.
        assert [p[2] for p in pushed if p[1] == "message.new"] == texts, name
        await fresh.close()
    # What carol missed while away and what bob missed after leaving: in no frame of theirs.
    assert not [p for p in live["carol"].pushes if "carol-away" in str(p)]
    assert not [p for p in live["bob"].pushes if "bob-gone" in str(p) or "'last'" in str(p)]
    # Stored once for the chat: a row per message in the chat's stream, whatever the number of members.
    db = client.app[database_key]
    assert await db.fetchval(
        "SELECT COALESCE(SUM(span), 0) FROM chat_events WHERE chat_id = $1 AND kind = 'message.new'", chat_id
    ) == len(sent)
    for peer in live.values():
        await peer.close()
