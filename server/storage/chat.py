"""Chat storage: chats, members, messages, reactions, and each user's numbered event log.

Every event a user must not miss gets the next number in that user's log (`seq`), reserved with
an UPDATE of the user's counter row inside the transaction that makes the change, and a row in
`user_events` (a run of messages in one chat written together is one row covering its seqs, see
_append_message_events). A rolled-back transaction gives its numbers back, so each user's seqs run 1, 2, 3... with no
gaps; a client that reconnects with the last seq it saw reads exactly what it missed.

Message ids run 1, 2, 3... per chat, reserved on the chat's row the same way. Bodies, names and event
payloads are encrypted with the keyring; in an end-to-end chat the body is the client's ciphertext,
stored (and encrypted again at rest) without being looked at.
"""

from __future__ import annotations

import secrets
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

import orjson

from server.crypto.keyring import BlindIndex, Keyring
from server.storage.attachments import AttachmentRepository
from server.storage.database import Database, Executor, Row

ROLES = ("member", "admin", "owner")  # in rising order of power
EVENT_COLUMNS = ("user_id", "seq", "kind", "chat_id", "message_id", "payload", "created_at")
SPAN_COLUMNS = (*EVENT_COLUMNS, "span")
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
_SEQ_CHUNK = 500  # user ids per UPDATE ... WHERE user_id IN (...)
MAX_SPAN = 1000  # messages one event row may cover (events_after relies on it: never lower it)


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
class Event:
    """One entry of a user's log. Message events carry the message (read at the time the log is read)."""

    user_id: str
    seq: int
    kind: str
    chat_id: str | None
    message_id: int | None
    payload: dict[str, Any]
    created_at: float
    message: Message | None = None


