"""Chat storage: chats, members, messages and reactions. Each change's events go to the users' logs
(server/storage/events.py) in the same transaction.

Message ids run 1, 2, 3... per chat, reserved on the chat's row the same way. Bodies, names and event
payloads are encrypted with the keyring; in an end-to-end chat the body is the client's ciphertext,
stored (and encrypted again at rest) without being looked at.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

import orjson

from server.crypto.keyring import BlindIndex, Keyring
from server.storage.attachments import AttachmentRepository
from server.storage.database import Database, Executor, Row
from server.storage.events import EventRepository, RunItem

ROLES = ("member", "admin", "owner")  # in rising order of power
MESSAGE_COLUMNS = (
    "chat_id",
    "id",
    "sender_id",
    "client_id",
    "kind",
    "body",
    "reply_to",
    "meta",
    "created_at",
)
_SEQ_CHUNK = 500  # ids per statement


def _marks(first: int, count: int) -> str:
    return ", ".join(f"${i}" for i in range(first, first + count))


def new_id() -> str:
    return secrets.token_hex(12)


@dataclass(frozen=True)
class Chat:
    id: str
    kind: str  # "direct" or "group"
    e2e: bool
    name: str | None
    description: str | None
    avatar_id: str | None
    created_by: str | None
    last_message_id: int
    last_message_at: float | None
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class Member:
    chat_id: str
    user_id: str
    role: str
    joined_at: float
    joined_message_id: int
    read_id: int
    delivered_id: int
    pinned_at: float | None
    muted_until: float | None
    archived: bool

    def at_least(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True)
class Message:
    chat_id: str
    id: int
    sender_id: str | None
    client_id: str | None
    kind: str  # "text" or "system"
    body: str | None  # None once deleted for everyone
    reply_to: int | None
    meta: dict[str, Any]
    created_at: float
    edited_at: float | None
    deleted_at: float | None
    reactions: dict[str, list[str]] = field(default_factory=dict)  # emoji -> user ids (filled for history)


@dataclass(frozen=True)
class Send:
    """A message to write through the batch writer."""

    chat_id: str
    sender_id: str
    client_id: str | None
    body: str
    created_at: float
    reply_to: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    kind: str = "text"
    attachment_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sent:
    message: Message
    seqs: dict[str, int]  # member -> the seq of this message in their log (empty for a duplicate)
    duplicate: bool = False


@dataclass(frozen=True)
class SendRefused:
    """A send the batch refused without failing the others: the service turns it into an error."""

    code: str  # "not_found" | "blocked" | "bad_reply" | "bad_attachments"


@dataclass
class _ChatInfo:
    kind: str
    last_message_id: int
    members: dict[str, int]  # user id -> the id after which their history starts


def _refusal(send: Send, chat: _ChatInfo | None, blocked: set[tuple[str, str]]) -> SendRefused | None:
    if chat is None or send.sender_id not in chat.members:
        return SendRefused("not_found")
    if send.reply_to is not None and not chat.members[send.sender_id] < send.reply_to <= chat.last_message_id:
        return SendRefused("bad_reply")
    if chat.kind == "direct":
        for other in chat.members:
            if other != send.sender_id and ((other, send.sender_id) in blocked or (send.sender_id, other) in blocked):
                return SendRefused("blocked")
    return None


class ChatRepository:
    def __init__(
        self,
        db: Database,
        keyring: Keyring,
        blind_index: BlindIndex,
        attachments: AttachmentRepository,
        events: EventRepository,
    ) -> None:
        self.db = db
        self._events = events
        self._keyring = keyring
        self._blind = blind_index
        self._attachments = attachments

    # -- encryption --------------------------------------------------------------------------------
    def _seal(self, value: str | bytes | None, table: str, column: str, row_id: str) -> bytes | None:
        if value is None:
            return None
        return self._keyring.encrypt(value, table=table, column=column, row_id=row_id)

    def _open(self, blob: bytes | None, table: str, column: str, row_id: str) -> str | None:
        if blob is None:
            return None
        return self._keyring.decrypt(bytes(blob), table=table, column=column, row_id=row_id)

    def _open_json(self, blob: bytes | None, table: str, column: str, row_id: str) -> dict[str, Any]:
        text = self._open(blob, table, column, row_id)
        value = orjson.loads(text) if text else {}
        return value if isinstance(value, dict) else {}

    def pair_index(self, a: str, b: str) -> bytes:
        low, high = sorted((a, b))
        return self._blind(f"{low}:{high}", purpose="chat_pair")

    def _chat(self, row: Row) -> Chat:
        cid = row["id"]
        return Chat(
            id=cid,
            kind=row["kind"],
            e2e=bool(row["e2e"]),
            name=self._open(row["name"], "chats", "name", cid),
            description=self._open(row["description"], "chats", "description", cid),
            avatar_id=row["avatar_id"],
            created_by=row["created_by"],
            last_message_id=int(row["last_message_id"]),
            last_message_at=row["last_message_at"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    @staticmethod
    def _member(row: Row, prefix: str = "") -> Member:
        return Member(
            chat_id=row[prefix + "chat_id"],
            user_id=row[prefix + "user_id"],
            role=row[prefix + "role"],
            joined_at=row[prefix + "joined_at"],
            joined_message_id=int(row[prefix + "joined_message_id"]),
            read_id=int(row[prefix + "read_id"]),
            delivered_id=int(row[prefix + "delivered_id"]),
            pinned_at=row[prefix + "pinned_at"],
            muted_until=row[prefix + "muted_until"],
            archived=bool(row[prefix + "archived"]),
        )

    def message_of(self, row: Row, prefix: str = "") -> Message:
        chat_id, mid = row[prefix + "chat_id"], int(row[prefix + "id"])
        row_id = f"{chat_id}:{mid}"
        deleted = row[prefix + "deleted_at"]
        return Message(
            chat_id=chat_id,
            id=mid,
            sender_id=row[prefix + "sender_id"],
            client_id=row[prefix + "client_id"],
            kind=row[prefix + "kind"],
            body=None if deleted else self._open(row[prefix + "body"], "messages", "body", row_id),
            reply_to=None if row[prefix + "reply_to"] is None else int(row[prefix + "reply_to"]),
            meta={} if deleted else self._open_json(row[prefix + "meta"], "messages", "meta", row_id),
            created_at=row[prefix + "created_at"],
            edited_at=row[prefix + "edited_at"],
            deleted_at=deleted,
        )

    def _message_row(self, m: Message) -> tuple[Any, ...]:
        row_id = f"{m.chat_id}:{m.id}"
        return (
            m.chat_id,
            m.id,
            m.sender_id,
            m.client_id,
            m.kind,
            self._seal(m.body, "messages", "body", row_id),
            m.reply_to,
            self._seal(orjson.dumps(m.meta), "messages", "meta", row_id) if m.meta else None,
            m.created_at,
        )

    # -- chats and members -------------------------------------------------------------------------
    async def create_chat(
        self,
        tx: Executor,
        *,
        kind: str,
        created_by: str,
        members: Sequence[tuple[str, str]],
        now: float,
        e2e: bool = False,
        name: str | None = None,
        description: str | None = None,
        pair: tuple[str, str] | None = None,
    ) -> str:
        chat_id = new_id()
        await tx.execute(
            "INSERT INTO chats (id, kind, e2e, pair_index, name, description, created_by, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            chat_id,
            kind,
            int(e2e),
            self.pair_index(*pair) if pair else None,
            self._seal(name, "chats", "name", chat_id),
            self._seal(description, "chats", "description", chat_id),
            created_by,
            now,
        )
        await self.add_members(tx, chat_id, members, now, joined_message_id=0)
        return chat_id

    async def add_members(
        self, tx: Executor, chat_id: str, members: Iterable[tuple[str, str]], now: float, joined_message_id: int
    ) -> None:
        rows = [(chat_id, user, role, now, joined_message_id, joined_message_id) for user, role in members]
        if rows:
            await tx.insert_rows(
                "chat_members", ("chat_id", "user_id", "role", "joined_at", "joined_message_id", "read_id"), rows
            )

    async def update_chat(self, tx: Executor, chat_id: str, values: dict[str, Any], now: float) -> bool:
        """Change a chat's name, description or avatar; False if the new avatar is not an image the acting user
        (`values["by"]`) uploaded to this chat and has not used."""
        values = dict(values)
        by = values.pop("by")
        if "avatar_id" in values:
            chat = await self.chat(chat_id, tx)
            assert chat is not None
            new = values["avatar_id"]
            changed = new != chat.avatar_id
            if changed and new is not None and not await self._attachments.take_avatar(tx, by, chat_id, new):
                return False
            if chat.avatar_id is not None and new != chat.avatar_id:
                await self._attachments.drop(tx, chat.avatar_id, now)
        sets, args = [], []
        for column, value in values.items():
            if column in ("name", "description"):
                value = self._seal(value, "chats", column, chat_id)
            args.append(value)
            sets.append(f"{column} = ${len(args)}")
        args.extend([now, chat_id])
        await tx.execute(
            f"UPDATE chats SET {', '.join(sets)}, updated_at = ${len(args) - 1} WHERE id = ${len(args)}", *args
        )
        return True

    async def direct_chat(self, executor: Executor, a: str, b: str) -> str | None:
        value = await executor.fetchval("SELECT id FROM chats WHERE pair_index = $1", self.pair_index(a, b))
        return None if value is None else str(value)

    async def chat(self, chat_id: str, executor: Executor | None = None) -> Chat | None:
        row = await (executor or self.db).fetchrow("SELECT * FROM chats WHERE id = $1", chat_id)
        return None if row is None else self._chat(row)

    async def lock_chat(self, tx: Executor, chat_id: str) -> None:
        """Hold the chat's row until the transaction ends (PostgreSQL), so changes to its members happen one at
        a time: two joins, or two members leaving, each see the other's result. SQLite has one writer."""
        if self.db.backend == "postgresql":
            await tx.fetch("SELECT 1 FROM chats WHERE id = $1 FOR UPDATE", chat_id)

    async def member(self, chat_id: str, user_id: str, executor: Executor | None = None) -> Member | None:
        row = await (executor or self.db).fetchrow(
            "SELECT * FROM chat_members WHERE chat_id = $1 AND user_id = $2", chat_id, user_id
        )
        return None if row is None else self._member(row)

    async def members(self, chat_id: str, executor: Executor | None = None) -> list[Member]:
        rows = await (executor or self.db).fetch(
            "SELECT * FROM chat_members WHERE chat_id = $1 ORDER BY joined_at, user_id", chat_id
        )
        return [self._member(r) for r in rows]

    async def direct_peers(self, user_id: str) -> dict[str, str]:
        """The other member of each of the user's direct chats, by chat id."""
        rows = await self.db.fetch(
            "SELECT o.chat_id, o.user_id FROM chat_members cm JOIN chats c ON c.id = cm.chat_id AND c.kind = 'direct'"
            " JOIN chat_members o ON o.chat_id = cm.chat_id AND o.user_id <> cm.user_id WHERE cm.user_id = $1",
            user_id,
        )
        return {r["chat_id"]: r["user_id"] for r in rows}

    async def member_ids(self, executor: Executor, chat_id: str) -> list[str]:
        rows = await executor.fetch("SELECT user_id FROM chat_members WHERE chat_id = $1", chat_id)
        return [r["user_id"] for r in rows]

    async def remove_member(self, tx: Executor, chat_id: str, user_id: str) -> bool:
        return await tx.execute("DELETE FROM chat_members WHERE chat_id = $1 AND user_id = $2", chat_id, user_id) > 0

    async def set_role(self, tx: Executor, chat_id: str, user_id: str, role: str) -> None:
        await tx.execute(
            "UPDATE chat_members SET role = $1 WHERE chat_id = $2 AND user_id = $3", role, chat_id, user_id
        )

    async def set_member_flags(self, tx: Executor, chat_id: str, user_id: str, values: dict[str, Any]) -> None:
        sets = ", ".join(f"{column} = ${n}" for n, column in enumerate(values, start=1))
        n = len(values)
        await tx.execute(
            f"UPDATE chat_members SET {sets} WHERE chat_id = ${n + 1} AND user_id = ${n + 2}",
            *values.values(),
            chat_id,
            user_id,
        )

    async def move_pointer(self, tx: Executor, chat_id: str, user_id: str, column: str, message_id: int) -> bool:
        """Move a read or delivered pointer forward (never back); True if it moved."""
        assert column in ("read_id", "delivered_id")
        changed = await tx.execute(
            f"UPDATE chat_members SET {column} = $1 WHERE chat_id = $2 AND user_id = $3 AND {column} < $1",
            message_id,
            chat_id,
            user_id,
        )
        if column == "read_id" and changed:
            # Reading implies delivery; the delivered pointer never runs behind the read one.
            await tx.execute(
                "UPDATE chat_members SET delivered_id = read_id WHERE chat_id = $1 AND user_id = $2"
                " AND delivered_id < read_id",
                chat_id,
                user_id,
            )
        return changed > 0

    async def delete_chat(self, tx: Executor, chat_id: str) -> None:
        await tx.execute("DELETE FROM chats WHERE id = $1", chat_id)

    async def chat_list(self, user_id: str) -> list[tuple[Chat, Member, Message | None, int]]:
        """Every chat of the user with its last visible message and the unread count, newest activity first."""
        rows = await self.db.fetch(
            "SELECT c.*, cm.chat_id AS cm_chat_id, cm.user_id AS cm_user_id, cm.role AS cm_role,"
            " cm.joined_at AS cm_joined_at, cm.joined_message_id AS cm_joined_message_id, cm.read_id AS cm_read_id,"
            " cm.delivered_id AS cm_delivered_id, cm.pinned_at AS cm_pinned_at, cm.muted_until AS cm_muted_until,"
            " cm.archived AS cm_archived,"
            " (SELECT COUNT(*) FROM messages u WHERE u.chat_id = c.id AND u.id > cm.read_id"
            "   AND u.deleted_at IS NULL AND (u.sender_id IS NULL OR u.sender_id <> $1)) AS unread"
            " FROM chat_members cm JOIN chats c ON c.id = cm.chat_id WHERE cm.user_id = $1",
            user_id,
        )
        last = await self._last_messages(user_id, [r["id"] for r in rows])
        out = []
        for row in rows:
            out.append((self._chat(row), self._member(row, "cm_"), last.get(row["id"]), int(row["unread"])))
        return out

    async def _last_messages(self, user_id: str, chat_ids: list[str]) -> dict[str, Message]:
        found: dict[str, Message] = {}
        for start in range(0, len(chat_ids), 200):
            chunk = chat_ids[start : start + 200]
            marks = ", ".join(f"${i}" for i in range(2, len(chunk) + 2))
            rows = await self.db.fetch(
                "SELECT m.* FROM messages m JOIN chat_members cm ON cm.chat_id = m.chat_id AND cm.user_id = $1"
                f" WHERE m.chat_id IN ({marks}) AND m.id = (SELECT MAX(v.id) FROM messages v"
                "   WHERE v.chat_id = m.chat_id AND v.id > cm.joined_message_id AND NOT EXISTS"
                "   (SELECT 1 FROM hidden_messages h WHERE h.user_id = $1 AND h.chat_id = v.chat_id"
                "    AND h.message_id = v.id))",
                user_id,
                *chunk,
            )
            for row in rows:
                message = self.message_of(row)
                found[message.chat_id] = message
        return found

    # -- messages ----------------------------------------------------------------------------------
    async def history(
        self, chat_id: str, user_id: str, *, floor: int, before: int | None, after: int | None, limit: int
    ) -> list[Message]:
        """A page of the chat's messages the user may see (ids above `floor`), oldest first: the newest
        `limit` below `before`, or the oldest `limit` above `after`."""
        hidden = (
            " AND NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.user_id = $2 AND h.chat_id = m.chat_id"
            " AND h.message_id = m.id)"
        )
        if after is not None:
            rows = await self.db.fetch(
                f"SELECT m.* FROM messages m WHERE m.chat_id = $1 AND m.id > $3{hidden} ORDER BY m.id LIMIT $4",
                chat_id,
                user_id,
                max(after, floor),
                limit,
            )
        else:
            rows = await self.db.fetch(
                f"SELECT m.* FROM messages m WHERE m.chat_id = $1 AND m.id > $3 AND m.id < $5{hidden}"
                " ORDER BY m.id DESC LIMIT $4",
                chat_id,
                user_id,
                floor,
                limit,
                before if before is not None else 2**62,
            )
            rows = list(reversed(rows))
        messages = [self.message_of(r) for r in rows]
        reactions = await self.reactions(chat_id, [m.id for m in messages])
        return [replace(m, reactions=reactions[m.id]) if m.id in reactions else m for m in messages]

    async def message(self, chat_id: str, message_id: int, executor: Executor | None = None) -> Message | None:
        row = await (executor or self.db).fetchrow(
            "SELECT * FROM messages WHERE chat_id = $1 AND id = $2", chat_id, message_id
        )
        return None if row is None else self.message_of(row)

    async def member_messages(self, user_id: str, chat_id: str, message_ids: Sequence[int]) -> dict[int, Message]:
        """Those of the messages of a chat, by id, that `user_id` may read now: all of them while a member, none
        after leaving (what the user's event log shows of the messages it names)."""
        found: dict[int, Message] = {}
        ids = sorted(set(message_ids))
        for start in range(0, len(ids), _SEQ_CHUNK):
            chunk = ids[start : start + _SEQ_CHUNK]
            rows = await self.db.fetch(
                "SELECT m.* FROM messages m JOIN chat_members cm ON cm.chat_id = m.chat_id AND cm.user_id = $1"
                f" WHERE m.chat_id = $2 AND m.id IN ({_marks(3, len(chunk))})",
                user_id,
                chat_id,
                *chunk,
            )
            found.update((int(row["id"]), self.message_of(row)) for row in rows)
        return found

    async def reactions(self, chat_id: str, message_ids: list[int]) -> dict[int, dict[str, list[str]]]:
        if not message_ids:
            return {}
        rows = await self.db.fetch(
            "SELECT message_id, emoji, user_id FROM reactions WHERE chat_id = $1 AND message_id >= $2"
            " AND message_id <= $3 ORDER BY created_at",
            chat_id,
            min(message_ids),
            max(message_ids),
        )
        out: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for row in rows:
            out[int(row["message_id"])][row["emoji"]].append(row["user_id"])
        return {k: dict(v) for k, v in out.items()}

    async def edit_message(self, tx: Executor, chat_id: str, message_id: int, body: str, now: float) -> None:
        await tx.execute(
            "UPDATE messages SET body = $1, edited_at = $2 WHERE chat_id = $3 AND id = $4",
            self._seal(body, "messages", "body", f"{chat_id}:{message_id}"),
            now,
            chat_id,
            message_id,
        )

    async def delete_message(self, tx: Executor, chat_id: str, message_id: int, now: float) -> None:
        """Delete for everyone: the row stays (ids stay contiguous), its content goes."""
        await tx.execute(
            "UPDATE messages SET body = NULL, meta = NULL, deleted_at = $1 WHERE chat_id = $2 AND id = $3",
            now,
            chat_id,
            message_id,
        )
        await tx.execute("DELETE FROM reactions WHERE chat_id = $1 AND message_id = $2", chat_id, message_id)
        await self._attachments.forget(tx, chat_id, message_id, now)

    async def hide_message(self, tx: Executor, user_id: str, chat_id: str, message_id: int) -> None:
        await tx.execute(
            "INSERT INTO hidden_messages (user_id, chat_id, message_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            user_id,
            chat_id,
            message_id,
        )

    async def set_reaction(
        self, tx: Executor, chat_id: str, message_id: int, user_id: str, emoji: str, on: bool, now: float
    ) -> bool:
        if on:
            return (
                await tx.execute(
                    "INSERT INTO reactions (chat_id, message_id, user_id, emoji, created_at)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    chat_id,
                    message_id,
                    user_id,
                    emoji,
                    now,
                )
                > 0
            )
        return (
            await tx.execute(
                "DELETE FROM reactions WHERE chat_id = $1 AND message_id = $2 AND user_id = $3 AND emoji = $4",
                chat_id,
                message_id,
                user_id,
                emoji,
            )
            > 0
        )

    async def readers(self, chat_id: str, message_id: int) -> list[Row]:
        return await self.db.fetch(
            "SELECT user_id, read_id, delivered_id FROM chat_members WHERE chat_id = $1 AND"
            " (read_id >= $2 OR delivered_id >= $2) ORDER BY user_id",
            chat_id,
            message_id,
        )

    async def blocked(self, executor: Executor, user_id: str, by: str) -> bool:
        value = await executor.fetchval("SELECT 1 FROM user_blocks WHERE user_id = $1 AND blocked_id = $2", by, user_id)
        return value is not None

    # -- sending (the batch writer's work) ---------------------------------------------------------
    async def write_sends(self, tx: Executor, sends: list[Send]) -> list[Sent | SendRefused]:
        """Write a batch of messages in one transaction: check each sender may post, reserve the chats' next
        message ids and every member's next seq, then insert messages and events together. A resend (same
        sender and client_id) returns the original instead of writing it twice. The checks and reservations
        are a few statements for the whole batch, not a few per message."""
        results: list[Sent | SendRefused | None] = [None] * len(sends)
        originals = await self._originals(tx, sends)
        chats = await self._chats_of(tx, {s.chat_id for s in sends})
        blocked = await self._blocks_between(tx, chats)
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
        for _, send, _ in accepted:
            counts[send.chat_id] += 1
            newest[send.chat_id] = max(newest.get(send.chat_id, 0.0), send.created_at)
        last = await self._reserve_message_ids(tx, counts, newest)
        next_id = {chat_id: last[chat_id] - n + 1 for chat_id, n in counts.items()}
        messages: list[tuple[Message, Sequence[str]]] = []
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
            )
            messages.append((message, list(chats[send.chat_id].members)))
            if send.attachment_ids:
                await self._attachments.attach(tx, send.chat_id, message_id, send.attachment_ids)
        await tx.insert_rows("messages", MESSAGE_COLUMNS, [self._message_row(m) for m, _ in messages])
        items = [RunItem(m.chat_id, m.id, members) for m, members in messages]
        seqs = await self._events.append_runs(tx, "message.new", items, max(newest.values()))
        for (index, _, _), (message, _), member_seqs in zip(accepted, messages, seqs, strict=True):
            results[index] = Sent(message, member_seqs)

    async def _originals(self, tx: Executor, sends: list[Send]) -> dict[tuple[str, str], Message]:
        """Messages already stored under the batch's (sender, client_id) pairs."""
        keys = sorted({(s.sender_id, s.client_id) for s in sends if s.client_id is not None})
        found: dict[tuple[str, str], Message] = {}
        for start in range(0, len(keys), _SEQ_CHUNK):
            chunk = keys[start : start + _SEQ_CHUNK]
            client_ids = sorted({client_id for _, client_id in chunk})
            # By client_id alone (the index leads with it: one probe each), then matched to the sender here.
            rows = await tx.fetch(
                f"SELECT * FROM messages WHERE client_id IN ({_marks(1, len(client_ids))})", *client_ids
            )
            wanted = set(chunk)
            for row in rows:
                if (row["sender_id"], row["client_id"]) in wanted:
                    found[(row["sender_id"], row["client_id"])] = self.message_of(row)
        return found

    @staticmethod
    async def _chats_of(tx: Executor, chat_ids: set[str]) -> dict[str, _ChatInfo]:
        """Kind, last message id and members (with where each one's history starts) of the batch's chats."""
        ids = sorted(chat_ids)
        chats: dict[str, _ChatInfo] = {}
        for start in range(0, len(ids), _SEQ_CHUNK):
            chunk = ids[start : start + _SEQ_CHUNK]
            marks = ", ".join(f"${i}" for i in range(1, len(chunk) + 1))
            rows = await tx.fetch_many(
                "SELECT c.id, c.kind, c.last_message_id, cm.user_id, cm.joined_message_id FROM chats c"
                f" JOIN chat_members cm ON cm.chat_id = c.id WHERE c.id IN ({marks}) ORDER BY c.id, cm.user_id",
                ("id", "kind", "last_message_id", "user_id", "joined_message_id"),
                *chunk,
            )
            for chat_id, kind, last_message_id, user_id, joined_message_id in rows:
                info = chats.get(chat_id)
                if info is None:
                    info = chats[chat_id] = _ChatInfo(kind, int(last_message_id), {})
                info.members[user_id] = int(joined_message_id)
        return chats

    @staticmethod
    async def _blocks_between(tx: Executor, chats: dict[str, _ChatInfo]) -> set[tuple[str, str]]:
        """(blocker, blocked) pairs among the members of the batch's direct chats."""
        users = sorted({u for info in chats.values() if info.kind == "direct" for u in info.members})
        if not users:
            return set()
        found: set[tuple[str, str]] = set()
        for start in range(0, len(users), _SEQ_CHUNK):
            chunk = users[start : start + _SEQ_CHUNK]
            marks = ", ".join(f"${i}" for i in range(1, len(chunk) + 1))
            rows = await tx.fetch(f"SELECT user_id, blocked_id FROM user_blocks WHERE user_id IN ({marks})", *chunk)
            found.update((r["user_id"], r["blocked_id"]) for r in rows)
        return found

    @staticmethod
    async def _reserve_message_ids(tx: Executor, counts: dict[str, int], newest: dict[str, float]) -> dict[str, int]:
        """Add each chat's count to its last message id (one statement for the batch); returns the new last ids."""
        last: dict[str, int] = {}
        ids = sorted(counts)
        for start in range(0, len(ids), _SEQ_CHUNK):
            chunk = ids[start : start + _SEQ_CHUNK]
            rows_sql = ", ".join(
                f"(${3 * i + 1}, CAST(${3 * i + 2} AS BIGINT), CAST(${3 * i + 3} AS DOUBLE PRECISION))"
                for i in range(len(chunk))
            )
            args: list[Any] = []
            for chat_id in chunk:
                args.extend((chat_id, counts[chat_id], newest[chat_id]))
            await tx.execute(
                f"WITH v (id, n, at) AS (VALUES {rows_sql})"
                " UPDATE chats SET last_message_id = chats.last_message_id + v.n, last_message_at = v.at"
                " FROM v WHERE chats.id = v.id",
                *args,
            )
            rows = await tx.fetch_many(
                f"SELECT id, last_message_id FROM chats WHERE id IN ({_marks(1, len(chunk))})",
                ("id", "last_message_id"),
                *chunk,
            )
            last.update({chat_id: int(last_id) for chat_id, last_id in rows})
        return last


