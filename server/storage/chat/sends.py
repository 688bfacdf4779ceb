"""The batch writer's work: a batch of sends written in one transaction, with their events.

Each send is checked (the sender is a member, and the owner or an admin in a broadcast group; a reply names an
earlier message; no block in a direct chat; attachments are the sender's own), then the chats' next message ids
and every member's next seq are reserved and messages and events inserted together. The checks and reservations
are a few statements for the whole batch, not a few per message.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from server.storage.attachments import AttachmentRepository
from server.storage.chat.blocks import blocks_among
from server.storage.chat.messages import MESSAGE_COLUMNS, MessageRepository
from server.storage.chat.records import Message, Send, SendRefused, Sent
from server.storage.database import Executor
from server.storage.events import EventRepository, RunItem
from server.storage.sql import bucket, chunked, in_list, padded
from server.storage.versioned import VersionedCache


@dataclass(frozen=True)
class _Members:
    """A chat's members as read (kept across batches: never changed)."""

    joined: dict[str, int]  # user id -> the id after which their history starts
    posters: frozenset[str]  # the owner and admins: in a broadcast group, the only members who post


_NO_MEMBERS = _Members({}, frozenset())
MEMBERS_KEPT = 150_000  # members the writer keeps across batches: more than a channel holds (least recently written go)


@dataclass
class _ChatInfo:
    kind: str
    broadcast: bool
    last_message_id: int
    members: _Members


def _refusal(send: Send, chat: _ChatInfo | None, blocked: set[tuple[str, str]]) -> SendRefused | None:
    if chat is None or send.sender_id not in chat.members.joined:
        return SendRefused("not_found")
    if chat.broadcast and send.sender_id not in chat.members.posters:
        return SendRefused("broadcast_only_admins")
    if send.reply_to is not None and not chat.members.joined[send.sender_id] < send.reply_to <= chat.last_message_id:
        return SendRefused("bad_reply")
    if chat.kind == "direct":
        for other in chat.members.joined:
            if other != send.sender_id and ((other, send.sender_id) in blocked or (send.sender_id, other) in blocked):
                return SendRefused("blocked")
    return None