@dataclass(frozen=True)
class NewEvent:
    """An event to append to one user's log."""

    user_id: str
    kind: str
    chat_id: str | None
    message_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)


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
        self, db: Database, keyring: Keyring, blind_index: BlindIndex, attachments: AttachmentRepository
    ) -> None:
        self.db = db
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

    # -- the event log -----------------------------------------------------------------------------
    async def append_events(self, tx: Executor, events: Sequence[NewEvent], now: float) -> list[int]:
        """Reserve the next seq of each event's user (in the order given) and write the events; returns the
        seqs, one per event. Must run inside the transaction that makes the change the events describe."""
        if not events:
            return []
        next_seq = await self._first_seqs(tx, Counter(event.user_id for event in events))
        seqs, rows = [], []
        for event in events:
            seq = next_seq[event.user_id]
            next_seq[event.user_id] = seq + 1
            seqs.append(seq)
            payload = (
                self._seal(orjson.dumps(event.payload), "user_events", "payload", f"{event.user_id}:{seq}")
                if event.payload
                else None
            )
            rows.append((event.user_id, seq, event.kind, event.chat_id, event.message_id, payload, now))
        await tx.insert_rows("user_events", EVENT_COLUMNS, rows)
        return seqs

    async def _append_message_events(
        self, tx: Executor, messages: Sequence[tuple[Message, Sequence[str]]], now: float
    ) -> list[dict[str, int]]:
        """`message.new` for every member of each message's chat, in the order given: the same as
        append_events, without an event object per member (a message to a big group has thousands)."""
        next_seq = await self._first_seqs(tx, Counter(user for _, members in messages for user in members))
        out: list[dict[str, int]] = []
        runs: dict[str, list[Any]] = {}  # user -> their open row: [user, seq, kind, chat, message id, ..., span]
        rows: list[list[Any]] = []
        for message, members in messages:
            seqs = {}
            for user in members:
                seq = seqs[user] = next_seq[user]
                next_seq[user] = seq + 1
                run = runs.get(user)  # this user's last row: its seqs end just before this one
                if run is not None and (run[3], run[4] + run[7]) == (message.chat_id, message.id) and run[7] < MAX_SPAN:
                    run[7] += 1  # the next message of the same chat, and this user's next seq: the run goes on
                else:
                    run = runs[user] = [user, seq, "message.new", message.chat_id, message.id, None, now, 1]
                    rows.append(run)
            out.append(seqs)
        await tx.insert_rows("user_events", SPAN_COLUMNS, [tuple(r) for r in rows])
        return out

    async def _first_seqs(self, tx: Executor, counts: Mapping[str, int]) -> dict[str, int]:
        """Reserve `counts[user]` seqs for each user; returns the first of each user's new seqs."""
        last = await self._reserve(tx, counts)
        return {user: last[user] - n + 1 for user, n in counts.items()}

    async def _reserve(self, tx: Executor, counts: Mapping[str, int]) -> dict[str, int]:
        """Add each user's count to their counter; returns the new last seq per user. All the counters are
        locked first, in id order (PostgreSQL), so two transactions that touch the same users cannot deadlock."""
        users = sorted(counts)
        present: set[str] = set()
        for start in range(0, len(users), _SEQ_CHUNK):
            present |= await self._lock_counters(tx, users[start : start + _SEQ_CHUNK])
        missing = [u for u in users if u not in present]  # a user's first event: their counter is made now
        for start in range(0, len(missing), _SEQ_CHUNK):
            chunk = missing[start : start + _SEQ_CHUNK]
            marks = ", ".join(f"(${i})" for i in range(1, len(chunk) + 1))
            await tx.execute(f"INSERT INTO user_seq (user_id) VALUES {marks} ON CONFLICT (user_id) DO NOTHING", *chunk)
            await self._lock_counters(tx, chunk)
        by_count: dict[int, list[str]] = defaultdict(list)
        for user in users:
            by_count[counts[user]].append(user)
        last: dict[str, int] = {}
        for n, group in by_count.items():
            for start in range(0, len(group), _SEQ_CHUNK):
                last.update(await self._bump(tx, group[start : start + _SEQ_CHUNK], n))
        return last

    async def _lock_counters(self, tx: Executor, users: list[str]) -> set[str]:
        """Those of the users who have a counter, locked until the transaction ends (PostgreSQL; SQLite has one
        writer, so nothing else can hold these rows)."""
        if self.db.backend == "postgresql":
            rows = await tx.fetch(
                f"SELECT user_id FROM user_seq WHERE user_id IN ({_marks(1, len(users))}) ORDER BY user_id FOR UPDATE",
                *users,
            )
            return {row["user_id"] for row in rows}
        found = await tx.fetch_many(
            f"SELECT user_id FROM user_seq WHERE user_id IN ({_marks(1, len(users))})", ("user_id",), *users
        )
        return {user_id for (user_id,) in found}

    @staticmethod
    async def _bump(tx: Executor, users: list[str], n: int) -> dict[str, int]:
        await tx.execute(
            f"UPDATE user_seq SET last_seq = last_seq + $1 WHERE user_id IN ({_marks(2, len(users))})", n, *users
        )
        # Read back in the same transaction (not RETURNING: fetch_many hands over many rows in one go).
        rows = await tx.fetch_many(
            f"SELECT user_id, last_seq FROM user_seq WHERE user_id IN ({_marks(1, len(users))})",
            ("user_id", "last_seq"),
            *users,
        )
        return {user_id: int(last_seq) for user_id, last_seq in rows}

    async def last_seq(self, user_id: str) -> int:
        value = await self.db.fetchval("SELECT last_seq FROM user_seq WHERE user_id = $1", user_id)
        return int(value or 0)

    async def events_after(self, user_id: str, after: int, limit: int, upto: int | None = None) -> list[Event]:
        """The user's events after seq `after` (at most `limit`, and none past `upto`), oldest first. Message
        events carry the message as it is now, if the user is still a member of its chat.

        A row covering a run of messages joins each of the run's messages that falls in the window, so every
        row read gives at least one event and `limit` rows give at least `limit` events."""
        upto = upto if upto is not None else 2**62
        rows = await self.db.fetch(
            "SELECT e.seq, e.span, e.kind, e.chat_id, e.message_id, e.payload, e.created_at,"
            " m.chat_id AS m_chat_id, m.id AS m_id, m.sender_id AS m_sender_id, m.client_id AS m_client_id,"
            " m.kind AS m_kind, m.body AS m_body, m.reply_to AS m_reply_to, m.meta AS m_meta,"
            " m.created_at AS m_created_at, m.edited_at AS m_edited_at, m.deleted_at AS m_deleted_at"
            " FROM user_events e"
            " LEFT JOIN chat_members cm ON cm.chat_id = e.chat_id AND cm.user_id = e.user_id"
            " LEFT JOIN messages m ON e.kind = 'message.new' AND m.chat_id = cm.chat_id"
            " AND m.id >= e.message_id AND m.id < e.message_id + e.span"
            " AND m.id - e.message_id + e.seq > $2 AND m.id - e.message_id + e.seq <= $3"
            " WHERE e.user_id = $1 AND e.seq > $5 AND e.seq + e.span > $6 AND e.seq <= $3"
            " ORDER BY e.seq, m.id LIMIT $4",
            user_id,
            after,
            upto,
            limit,
            after - MAX_SPAN,
            after + 1,
        )
        events: list[Event] = []
        for row in rows:
            first, base = int(row["seq"]), row["message_id"]
            covered: list[tuple[int, int | None, Message | None]]
            if row["m_id"] is not None:  # one message of the run, at its own seq
                found = self.message_of(row, "m_")
                covered = [(first + found.id - int(base), found.id, found)]
            else:  # a plain event, or a run whose chat the user has left (its messages are not theirs now)
                covered = [
                    (seq, None if base is None else int(base) + seq - first, None)
                    for seq in range(max(first, after + 1), min(first + int(row["span"]), upto + 1))
                ]
            for seq, message_id, message in covered:
                events.append(
                    Event(
                        user_id=user_id,
                        seq=seq,
                        kind=row["kind"],
                        chat_id=row["chat_id"],
                        message_id=message_id,
                        payload=self._open_json(row["payload"], "user_events", "payload", f"{user_id}:{seq}"),
                        created_at=row["created_at"],
                        message=message,
                    )
                )
        return events[:limit]

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
        seqs = await self._append_message_events(tx, messages, max(newest.values()))
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