@dataclass(frozen=True)
class Invite:
    id: str
    chat_id: str
    code: str
    created_by: str | None
    expires_at: float | None
    max_uses: int | None
    uses: int
    revoked_at: float | None
    created_at: float


@dataclass(frozen=True)
class Report:
    id: str
    chat_id: str
    message_id: int
    reporter_id: str | None
    reason: str | None
    created_at: float
    resolved_at: float | None
    resolved_by: str | None
    resolution: str | None


class ChatExtrasRepository:
    """Invites, blocks, reports and per-user chat settings: the chat's less frequent writes."""

    def __init__(self, db: Database, keyring: Keyring, blind_index: BlindIndex) -> None:
        self.db = db
        self._keyring = keyring
        self._blind = blind_index

    def code_index(self, code: str) -> bytes:
        return self._blind(code, purpose="chat_invite")

    def _invite(self, row: Row) -> Invite:
        return Invite(
            id=row["id"],
            chat_id=row["chat_id"],
            code=self._keyring.decrypt(bytes(row["code"]), table="chat_invites", column="code", row_id=row["id"]),
            created_by=row["created_by"],
            expires_at=row["expires_at"],
            max_uses=row["max_uses"],
            uses=int(row["uses"]),
            revoked_at=row["revoked_at"],
            created_at=row["created_at"],
        )

    # -- invites -----------------------------------------------------------------------------------
    async def create_invite(
        self, chat_id: str, created_by: str, expires_at: float | None, max_uses: int | None, now: float
    ) -> Invite:
        invite_id, code = new_id(), secrets.token_urlsafe(18)
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO chat_invites (id, chat_id, code_index, code, created_by, expires_at, max_uses, created_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                invite_id,
                chat_id,
                self.code_index(code),
                self._keyring.encrypt(code, table="chat_invites", column="code", row_id=invite_id),
                created_by,
                expires_at,
                max_uses,
                now,
            )
        return Invite(invite_id, chat_id, code, created_by, expires_at, max_uses, 0, None, now)

    async def invites(self, chat_id: str) -> list[Invite]:
        rows = await self.db.fetch("SELECT * FROM chat_invites WHERE chat_id = $1 ORDER BY created_at", chat_id)
        return [self._invite(r) for r in rows]

    async def invite_by_code(self, code: str, executor: Executor | None = None) -> Invite | None:
        row = await (executor or self.db).fetchrow(
            "SELECT * FROM chat_invites WHERE code_index = $1", self.code_index(code)
        )
        return None if row is None else self._invite(row)

    async def revoke_invite(self, chat_id: str, invite_id: str, now: float) -> bool:
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE chat_invites SET revoked_at = $1 WHERE id = $2 AND chat_id = $3 AND revoked_at IS NULL",
                now,
                invite_id,
                chat_id,
            )
        return changed > 0

    async def use_invite(self, tx: Executor, invite_id: str, now: float) -> bool:
        """Count one use, if the invite is still good: atomically, so a use limit holds under concurrency."""
        changed = await tx.execute(
            "UPDATE chat_invites SET uses = uses + 1 WHERE id = $1 AND revoked_at IS NULL"
            " AND (expires_at IS NULL OR expires_at > $2) AND (max_uses IS NULL OR uses < max_uses)",
            invite_id,
            now,
        )
        return changed > 0

    # -- blocks ------------------------------------------------------------------------------------
    async def block(self, user_id: str, blocked_id: str, now: float) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO user_blocks (user_id, blocked_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                user_id,
                blocked_id,
                now,
            )

    async def unblock(self, user_id: str, blocked_id: str) -> bool:
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "DELETE FROM user_blocks WHERE user_id = $1 AND blocked_id = $2", user_id, blocked_id
            )
        return changed > 0

    async def blocks(self, user_id: str) -> list[Row]:
        return await self.db.fetch(
            "SELECT blocked_id, created_at FROM user_blocks WHERE user_id = $1 ORDER BY created_at", user_id
        )

    # -- reports -----------------------------------------------------------------------------------
    async def report(self, chat_id: str, message_id: int, reporter_id: str, reason: str | None, now: float) -> str:
        report_id = new_id()
        sealed = (
            None
            if reason is None
            else self._keyring.encrypt(reason, table="message_reports", column="reason", row_id=report_id)
        )
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO message_reports (id, chat_id, message_id, reporter_id, reason, created_at)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                report_id,
                chat_id,
                message_id,
                reporter_id,
                sealed,
                now,
            )
        return report_id

    def _report(self, row: Row) -> Report:
        reason = row["reason"]
        return Report(
            id=row["id"],
            chat_id=row["chat_id"],
            message_id=int(row["message_id"]),
            reporter_id=row["reporter_id"],
            reason=None
            if reason is None
            else self._keyring.decrypt(bytes(reason), table="message_reports", column="reason", row_id=row["id"]),
            created_at=row["created_at"],
            resolved_at=row["resolved_at"],
            resolved_by=row["resolved_by"],
            resolution=row["resolution"],
        )

    async def reports(self, *, open_only: bool, after: tuple[float, str] | None, limit: int) -> list[Report]:
        since, last_id = after or (-1.0, "")
        rows = await self.db.fetch(
            "SELECT * FROM message_reports WHERE ($1 = 0 OR resolved_at IS NULL)"
            " AND (created_at > $2 OR (created_at = $2 AND id > $3)) ORDER BY created_at, id LIMIT $4",
            int(open_only),
            since,
            last_id,
            limit,
        )
        return [self._report(r) for r in rows]

    async def report_by_id(self, report_id: str) -> Report | None:
        row = await self.db.fetchrow("SELECT * FROM message_reports WHERE id = $1", report_id)
        return None if row is None else self._report(row)

    async def resolve(self, report_id: str, by: str, resolution: str, now: float) -> bool:
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE message_reports SET resolved_at = $1, resolved_by = $2, resolution = $3"
                " WHERE id = $4 AND resolved_at IS NULL",
                now,
                by,
                resolution,
                report_id,
            )
        return changed > 0

    # -- settings and presence ---------------------------------------------------------------------
    async def settings(self, user_id: str) -> tuple[str, bool, float | None]:
        row = await self.db.fetchrow(
            "SELECT presence, push_previews, last_seen_at FROM chat_settings WHERE user_id = $1", user_id
        )
        if row is None:
            return "everyone", False, None
        return row["presence"], bool(row["push_previews"]), row["last_seen_at"]

    async def save_settings(self, user_id: str, presence: str, push_previews: bool) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO chat_settings (user_id, presence, push_previews) VALUES ($1, $2, $3)"
                " ON CONFLICT (user_id) DO UPDATE SET presence = $2, push_previews = $3",
                user_id,
                presence,
                int(push_previews),
            )

    async def seen(self, user_id: str, now: float) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO chat_settings (user_id, last_seen_at) VALUES ($1, $2)"
                " ON CONFLICT (user_id) DO UPDATE SET last_seen_at = $2",
                user_id,
                now,
            )

    async def share_a_chat(self, a: str, b: str) -> bool:
        value = await self.db.fetchval(
            "SELECT 1 FROM chat_members x JOIN chat_members y ON y.chat_id = x.chat_id AND y.user_id = $2"
            " WHERE x.user_id = $1 LIMIT 1",
            a,
            b,
        )
        return value is not None
