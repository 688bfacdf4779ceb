"""Messages written in one batch are one row of their chat's stream (a run of positions), and no row per member,
yet every reader of a user's log sees one event per seq: live, in a sync from any seq, in pages of any size, and
after leaving."""

from __future__ import annotations

import asyncio
from typing import Any

from server.app import create_app
from server.events.appkeys import event_log_key
from server.keys import database_key
from server.storage.events import NewEvent
from tests.chat.chatkit import client_id, connect, direct, group, uid, users
from tests.helpers import bearer


async def test_a_batch_of_messages_reads_back_one_event_per_seq(aiohttp_client: Any, make_settings: Any) -> None:
    # The ten sends below are written together: a batch is written once it holds ten rows (not after a delay).
    client = await aiohttp_client(create_app(make_settings(batch_max_rows=10, batch_max_delay_ms=60_000)))
    alice, bob, carol = await users(client, 3)
    group_id = await group(client, alice, [bob, carol])
    direct_id = await direct(client, alice, bob)
    live = await connect(client, bob, after_seq=0)
    start = max(live.seqs(), default=0)
    plan = [(alice, group_id)] * 4 + [(alice, direct_id)] + [(carol, group_id)] * 3 + [(alice, group_id)] * 2
    assert len(plan) == 10
    # A socket of its own for each send (a socket's commands run one after another), so all ten wait together.
    senders = [await connect(client, who) for who, _ in plan]
    texts = [f"m{n}" for n in range(len(plan))]
    await asyncio.gather(
        *(
            peer.ok("message.send", chat_id=chat, client_id=client_id(), text=t)
            for peer, (_, chat), t in zip(senders, plan, texts, strict=True)
        )
    )
    db = client.app[database_key]
    assert await db.fetchval("SELECT max(span) FROM chat_events") > 1, "the sends were not written as runs"

    # Live: every message once, seqs one after another.
    pushed = await live.wait_for("message.new", len(plan))
    assert [p["seq"] for p in pushed] == list(range(start + 1, start + 1 + len(plan)))
    assert sorted(p["message"]["text"] for p in pushed) == sorted(texts)
    by_seq = {p["seq"]: (p["chat_id"], p["message"]["id"], p["message"]["text"]) for p in pushed}

    # The log, read from every seq, in pages of every size, up to every bound: the same events.
    log = client.app[event_log_key]
    last = start + len(plan)
    for after in range(start, last + 1):
        for limit in (1, 2, 3, 7, 50):
            for upto in (None, last - 1, after + 2):
                frames = await log.frames_after(uid(bob), after, limit, upto)
                end = last if upto is None else min(upto, last)
                want = list(range(after + 1, end + 1))[:limit]
                assert [f["seq"] for f in frames] == want, (after, limit, upto)
                for frame in frames:
                    assert frame["message"] is not None
                    message = frame["message"]
                    assert (frame["chat_id"], message["id"], message["text"]) == by_seq[frame["seq"]]

    # A device that was away syncs from the middle of a run and gets exactly the rest.
    away = await connect(client, bob, after_seq=start + 2)
    rest = await away.wait_for("message.new", len(plan) - 2)
    assert [p["seq"] for p in rest] == list(range(start + 3, last + 1))

    # After leaving, carol's log keeps its seqs (without the messages, which are no longer hers to read).
    carol_events = await log.frames_after(uid(carol), 0, 1000)
    carol_seqs = [f["seq"] for f in carol_events]
    assert carol_seqs == list(range(1, len(carol_seqs) + 1))
    resp = await client.post(f"/api/chats/{group_id}/leave", headers=bearer(carol))
    assert resp.status == 204, await resp.text()
    after_leaving = await log.frames_after(uid(carol), 0, 1000)
    assert [f["seq"] for f in after_leaving][: len(carol_seqs)] == carol_seqs
    gone = [f for f in after_leaving if f["type"] == "message.new" and f["chat_id"] == group_id]
    assert len(gone) == len(plan) - 1
    assert all(f["message"] is None for f in gone)
    stored = await log.repo.read(uid(carol), 0, 1000)
    gone_ids = [e.message_id for e in stored if e.kind == "message.new" and e.chat_id == group_id]
    assert gone_ids == list(range(1, len(gone) + 1))
    for peer in (live, away, *senders):
        await peer.close()


async def test_concurrent_changes_to_overlapping_users_keep_each_log_gap_free(
    aiohttp_client: Any, make_settings: Any
) -> None:
    # Two changes at once, each giving some users more events than others: each user's seqs still run 1, 2,
    # 3... (on PostgreSQL both transactions lock the users' counters, all in one order).
    client = await aiohttp_client(create_app(make_settings()))
    a, b, c = (uid(u) for u in await users(client, 3))
    repo, db = client.app[event_log_key].repo, client.app[database_key]

    async def change(plan: list[str]) -> list[int]:
        async with db.transaction() as tx:
            events = [NewEvent(user, "chat.settings", None, payload={"n": n}) for n, user in enumerate(plan)]
            seqs = await repo.append(tx, events, 0.0)
            await asyncio.sleep(0)  # both hold their locks before either commits, if the locks allow it
            return seqs

    for _ in range(10):
        await asyncio.gather(change([a, b, b, c]), change([b, c, c]))
    for user, per_round in ((a, 1), (b, 3), (c, 3)):
        seqs = [e.seq for e in await repo.read(user, 0, 1000)]
        assert seqs == list(range(1, 10 * per_round + 1))
