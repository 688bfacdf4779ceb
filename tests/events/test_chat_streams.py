"""Events every member of a chat hears are stored once per chat and numbered into each member's log when read.
Over random histories (chats written in runs, events of one user's own, members joining and leaving and
rejoining between any two events, several things in one transaction, transactions rolled back, two processes
writing in turn, each with its own cache of the chats' followers) the merged log must be exactly what a naive
log with a row per member and event would hold: the same seqs, returned when written and read back from any
point in pages of any size, once each, in order; nothing from before a join or after a leave."""

from __future__ import annotations

import asyncio
import copy
import random
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from server.events.appkeys import event_log_key
from server.keys import database_key, keyring_key
from server.storage.events import EventRepository, NewEvent, RunItem
from tests.chat.chatkit import uid, users

USERS = 5
CHATS = 3


@dataclass(frozen=True)
class Own:
    user: int


@dataclass(frozen=True)
class Post:
    chat: int
    count: int


@dataclass(frozen=True)
class Members:
    chat: int
    members: frozenset[int]


Step = Own | Post | Members
steps = st.one_of(
    st.builds(Own, st.integers(0, USERS - 1)),
    st.builds(Post, st.integers(0, CHATS - 1), st.integers(1, 4)),
    st.builds(Post, st.integers(0, CHATS - 1), st.integers(1, 4)),
    st.builds(Members, st.integers(0, CHATS - 1), st.frozensets(st.integers(0, USERS - 1), max_size=USERS)),
)


@dataclass(frozen=True)
class Transaction:
    steps: list[Step]  # a membership change applies from the next step
    process: int  # which of two repositories (processes, each with its own cache) writes it
    rolled_back: bool  # it fails after its steps: nothing of it may remain, in the database or in a cache


histories = st.lists(
    st.builds(
        Transaction,
        st.lists(steps, min_size=1, max_size=4),
        st.integers(0, 1),
        st.sampled_from([False, False, False, True]),
    ),
    min_size=1,
    max_size=12,
)


class RolledBack(Exception):
    pass


class Model:
    """The naive log: one entry per member and event, numbered as it is appended."""

    def __init__(self, user_ids: list[str], chat_ids: list[str]) -> None:
        self.user_ids, self.chat_ids = user_ids, chat_ids
        self.logs: dict[str, list[tuple[str, str | None, int | None, dict[str, Any]]]] = {u: [] for u in user_ids}
        self.members: list[frozenset[int]] = [frozenset(range(USERS)) for _ in chat_ids]
        self.items = [0] * len(chat_ids)
        self.owns = 0


async def run_history(repos: list[EventRepository], model: Model, history: list[Transaction]) -> None:
    for transaction in history:
        before = copy.deepcopy(model.__dict__)
        try:
            await run_transaction(repos[transaction.process], model, transaction)
        except RolledBack:
            model.__dict__.update(before)


async def run_transaction(repo: EventRepository, model: Model, transaction: Transaction) -> None:
    async with repo.db.transaction() as tx:
        await repo.lock(tx)
        for step in transaction.steps:
            if isinstance(step, Members):
                model.members[step.chat] = step.members
            elif isinstance(step, Own):
                model.owns += 1
                user = model.user_ids[step.user]
                payload = {"n": model.owns}
                [seq] = await repo.append(tx, [NewEvent(user, "own", None, payload=payload)], 1.0)
                model.logs[user].append(("own", None, None, payload))
                assert seq == len(model.logs[user])
            else:
                chat = model.chat_ids[step.chat]
                members = [model.user_ids[m] for m in sorted(model.members[step.chat])]
                items = []
                for _ in range(step.count):
                    model.items[step.chat] += 1
                    items.append(RunItem(chat, model.items[step.chat], members))
                seqs = await repo.append_runs(tx, "message.new", items, 1.0)
                for item, item_seqs in zip(items, seqs, strict=True):
                    assert set(item_seqs) == set(members)
                    for user in members:
                        model.logs[user].append(("message.new", chat, item.item_id, {}))
                        assert item_seqs[user] == len(model.logs[user]), "the seq given is not the naive one"
        if transaction.rolled_back:
            raise RolledBack