class SendRepository:
    """Writes sent messages in batches (the work of the messages' BatchWriter)."""

    def __init__(self, messages: MessageRepository, attachments: AttachmentRepository, events: EventRepository) -> None:
        self.db = messages.db
        self._messages = messages
        self._attachments = attachments
        self._events = events
        self.members_kept: VersionedCache[_Members] = VersionedCache(MEMBERS_KEPT)

    async def write_sends(self, tx: Executor, sends: list[Send]) -> list[Sent | SendRefused]:
        """Write a batch of messages in one transaction: check each sender may post, reserve the chats' next
        message ids and every member's next seq, then insert messages and events together. A resend (same
        sender and client_id) returns the original instead of writing it twice."""
        results: list[Sent | SendRefused | None] = [None] * len(sends)
        await self._events.lock(tx)  # the event logs' lock first, before the chats' rows (see EventRepository)
        originals = await self._originals(tx, sends)
        # PostgreSQL: the chats' rows are held, in id order, as member changes do (lock_chat): a member removed by
        # a transaction that commits meanwhile is then either already gone here or still a member when its
        # removal runs after this batch, never sent to after leaving.
        chats = await _chats_of(tx, {s.chat_id for s in sends}, self.members_kept, self.db.backend == "postgresql")
        directs = {u for c in chats.values() if c.kind == "direct" for u in c.members.joined}
        blocked = await blocks_among(tx, sorted(directs))
        accepted: list[tuple[int, Send, dict[str, Any]]] = []
        first_of: dict[tuple[str, str], int] = {}
        for index, send in enumerate(sends):
            if send.client_id is not None:
                key = (send.sender_id, send.client_id)
                if key in originals:
                    results[index] = Sent(originals[key], {}, duplicate=True)
                    continue
                if key in first_of:  # sent twice within this batch: the second is the resend
                    continue
                first_of[key] = index
            refused = _refusal(send, chats.get(send.chat_id), blocked)
            meta = send.meta
            if refused is None and send.attachment_ids:
                # Taken before message ids are reserved: a refusal then leaves no gap in the ids.
                taken = await self._attachments.claim(tx, send.sender_id, send.chat_id, send.attachment_ids)
                if taken is None:
                    refused = SendRefused("bad_attachments")
                else:
                    meta = {**meta, "attachments": [a.descriptor() for a in taken]}
            if refused is not None:
                results[index] = refused
                continue
            accepted.append((index, send, meta))
        if accepted:
            await self._write_accepted(tx, accepted, chats, results)
        for index, send in enumerate(sends):
            if results[index] is None and send.client_id is not None:  # a resend within the batch
                earlier = results[first_of[(send.sender_id, send.client_id)]]
                results[index] = Sent(earlier.message, {}, duplicate=True) if isinstance(earlier, Sent) else earlier
        assert None not in results  # every send got its answer
        return cast(list[Sent | SendRefused], results)

    async def _write_accepted(
        self,
        tx: Executor,
        accepted: list[tuple[int, Send, dict[str, Any]]],
        chats: dict[str, _ChatInfo],
        results: list[Sent | SendRefused | None],
    ) -> None:
        counts: dict[str, int] = defaultdict(int)
        newest: dict[str, float] = {}
        at: dict[str, float | None] = {}  # the chat list's order: silent messages (reactions) move no chat up
        for _, send, _ in accepted:
            counts[send.chat_id] += 1
            newest[send.chat_id] = max(newest.get(send.chat_id, 0.0), send.created_at)
            if not send.silent:
                at[send.chat_id] = max(at.get(send.chat_id) or 0.0, send.created_at)
        last = await _reserve_message_ids(tx, counts, {chat_id: at.get(chat_id) for chat_id in counts})
        next_id = {chat_id: last[chat_id] - n + 1 for chat_id, n in counts.items()}
        messages: list[tuple[Message, Sequence[str]]] = []
        members = {chat_id: list(chats[chat_id].members.joined) for chat_id in counts}  # one list per chat, shared
        for _, send, meta in accepted:
            message_id = next_id[send.chat_id]
            next_id[send.chat_id] += 1
            message = Message(
                chat_id=send.chat_id,
                id=message_id,
                sender_id=send.sender_id,
                client_id=send.client_id,
                kind=send.kind,
                body=send.body,
                reply_to=send.reply_to,
                meta=meta,
                created_at=send.created_at,
                edited_at=None,
                deleted_at=None,
                silent=send.silent,
            )
            messages.append((message, members[send.chat_id]))
            if send.attachment_ids:
                await self._attachments.attach(tx, send.chat_id, message_id, send.attachment_ids)
        await tx.insert_rows("messages", MESSAGE_COLUMNS, [self._messages.message_row(m) for m, _ in messages])
        items = [RunItem(m.chat_id, m.id, members) for m, members in messages]
        seqs = await self._events.append_runs(tx, "message.new", items, max(newest.values()))
        for (index, _, _), (message, _), member_seqs in zip(accepted, messages, seqs, strict=True):
            results[index] = Sent(message, member_seqs)

    async def _originals(self, tx: Executor, sends: list[Send]) -> dict[tuple[str, str], Message]:
        """Messages already stored under the batch's (sender, client_id) pairs."""
        keys = sorted({(s.sender_id, s.client_id) for s in sends if s.client_id is not None})
        found: dict[tuple[str, str], Message] = {}
        for chunk in chunked(keys):
            client_ids = padded(sorted({client_id for _, client_id in chunk}))
            # By client_id alone (the index leads with it: one probe each), then matched to the sender here.
            rows = await tx.fetch(f"SELECT * FROM messages WHERE {in_list('client_id', len(client_ids))}", *client_ids)
            wanted = set(chunk)
            for row in rows:
                if (row["sender_id"], row["client_id"]) in wanted:
                    found[(row["sender_id"], row["client_id"])] = self._messages.message_of(row)
        return found


