"""Messaging over the WebSocket: delivery to every device with a per-user seq, idempotent sends, resume,
edits, deletes, reactions, receipts and typing."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import RateLimit
from server.keys import connections_key
from server.realtime.connections import Connection
from tests.chat.chatkit import client_id, connect, direct, group, uid, users
from tests.helpers import bearer, login


async def test_a_message_reaches_every_device_of_every_member_in_order(client: TestClient) -> None:
    alice, bob, carol = await users(client, 3)
    chat_id = await group(client, alice, [bob, carol])
    alice_phone = await connect(client, alice, after_seq=0)
    alice_laptop = await connect(client, await login(client, alice["user"]["email"]), after_seq=0)
    bob_ws = await connect(client, bob, after_seq=0)
    carol_ws = await connect(client, carol, after_seq=0)

    sent = [
        await alice_phone.ok("message.send", chat_id=chat_id, client_id=client_id(), text=f"hi {n}") for n in range(3)
    ]
    assert [m["id"] for m in sent] == [1, 2, 3]
    assert all(m["sender_id"] == uid(alice) and not m["duplicate"] for m in sent)

    for peer in (alice_phone, alice_laptop, bob_ws, carol_ws):
        got = await peer.wait_for("message.new", 3)
        assert [p["message"]["text"] for p in got] == ["hi 0", "hi 1", "hi 2"]
        seqs = [p["seq"] for p in got]
        assert seqs == list(range(seqs[0], seqs[0] + 3))  # consecutive: nothing missed, nothing twice
    # Both of Alice's devices see the same seqs: they are the user's, not the connection's.
    assert [p["seq"] for p in alice_phone.pushes if p["type"] == "message.new"] == [
        p["seq"] for p in alice_laptop.pushes if p["type"] == "message.new"
    ]
    for peer in (alice_phone, alice_laptop, bob_ws, carol_ws):
        await peer.close()


async def test_a_resend_with_the_same_client_id_returns_the_original(client: TestClient) -> None:
    alice, bob = await users(client, 2)
    chat_id = await direct(client, alice, bob)
    alice_ws = await connect(client, alice, after_seq=0)
    bob_ws = await connect(client, bob, after_seq=0)
    cid = client_id()
    first = await alice_ws.ok("message.send", chat_id=chat_id, client_id=cid, text="once")
    again = await alice_ws.ok("message.send", chat_id=chat_id, client_id=cid, text="once")
    assert again["id"] == first["id"]
    assert again["duplicate"] is True
    # Two resends racing each other still make one message.
    racing = await asyncio.gather(
        *(alice_ws.ok("message.send", chat_id=chat_id, client_id=(c := client_id()), text="race") for _ in range(1)),
        alice_ws.ok("message.send", chat_id=chat_id, client_id=c, text="race"),
    )
    assert racing[0]["id"] == racing[1]["id"]
    await bob_ws.wait_for("message.new", 2)
    # Events reach Bob in seq order: once a later one is in, any third message would be too.
    await alice_ws.ok("message.react", chat_id=chat_id, message_id=first["id"], emoji="👍")
    await bob_ws.wait_for("reaction")
    assert len([p for p in bob_ws.pushes if p["type"] == "message.new"]) == 2
    page = await (await client.get(f"/api/chats/{chat_id}/messages", headers=bearer(bob))).json()
    assert [m["text"] for m in page["messages"]] == ["once", "race"]
    await alice_ws.close()
    await bob_ws.close()


async def test_a_reconnecting_client_gets_exactly_what_it_missed(client: TestClient) -> None:
    alice, bob = await users(client, 2)
    chat_id = await group(client, alice, [bob])
    bob_ws = await connect(client, bob, after_seq=0)
    alice_ws = await connect(client, alice, after_seq=0)
    await alice_ws.ok("message.send", chat_id=chat_id, client_id=client_id(), text="before")
    seen = await bob_ws.wait_for("message.new")
    last_seen = seen[0]["seq"]
    await bob_ws.close()

    await alice_ws.ok("message.send", chat_id=chat_id, client_id=client_id(), text="while away 1")
    second = await alice_ws.ok("message.send", chat_id=chat_id, client_id=client_id(), text="while away 2")
    await alice_ws.ok("message.edit", chat_id=chat_id, message_id=second["id"], text="while away 2 (fixed)")
    await alice_ws.ok("message.react", chat_id=chat_id, message_id=1, emoji="👍")

    back = await connect(client, bob)
    result = await back.ok("sync", after_seq=last_seen)
    assert result["more"] is False
    assert result["reset"] is False
    missed = [p for p in back.pushes if "seq" in p]
    assert [p["seq"] for p in missed] == list(range(last_seen + 1, last_seen + 1 + len(missed)))
    assert [p["type"] for p in missed] == ["message.new", "message.new", "message.edited", "reaction"]
    assert missed[-1]["emoji"] == "👍"
    assert result["last_seq"] == missed[-1]["seq"]
    # Live events carry on from there, with no duplicates.
    await alice_ws.ok("message.send", chat_id=chat_id, client_id=client_id(), text="live again")
    live = await back.wait_for("message.new", 3)
    assert live[-1]["message"]["text"] == "live again"
    assert live[-1]["seq"] == result["last_seq"] + 1
    # A client claiming seqs this account never had is told to reload.
    assert (await back.ok("sync", after_seq=10_000))["reset"] is True
    await back.close()
    await alice_ws.close()


async def test_edits_deletes_and_reactions(client: TestClient) -> None:
    alice, bob = await users(client, 2)
    chat_id = await group(client, alice, [bob])
    alice_ws = await connect(client, alice, after_seq=0)
    bob_ws = await connect(client, bob, after_seq=0)
    mine = await bob_ws.ok("message.send", chat_id=chat_id, client_id=client_id(), text="typo")
    edited = await bob_ws.ok("message.edit", chat_id=chat_id, message_id=mine["id"], text="fixed")
    assert edited["edited"] is True
    assert edited["text"] == "fixed"
    # Only the sender edits.
    refused = await alice_ws.call("message.edit", chat_id=chat_id, message_id=mine["id"], text="hijack")
    assert refused["error"]["code"] == "forbidden"

    await alice_ws.ok("message.react", chat_id=chat_id, message_id=mine["id"], emoji="🎉")
    page = await (await client.get(f"/api/chats/{chat_id}/messages", headers=bearer(bob))).json()
    assert page["messages"][0]["reactions"] == {"🎉": [uid(alice)]}
    assert page["messages"][0]["text"] == "fixed"

    # Delete for me hides it from me only.
    await alice_ws.ok("message.delete", chat_id=chat_id, message_id=mine["id"])
    alice_page = await (await client.get(f"/api/chats/{chat_id}/messages", headers=bearer(alice))).json()
    assert alice_page["messages"] == []
    bob_page = await (await client.get(f"/api/chats/{chat_id}/messages", headers=bearer(bob))).json()
    assert len(bob_page["messages"]) == 1

    # Delete for everyone: the sender may (the owner may too, as moderator); the content is gone for all.
    other = await alice_ws.ok("message.send", chat_id=chat_id, client_id=client_id(), text="secret")
    refused = await bob_ws.call("message.delete", chat_id=chat_id, message_id=other["id"], for_everyone=True)
    assert refused["error"]["code"] == "forbidden"
    await bob_ws.ok("message.delete", chat_id=chat_id, message_id=mine["id"], for_everyone=True)
    deleted = await alice_ws.wait_for("message.deleted")
    assert deleted[0]["message_id"] == mine["id"]
    bob_page = await (await client.get(f"/api/chats/{chat_id}/messages", headers=bearer(bob))).json()
    gone = next(m for m in bob_page["messages"] if m["id"] == mine["id"])
    assert gone["deleted"] is True
    assert gone["text"] is None
    assert "reactions" not in gone
    await alice_ws.close()
    await bob_ws.close()


async def test_receipts_unread_counts_and_readers(client: TestClient) -> None:
    alice, bob, carol = await users(client, 3)
    chat_id = await group(client, alice, [bob, carol])
    alice_ws = await connect(client, alice, after_seq=0)
    bob_ws = await connect(client, bob, after_seq=0)
    for n in range(3):
        await alice_ws.ok("message.send", chat_id=chat_id, client_id=client_id(), text=f"m{n}")
    chats = (await (await client.get("/api/chats", headers=bearer(bob))).json())["chats"]
    assert chats[0]["unread"] == 3
    assert chats[0]["last_message"]["text"] == "m2"
    await bob_ws.ok("chat.delivered", chat_id=chat_id, message_id=3)
    result = await bob_ws.ok("chat.read", chat_id=chat_id, message_id=2)
    assert result["read_id"] == 2
    assert result["delivered_id"] == 3
    receipt = await alice_ws.wait_for("chat.read")
    assert receipt[0]["user_id"] == uid(bob)
    assert receipt[0]["message_id"] == 2
    chats = (await (await client.get("/api/chats", headers=bearer(bob))).json())["chats"]
    assert chats[0]["unread"] == 1
    readers = await (await client.get(f"/api/chats/{chat_id}/messages/2/readers", headers=bearer(alice))).json()
    assert readers == {"read_by": [uid(bob)], "delivered_to": [uid(bob)]}
    # A pointer never moves back, and never past the last message.
    assert (await bob_ws.ok("chat.read", chat_id=chat_id, message_id=1))["read_id"] == 2
    assert (await bob_ws.ok("chat.read", chat_id=chat_id, message_id=99))["read_id"] == 3
    await alice_ws.close()
    await bob_ws.close()


async def test_typing_reaches_the_others_throttled_and_without_seq(client: TestClient) -> None:
    alice, bob = await users(client, 2)
    chat_id = await direct(client, alice, bob)
    said = {"client_id": client_id(), "text": "hi"}  # before it, Bob does not know of the chat
    assert (await client.post(f"/api/chats/{chat_id}/messages", json=said, headers=bearer(alice))).status == 201
    alice_ws = await connect(client, alice, after_seq=0)
    bob_ws = await connect(client, bob, after_seq=0)
    assert (await alice_ws.ok("chat.typing", chat_id=chat_id))["sent"] is True
    assert (await alice_ws.ok("chat.typing", chat_id=chat_id))["sent"] is False  # throttled
    typing = await bob_ws.wait_for("typing")
    assert typing[0]["user_id"] == uid(alice)
    assert typing[0]["expires_in"] > 0
    assert "seq" not in typing[0]
    # Typing reaches Alice in order: once Bob's later typing is in, her own would be too.
    assert (await bob_ws.ok("chat.typing", chat_id=chat_id))["sent"] is True
    await alice_ws.wait_for("typing", user_id=uid(bob))
    assert [p["user_id"] for p in alice_ws.pushes if p["type"] == "typing"] == [uid(bob)]
    await alice_ws.close()
    await bob_ws.close()


async def test_bad_frames_name_the_problem_and_store_nothing(client: TestClient) -> None:
    alice, bob = await users(client, 2)
    chat_id = await direct(client, alice, bob)
    ws = await connect(client, alice, after_seq=0)
    cases = [
        ({"chat_id": chat_id, "client_id": client_id(), "text": 5}, "text"),
        ({"chat_id": chat_id, "client_id": "not-a-uuid", "text": "x"}, "client_id"),
        ({"chat_id": chat_id, "client_id": client_id()}, "text"),
        ({"chat_id": chat_id, "client_id": client_id(), "text": "x" * 4001}, "text"),
        ({"chat_id": chat_id, "client_id": client_id(), "text": "   "}, "text"),
        ({"chat_id": chat_id, "client_id": client_id(), "text": "x", "reply_to": 7}, "reply_to"),
        ({"chat_id": chat_id, "client_id": client_id(), "text": "x", "colour": "red"}, "colour"),
        ({"chat_id": 12, "client_id": client_id(), "text": "x"}, "chat_id"),
    ]
    for fields, field in cases:
        reply = await ws.call("message.send", **fields)
        assert reply["type"] == "error", (fields, reply)
        assert reply["error"].get("field") == field, (fields, reply)
    # The connection is still open and nothing was stored.
    assert (await ws.call("ping"))["type"] == "pong"
    page = await (await client.get(f"/api/chats/{chat_id}/messages", headers=bearer(alice))).json()
    assert page["messages"] == []
    assert page["last_message_id"] == 0
    await ws.close()


async def test_end_to_end_chats_carry_ciphertext_untouched(client: TestClient) -> None:
    alice, bob = await users(client, 2)
    chat_id = await direct(client, alice, bob, e2e=True)
    alice_ws = await connect(client, alice, after_seq=0)
    bob_ws = await connect(client, bob, after_seq=0)
    refused = await alice_ws.call("message.send", chat_id=chat_id, client_id=client_id(), text="plain")
    assert refused["error"]["field"] == "ciphertext"
    refused = await alice_ws.call("message.send", chat_id=chat_id, client_id=client_id(), ciphertext="not base64!")
    assert refused["error"]["field"] == "ciphertext"
    blob = "q83vASNFZ4mrze8BI0VniQ=="
    sent = await alice_ws.ok("message.send", chat_id=chat_id, client_id=client_id(), ciphertext=blob)
    assert sent["ciphertext"] == blob
    assert "text" not in sent
    got = await bob_ws.wait_for("message.new")
    assert got[0]["message"]["ciphertext"] == blob
    await alice_ws.close()
    await bob_ws.close()


async def test_replies_forwards_and_mentions(client: TestClient) -> None:
    alice, bob, carol = await users(client, 3)
    team = await group(client, alice, [bob, carol])
    other = await direct(client, bob, carol)
    alice_ws = await connect(client, alice, after_seq=0)
    bob_ws = await connect(client, bob, after_seq=0)
    first = await alice_ws.ok("message.send", chat_id=team, client_id=client_id(), text="who's in?")
    reply = await bob_ws.ok(
        "message.send", chat_id=team, client_id=client_id(), text="me", reply_to=first["id"], mentions=[uid(alice)]
    )
    assert reply["reply_to"] == first["id"]
    assert reply["mentions"] == [uid(alice)]
    # Bob forwards Alice's message to Carol: the forward names Alice and when she wrote it.
    forwarded = await bob_ws.ok(
        "message.send", chat_id=other, client_id=client_id(), forward={"chat_id": team, "message_id": first["id"]}
    )
    assert forwarded["text"] == "who's in?"
    assert forwarded["forward"] == {"sender_id": uid(alice), "created_at": first["created_at"]}
    # A forward of a forward still names the first sender.
    again = await bob_ws.ok(
        "message.send", chat_id=team, client_id=client_id(), forward={"chat_id": other, "message_id": forwarded["id"]}
    )
    assert again["forward"]["sender_id"] == uid(alice)
    # Only what you can see can be forwarded.
    (dave,) = await users(client, 1)
    dave_chat = await direct(client, dave, bob)
    dave_ws = await connect(client, dave)
    refused = await dave_ws.call(
        "message.send", chat_id=dave_chat, client_id=client_id(), forward={"chat_id": team, "message_id": 1}
    )
    assert refused["error"]["code"] == "chat_not_found"
    refused = await bob_ws.call(
        "message.send", chat_id=team, client_id=client_id(), text="x", forward={"chat_id": other, "message_id": 1}
    )
    assert refused["error"]["field"] == "forward"
    for peer in (alice_ws, bob_ws, dave_ws):
        await peer.close()


async def test_sending_too_fast_is_refused_with_when_to_retry(aiohttp_client: Any, make_settings: Any) -> None:
    client = await aiohttp_client(create_app(make_settings(rate_chat_send=RateLimit(3, 60))))
    alice, bob = await users(client, 2)
    chat_id = await direct(client, alice, bob)
    ws = await connect(client, alice, after_seq=0)
    for n in range(3):
        await ws.ok("message.send", chat_id=chat_id, client_id=client_id(), text=f"m{n}")
    refused = await ws.call("message.send", chat_id=chat_id, client_id=client_id(), text="one too many")
    assert refused["error"]["code"] == "rate_limited"
    assert "retry after" in refused["error"]["message"]
    assert (await ws.call("ping"))["type"] == "pong"  # still connected
    page = await (await client.get(f"/api/chats/{chat_id}/messages", headers=bearer(bob))).json()
    assert len(page["messages"]) == 3
    await ws.close()


def server_side(client: TestClient, user_id: str) -> list[Connection]:
    return [c for c in client.app[connections_key]._connections if c.user_id == user_id]


@pytest.mark.timeout(90)
async def test_a_client_that_stops_reading_is_closed_and_others_carry_on(
    aiohttp_client: Any, make_settings: Any
) -> None:
    # A small output limit (the setting; 512 KiB by default), so a few dozen messages fill it.
    settings = make_settings(rate_chat_send=RateLimit(100_000, 60), ws_max_buffered_bytes=64 << 10)
    client = await aiohttp_client(create_app(settings))
    alice, bob = await users(client, 2)
    chat_id = await direct(client, alice, bob)
    stuck = await client.ws_connect("/ws")  # a device that stops reading after auth
    await stuck.send_json({"type": "auth", "id": 1, "token": bob["access_token"]})
    await stuck.receive_json()
    (server_end,) = server_side(client, uid(bob))
    # Small socket buffers on both ends, so the server's output limit is what fills, not the kernel's.
    client_transport = stuck._conn.transport
    server_transport = server_end.ws._req.transport
    assert client_transport is not None
    assert server_transport is not None
    client_transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    server_transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    client_transport.pause_reading()
    reader = await connect(client, bob, after_seq=0)
    sender = await connect(client, alice, after_seq=0)
    text = "x" * 1000
    sent = 0
    while sent < 1000 and server_end.closed_reason is None:
        await asyncio.gather(
            *(sender.ok("message.send", chat_id=chat_id, client_id=client_id(), text=text) for _ in range(10))
        )
        sent += 10
    assert server_end.closed_reason is not None, "the server kept a socket that stopped reading"
    assert "too slow" in server_end.closed_reason
    # Once it reads again, the device finds the connection closed with 4008, or cut (1006) when the close
    # frame could not get through the full socket in time. (Usual buffers again first: through 4 KiB ones the
    # backlog trickles at one delayed ACK per few KiB.)
    for transport, option in ((client_transport, socket.SO_RCVBUF), (server_transport, socket.SO_SNDBUF)):
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.fileno() >= 0:
            sock.setsockopt(socket.SOL_SOCKET, option, 1 << 20)
    client_transport.resume_reading()
    while (await asyncio.wait_for(stuck.receive(), 30)).type not in (
        aiohttp.WSMsgType.CLOSE,
        aiohttp.WSMsgType.CLOSED,
        aiohttp.WSMsgType.ERROR,
    ):
        pass
    assert stuck.close_code in (4008, 1006), stuck.close_code
    # The healthy device got everything, in order, once each.
    got = await reader.wait_for("message.new", sent, timeout=30)
    seqs = [p["seq"] for p in got]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    await reader.close()
    await sender.close()


async def test_concurrent_sends_across_chats_keep_ids_and_seqs_gap_free(
    aiohttp_client: Any, make_settings: Any
) -> None:
    client = await aiohttp_client(create_app(make_settings(rate_chat_send=RateLimit(100_000, 60))))
    alice, bob, carol = await users(client, 3)
    chats = [
        await group(client, alice, [bob, carol]),
        await direct(client, alice, bob),
        await direct(client, bob, carol),
    ]
    senders = {chats[0]: [alice, bob, carol], chats[1]: [alice, bob], chats[2]: [bob, carol]}
    peers = {uid(u): await connect(client, u, after_seq=0) for u in (alice, bob, carol)}
    frames = []
    for chat_id, members in senders.items():
        for n in range(30):
            sender = members[n % len(members)]
            frames.append((sender, {"chat_id": chat_id, "client_id": client_id(), "text": f"{chat_id[:4]} {n}"}))
    frames += frames[:10]  # resends of the first ten, racing the originals
    replies = await asyncio.gather(*(peers[uid(s)].ok("message.send", **f) for s, f in frames))
    for original, resend in zip(replies[:10], replies[90:], strict=True):
        assert original["id"] == resend["id"]  # one message, whichever of the two landed first
        assert [original["duplicate"], resend["duplicate"]].count(True) == 1
    for chat_id in chats:
        ids = sorted({r["id"] for r in replies if r["chat_id"] == chat_id})
        assert ids == list(range(1, 31)), chat_id
    # Every device saw its user's events with seqs 1, 2, 3... and no message twice.
    for user in (alice, bob, carol):
        peer = peers[uid(user)]
        expected = sum(30 for chat_id, members in senders.items() if user in members)
        got = await peer.wait_for("message.new", expected)
        seqs = peer.seqs()
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert len({(p["chat_id"], p["message"]["id"]) for p in got}) == expected
    for peer in peers.values():
        await peer.close()


async def test_mentions_name_members_only(client: TestClient) -> None:
    alice, bob, stranger = await users(client, 3)
    team = await group(client, alice, [bob])
    alice_ws = await connect(client, alice, after_seq=0)
    bob_ws = await connect(client, bob, after_seq=0)
    for mentions in ([uid(stranger)], [uid(bob), uid(stranger)], ["no-such-user"]):
        refused = await alice_ws.call("message.send", chat_id=team, client_id=client_id(), text="hi", mentions=mentions)
        assert refused["error"]["field"] == "mentions", refused
    # Nothing was sent: Bob's first message is the one with a member's mention.
    sent = await alice_ws.ok("message.send", chat_id=team, client_id=client_id(), text="@bob", mentions=[uid(bob)])
    assert sent["mentions"] == [uid(bob)]
    got = await bob_ws.wait_for("message.new")
    assert [f["message"]["text"] for f in got] == ["@bob"]
    await alice_ws.close()
    await bob_ws.close()