async def check_reads(repo: EventRepository, model: Model, rng: random.Random) -> None:
    for user, log in model.logs.items():
        assert await repo.last_seq(user) == len(log)
        whole = await repo.read(user, 0, len(log) + 10)
        assert [(e.seq, e.kind, e.chat_id, e.message_id, e.payload) for e in whole] == [
            (n, *entry) for n, entry in enumerate(log, 1)
        ]
        for _ in range(6):
            after = rng.randint(0, len(log) + 1)
            limit = rng.choice([1, 2, 3, 5, 100])
            upto = rng.choice([None, after + rng.randint(0, 6)])
            got = await repo.read(user, after, limit, upto)
            end = len(log) if upto is None else min(upto, len(log))
            want = list(range(after + 1, end + 1))[:limit]
            assert [e.seq for e in got] == want, (after, limit, upto)
            for event in got:
                assert (event.kind, event.chat_id, event.message_id, event.payload) == log[event.seq - 1]


async def test_merged_logs_equal_naive_logs_over_random_histories(client: TestClient) -> None:
    grants = await users(client, USERS)
    repo = client.app[event_log_key].repo
    other = EventRepository(repo.db, client.app[keyring_key])  # another process's, on the same database
    loop = asyncio.get_running_loop()
    rng = random.Random(16)
    model = Model([uid(g) for g in grants], [f"chat-{n}" for n in range(CHATS)])
    # Each user's log from before (their sign-up) is part of the model too.
    for user in model.user_ids:
        model.logs[user] = [(e.kind, e.chat_id, e.message_id, e.payload) for e in await repo.read(user, 0, 1000)]

    async def one(history: list[Transaction]) -> None:
        await run_history([repo, other], model, history)
        await check_reads(repo, model, rng)

    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        phases=[Phase.generate],  # the histories add up in one database: shrinking would replay into it
        suppress_health_check=list(HealthCheck),
    )
    @given(history=histories)
    def check(history: list[Transaction]) -> None:
        asyncio.run_coroutine_threadsafe(one(history), loop).result(timeout=60)

    await asyncio.to_thread(check)
    # The chats' events were stored once each, whatever the number of members.
    db = client.app[database_key]
    stored = await db.fetchval("SELECT COALESCE(SUM(span), 0) FROM chat_events")
    assert stored == sum(model.items)
    # Followers were written with as kept, and read again when they had changed (how often each process did
    # depends on the histories drawn).
    assert repo.followers_kept.hits + other.followers_kept.hits > 0
    assert repo.followers_kept.misses + other.followers_kept.misses > 0


async def test_kept_followers_are_read_again_when_another_process_or_a_rollback_moved_them(
    client: TestClient,
) -> None:
    grants = await users(client, 3)
    repo = client.app[event_log_key].repo
    other = EventRepository(repo.db, client.app[keyring_key])
    db = repo.db
    members = [uid(g) for g in grants]
    expected = {u: await repo.last_seq(u) for u in members}

    async def post(process: EventRepository, item: int) -> None:
        async with db.transaction() as tx:
            [seqs] = await process.append_runs(tx, "message.new", [RunItem("kept", item, members)], 1.0)
        for user in members:
            expected[user] += 1
        assert seqs == expected

    await post(repo, 1)  # (the members start following the chat here: its followers change)
    await post(repo, 2)
    await post(repo, 3)
    assert (repo.followers_kept.hits, repo.followers_kept.misses) == (1, 2)  # the third read no counter
    async with db.transaction() as tx:  # the other process moves a follower off the chat's stream
        await other.append(tx, [NewEvent(members[0], "own", None)], 1.0)
    expected[members[0]] += 1
    await post(repo, 4)
    assert (repo.followers_kept.hits, repo.followers_kept.misses) == (1, 3)  # seen: read again
    await post(repo, 5)
    await post(repo, 6)
    assert repo.followers_kept.hits == 2

    class Failed(Exception):
        pass

    try:  # in a transaction that rolls back, a follower moves and the chat is read again with it moved
        async with db.transaction() as tx:
            await repo.append(tx, [NewEvent(members[1], "own", None)], 1.0)
            await repo.append_runs(tx, "message.new", [RunItem("kept", 7, members)], 1.0)
            await repo.append_runs(tx, "message.new", [RunItem("kept", 8, members)], 1.0)
            raise Failed
    except Failed:
        pass
    await post(repo, 7)  # what that transaction read is never used: the follower did not move after all
    assert [e.kind for e in await repo.read(members[1], expected[members[1]] - 2, 10)] == ["message.new"] * 2