async def _chats_of(
    tx: Executor, chat_ids: set[str], cache: VersionedCache[_Members], lock: bool
) -> dict[str, _ChatInfo]:
    """Kind, last message id, members (with where each one's history starts) and who may post, of the batch's
    chats; with `lock`, their rows are held to the end of the transaction, taken in id order (PostgreSQL). The
    members come from `cache` while the chat's version is the one they were read under."""
    chats: dict[str, _ChatInfo] = {}
    stale: dict[str, tuple[int, _ChatInfo]] = {}
    for chunk in chunked(sorted(chat_ids)):
        chunk = padded(chunk)
        rows = await tx.fetch_many(
            "SELECT id, kind, broadcast, last_message_id, members_version FROM chats"
            f" WHERE {in_list('id', len(chunk))} ORDER BY id{' FOR UPDATE' if lock else ''}",
            ("id", "kind", "broadcast", "last_message_id", "members_version"),
            *chunk,
        )
        for chat_id, kind, broadcast, last_message_id, version in rows:
            known = cache.get(chat_id, int(version))
            info = chats[chat_id] = _ChatInfo(kind, bool(broadcast), int(last_message_id), _NO_MEMBERS)
            if known is not None:
                info.members = known
            else:
                stale[chat_id] = (int(version), info)
    for chunk in chunked(sorted(stale)):
        chunk = padded(chunk)
        rows = await tx.fetch_many(
            "SELECT chat_id, user_id, joined_message_id, role FROM chat_members"
            f" WHERE {in_list('chat_id', len(chunk))} ORDER BY chat_id, user_id",
            ("chat_id", "user_id", "joined_message_id", "role"),
            *chunk,
        )
        joined: dict[str, dict[str, int]] = defaultdict(dict)
        posters: dict[str, set[str]] = defaultdict(set)
        for chat_id, user_id, joined_message_id, role in rows:
            joined[chat_id][user_id] = int(joined_message_id)
            if role != "member":
                posters[chat_id].add(user_id)
        for chat_id in dict.fromkeys(chunk):
            version, info = stale[chat_id]
            info.members = _Members(joined[chat_id], frozenset(posters[chat_id]))
            cache.put(chat_id, version, info.members, len(info.members.joined) + 1)
    return chats


async def _reserve_message_ids(tx: Executor, counts: dict[str, int], newest: dict[str, float | None]) -> dict[str, int]:
    """Add each chat's count to its last message id (one statement for the batch), and set its last message's time
    where `newest` has one; returns the new last ids. (RETURNING: on SQLite this runs in the writer's thread, in
    one step, where rows cost no hand-over each.)"""
    last: dict[str, int] = {}
    for chunk in chunked(sorted(counts)):
        size = bucket(len(chunk))
        args: list[Any] = []
        for chat_id in chunk:
            args.extend((chat_id, counts[chat_id], newest[chat_id]))
        args.extend(("", 0, None) * (size - len(chunk)))  # up to the bucket's size: rows of no chat (no id is "")
        rows = await tx.fetch(
            f"WITH v (id, n, at) AS (VALUES {_reserve_rows(size)})"
            " UPDATE chats SET last_message_id = chats.last_message_id + v.n,"
            " last_message_at = COALESCE(v.at, chats.last_message_at)"
            " FROM v WHERE chats.id = v.id RETURNING chats.id, chats.last_message_id",
            *args,
        )
        last.update({row[0]: int(row[1]) for row in rows})
    return last


@functools.lru_cache(maxsize=64)
def _reserve_rows(count: int) -> str:
    """The VALUES rows of `_reserve_message_ids`'s statement for `count` chats."""
    return ", ".join(
        f"(${3 * i + 1}, CAST(${3 * i + 2} AS BIGINT), CAST(${3 * i + 3} AS DOUBLE PRECISION))" for i in range(count)
    )
