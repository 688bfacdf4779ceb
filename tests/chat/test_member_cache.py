"""The messages' writer keeps each chat's members across batches (server/storage/chat/sends.py) and reads them
again only when the chat's members version moved. Two writers on one database (two processes, each its own
cache), membership changes between their batches (joins, leaves, role changes, the group made broadcast and
back, some changes rolled back): every send must be checked against the members of the moment and reach
exactly them, as if nothing were cached."""

from __future__ import annotations

import random

from aiohttp.test_utils import TestClient

from server.chat.appkeys import attachments_key, chat_key
from server.events.appkeys import event_log_key
from server.keys import database_key
from server.storage.chat.members import insert_members
from server.storage.chat.records import Send, SendRefused, Sent
from server.storage.chat.sends import SendRepository
from tests.chat.chatkit import group, uid, users


class RolledBack(Exception):
    pass


async def test_two_writers_see_every_membership_change_at_once(client: TestClient) -> None:
    grants = await users(client, 6)
    everyone = [uid(g) for g in grants]
    owner = everyone[0]
    chat_id = await group(client, grants[0], grants[1:3])
    chat, db = client.app[chat_key], client.app[database_key]
    events = client.app[event_log_key].repo
    uploads = client.app[attachments_key].repo
    writers = [SendRepository(chat.messages, uploads, events) for _ in range(2)]
    roles = {owner: "owner", everyone[1]: "member", everyone[2]: "member"}  # what the members are now
    broadcast = False
    rng = random.Random(22)

    async def change() -> None:
        nonlocal broadcast
        user = rng.choice(everyone[1:])
        roll_back = rng.random() < 0.25
        new_roles, new_broadcast = dict(roles), broadcast
        try:
            async with db.transaction() as tx:
                await events.lock(tx)
                what = rng.random()
                if what < 0.15:
                    new_broadcast = not broadcast
                    await tx.execute("UPDATE chats SET broadcast = $1 WHERE id = $2", int(new_broadcast), chat_id)
                elif user not in roles:
                    await insert_members(tx, chat_id, [(user, "member")], 1.0, 0)
                    new_roles[user] = "member"
                elif what < 0.6:
                    await chat.members.remove_member(tx, chat_id, user)
                    del new_roles[user]
                else:
                    new_roles[user] = "admin" if roles[user] == "member" else "member"
                    await chat.members.set_role(tx, chat_id, user, new_roles[user])
                if roll_back:
                    raise RolledBack
        except RolledBack:
            return
        roles.clear()
        roles.update(new_roles)
        broadcast = new_broadcast

    hits = 0
    for step in range(120):
        if step % 3 == 0:
            await change()
        writer = rng.choice(writers)
        sender = rng.choice(everyone)
        send = Send(chat_id=chat_id, sender_id=sender, client_id=f"c{step}", body="hi", created_at=2.0 + step)
        async with db.transaction() as tx:
            [result] = await writer.write_sends(tx, [send])
        if sender not in roles:
            assert result == SendRefused("not_found"), step
        elif broadcast and roles[sender] == "member":
            assert result == SendRefused("broadcast_only_admins"), step
        else:
            assert isinstance(result, Sent), (step, result)
            assert set(result.seqs) == set(roles), step  # exactly the members of the moment
    for writer in writers:
        hits += writer.members_kept.hits
        assert writer.members_kept.misses > 0
    assert hits > 0  # the members were kept between changes