async def test_a_big_chat_writes_nothing_per_member_once_they_follow_it(client: TestClient) -> None:
    grants = await users(client, 3)
    repo = client.app[event_log_key].repo
    db = client.app[database_key]
    members = [uid(g) for g in grants]
    async with db.transaction() as tx:
        await repo.append_runs(tx, "message.new", [RunItem("big", 1, members)], 1.0)
    rows_before = await db.fetchval("SELECT count(*) FROM user_events")
    for n in range(2, 30):
        async with db.transaction() as tx:
            await repo.append_runs(tx, "message.new", [RunItem("big", n, members)], 1.0)
    assert await db.fetchval("SELECT count(*) FROM user_events") == rows_before  # no row per member or message
    assert await db.fetchval("SELECT count(*) FROM chat_events WHERE chat_id = 'big'") == 29
    for member in members:
        last = await repo.last_seq(member)
        tail = await repo.read(member, last - 29, 100)
        assert [e.message_id for e in tail] == list(range(1, 30))
    # One of them hears something of their own: their stream of 'big' is closed in one row, and goes on after.
    async with db.transaction() as tx:
        await repo.append(tx, [NewEvent(members[0], "own", None, payload={"x": 1})], 2.0)
        await repo.append_runs(tx, "message.new", [RunItem("big", 30, members)], 2.0)
    assert await db.fetchval("SELECT count(*) FROM user_events") == rows_before + 2  # the closed stream, the event
    last = await repo.last_seq(members[0])
    assert [(e.kind, e.message_id) for e in await repo.read(members[0], last - 4, 10)] == [
        ("message.new", 28),
        ("message.new", 29),
        ("own", None),
        ("message.new", 30),
    ]


async def test_appends_at_the_same_time_keep_every_log_gapless(client: TestClient) -> None:
    """On PostgreSQL the changes really run at once (each its own connection): the logs' lock keeps them apart."""
    grants = await users(client, 4)
    repo = client.app[event_log_key].repo
    db = client.app[database_key]
    members = [uid(g) for g in grants]
    starts = {u: await repo.last_seq(u) for u in members}
    given: dict[str, list[int]] = {u: [] for u in members}
    next_item = {"a": 0, "b": 0}
    rng = random.Random(7)

    async def writer(n: int) -> None:
        for _ in range(15):
            async with db.transaction() as tx:
                await repo.lock(tx)
                if rng.random() < 0.4:
                    user = rng.choice(members)
                    [seq] = await repo.append(tx, [NewEvent(user, "own", None, payload={"w": n})], 1.0)
                    given[user].append(seq)
                else:
                    chat = rng.choice(["a", "b"])
                    who = members if chat == "a" else members[:2]
                    next_item[chat] += 1
                    [seqs] = await repo.append_runs(tx, "message.new", [RunItem(chat, next_item[chat], who)], 1.0)
                    for user, seq in seqs.items():
                        given[user].append(seq)
            await asyncio.sleep(0)

    await asyncio.gather(*(writer(n) for n in range(4)))
    for user in members:
        assert sorted(given[user]) == list(range(starts[user] + 1, starts[user] + 1 + len(given[user])))
        read = await repo.read(user, starts[user], 1000)
        assert [e.seq for e in read] == sorted(given[user])
