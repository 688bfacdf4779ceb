"""Chat messages: send, edit, delete, react, read and delivered receipts, history, readers and typing, and the
`message.new` events read back from a user's log.

Sends go through the batch writer (server/storage/chat/sends.py): a send is acknowledged once its batch
committed, and a resend with the same client_id returns the original. Other changes are written with their
events through ChatService.change, like every change to a chat.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

import orjson

from server.chat.service import ChatService, unique, visible_in_list
from server.chat.views import message_view
from server.config import RateLimit
from server.encoding import Base64Error, decode_base64
from server.errors import ApiError, Forbidden, NotFound, Unavailable, ValidationError
from server.events.log import event_frame
from server.storage.batch import BatchWriter, QueueFullError
from server.storage.chat.messages import MessageRepository
from server.storage.chat.records import Chat, Member, Message, Send, SendRefused, Sent
from server.storage.database import Executor
from server.storage.events import ChatEvent, LoggedEvent, NewEvent
from server.web.ratelimit import RateLimiter, enforce
from server.wiring import Signal

MAX_TEXT = 4000  # characters of a plain message
MAX_CIPHERTEXT = 48 * 1024  # base64 characters of an end-to-end message (frames are at most 64 KiB)
MAX_MENTIONS = 50
MAX_EMOJI = 16  # characters: one emoji with its modifiers
DELETE_WINDOW_SECONDS = 48 * 3600  # senders may delete for everyone within this time
RECEIPT_FANOUT_MAX = 256  # larger groups get read receipts through the readers route, not pushed to all
TYPING_SECONDS = 6.0  # a typing indicator expires after this long unless renewed
TYPING_EVERY = 3.0  # at most one typing event per user and chat this often
HISTORY_MAX = 100
SEND_LIMIT = RateLimit(30, 10)  # messages per user and window (seconds)


class MessageService:
    def __init__(
        self,
        chats: ChatService,
        messages: MessageRepository,
        writer: BatchWriter[Send, Sent | SendRefused],
        limiter: RateLimiter,
        *,
        send_limit: RateLimit = SEND_LIMIT,
    ) -> None:
        self._chats = chats
        self._members = chats.members
        self.messages = messages
        self._writer = writer
        self._events = chats.events
        self._limiter = limiter
        self._send_limit = send_limit
        self._clock = chats.clock
        self._typing: dict[tuple[str, str], float] = {}
        self._fixed: dict[str, Chat] = {}  # chats by id, for what never changes (kind, e2e)
        # Fired once per new message with its view and each member's seq, so push can reach users with no
        # connection.
        self.message_sent: Signal[[dict[str, Any], dict[str, int]], None] = Signal("message_sent")

    def publish_sent(self, sent: Sent, e2e: bool) -> dict[str, Any]:
        """Send a new message's event to every member, and fire `message_sent`; returns the message's view."""
        view = message_view(sent.message, e2e)
        # The message is serialised once and published once; each member's frame differs only in its seq.
        encoded = orjson.Fragment(orjson.dumps(view))
        self._events.publish_numbered(
            {"type": "message.new", "chat_id": sent.message.chat_id, "message": encoded}, sent.seqs
        )
        self.message_sent.send(view, sent.seqs)
        return view

    async def send(
        self,
        user_id: str,
        chat_id: str,
        *,
        client_id: str | None,
        text: str | None = None,
        ciphertext: str | None = None,
        reply_to: int | None = None,
        mentions: Sequence[str] = (),
        forward: tuple[str, int] | None = None,
        attachments: Sequence[str] = (),
        silent: bool = False,
    ) -> dict[str, Any]:
        """Send a message; returns it once committed (a resend with the same client_id returns the original).
        `attachments` are ids of the sender's uploads to this chat, taken by this message. A `silent` one (an
        end-to-end chat's reaction) counts as no unread, rings no push and is not the chat list's last message."""
        if client_id is not None:
            client_id = _client_id(client_id)
        await enforce(self._limiter, self._send_limit, f"chat-send:{user_id}")
        chat = self._fixed.get(chat_id)
        if chat is None or forward is not None or attachments or silent:
            # A non-member learns nothing, not even the chat's kind: membership is checked before anything
            # that depends on the chat. Plain sends to a chat this process has seen skip the read: the batch
            # checks membership in its transaction, and answers a non-member as if the chat did not exist.
            await self._chats.member(user_id, chat_id)
            chat = chat or await self._chats.chat(chat_id)
            if len(self._fixed) >= 100_000:
                self._fixed.clear()
            self._fixed[chat_id] = chat  # its kind and e2e never change
            checked = True
        else:
            checked = False
        meta: dict[str, Any] = {}
        try:
            if forward is not None:
                meta["forward"] = await self._forward_origin(user_id, chat, *forward)
                text, ciphertext = meta["forward"].pop("text"), meta["forward"].pop("ciphertext")
            if attachments and text is None and ciphertext is None and not chat.e2e:
                text = ""  # a photo needs no caption
            body = self._body(chat, text, ciphertext, captionless=bool(attachments))
            if silent and not chat.e2e:
                raise ValidationError("only an end-to-end chat takes silent messages", field="silent")
            if mentions:
                if chat.e2e:
                    raise ValidationError("mentions are part of the ciphertext in an end-to-end chat", field="mentions")
                meta["mentions"] = await self._members_only(chat_id, unique(mentions)[:MAX_MENTIONS])
        except ApiError:
            if not checked:
                await self._chats.member(user_id, chat_id)  # a non-member gets chat_not_found, not what was wrong
            raise
        try:
            result = await self._writer.submit(
                Send(
                    chat_id,
                    user_id,
                    client_id,
                    body,
                    self._clock(),
                    reply_to=reply_to,
                    meta=meta,
                    attachment_ids=tuple(attachments),
                    silent=silent,
                )
            )
        except QueueFullError as exc:  # not queued, so not sent: the client sends it again (same client_id)
            raise Unavailable("too many messages are being sent just now; send it again", exc.retry_after) from None
        if isinstance(result, SendRefused):
            raise {
                "not_found": NotFound("no such chat", code="chat_not_found"),
                "blocked": Forbidden("you cannot send messages to this user", code="blocked"),
                "broadcast_only_admins": Forbidden(
                    "only the channel's owner and admins post in it", code="broadcast_only_admins"
                ),
                "bad_reply": ValidationError("reply_to is not a message of this chat", field="reply_to"),
                "bad_attachments": ValidationError(
                    "attachments must be your own uploads to this chat, not used by another message",
                    field="attachments",
                ),
            }[result.code]
        if result.duplicate:
            return {**message_view(result.message, chat.e2e), "duplicate": True}
        # A copy: the view published is held by push's queue.
        return {**self.publish_sent(result, chat.e2e), "duplicate": False}

    async def record(self, chat_id: str, sender_id: str, client_id: str, meta: dict[str, Any]) -> bool:
        """A system message another domain writes into a chat's history (a call's entry, `meta` = `{"call":
        {...}}`): no text, delivered like any message. `client_id` makes a repeat a no-op. False when the chat
        refused it (gone, or the sender is no longer a member)."""
        chat = await self._chats.chat(chat_id)
        send = Send(chat_id, sender_id, str(uuid.UUID(client_id)), "", self._clock(), meta=meta, kind="system")
        result = await self._writer.submit(send)
        if isinstance(result, SendRefused):
            return False
        if not result.duplicate:
            self.publish_sent(result, chat.e2e)
        return True

    async def _members_only(self, chat_id: str, mentions: list[str]) -> list[str]:
        """The mentions, when each names a member of the chat: a mention of anyone else is refused (it would
        push to, and tell the client about, someone who cannot read the message)."""
        members = await self._members.members_among(chat_id, mentions)
        strangers = [m for m in mentions if m not in members]
        if strangers:
            raise ValidationError("mentions must name members of the chat", field="mentions")
        return mentions

    @staticmethod
    def _body(chat: Chat, text: str | None, ciphertext: str | None, captionless: bool = False) -> str:
        if chat.e2e:
            if ciphertext is None or text is not None:
                raise ValidationError("an end-to-end chat takes ciphertext, not text", field="ciphertext")
            if len(ciphertext) > MAX_CIPHERTEXT:
                raise ValidationError(
                    "{field} is longer than {limit} characters", field="ciphertext", limit=MAX_CIPHERTEXT
                )
            try:
                decode_base64(ciphertext)
            except Base64Error:
                raise ValidationError("ciphertext must be base64", field="ciphertext") from None
            return ciphertext
        if text is None or ciphertext is not None:
            raise ValidationError("a message needs text", field="text")
        if not text.strip() and not captionless:
            raise ValidationError("text must not be empty", field="text")
        if len(text) > MAX_TEXT:
            raise ValidationError(
                "{field} is longer than {limit} characters", field="text", code="too_long", limit=MAX_TEXT
            )
        if "\x00" in text:
            raise ValidationError("text must not contain NUL characters", field="text")
        return text

    async def _forward_origin(self, user_id: str, into: Chat, from_chat: str, message_id: int) -> dict[str, Any]:
        _, message = await self._visible(user_id, from_chat, message_id)
        source = await self._chats.chat(from_chat)
        if message.deleted_at or message.kind != "text":
            raise NotFound("no such message", code="message_not_found")
        if source.e2e or into.e2e:
            raise ValidationError("end-to-end messages are forwarded by the client, re-encrypted", field="forward")
        origin = message.meta.get("forward")  # a forward of a forward names the first sender
        return {
            "sender_id": origin["sender_id"] if origin else message.sender_id,
            "created_at": origin["created_at"] if origin else message.created_at,
            "text": message.body,
            "ciphertext": None,
        }

    async def visible_message(self, user_id: str, chat_id: str, message_id: int) -> dict[str, Any]:
        """A message the user can see (a member since before it), as they see it."""
        _, message = await self._visible(user_id, chat_id, message_id)
        return message_view(message, (await self._chats.chat(chat_id)).e2e)

    async def _visible(
        self, user_id: str, chat_id: str, message_id: int, tx: Executor | None = None
    ) -> tuple[Member, Message]:
        """The member and a message of their chat they can see (sent after they joined), or message_not_found."""
        member = await self._chats.member(user_id, chat_id, tx)
        message = await self.messages.message(chat_id, message_id, tx)
        if message is None or message.id <= member.joined_message_id:
            raise NotFound("no such message", code="message_not_found")
        return member, message

    async def edit(
        self, user_id: str, chat_id: str, message_id: int, text: str | None, ciphertext: str | None
    ) -> dict[str, Any]:
        await self._chats.member(user_id, chat_id)
        chat = await self._chats.chat(chat_id)
        body = self._body(chat, text, ciphertext)
        edited: list[Message] = []

        async def work(tx: Executor, now: float) -> list[NewEvent | ChatEvent]:
            _, message = await self._visible(user_id, chat_id, message_id, tx)
            if message.sender_id != user_id:
                raise Forbidden("only the sender may edit a message", code="forbidden")
            if message.deleted_at is not None:
                raise NotFound("no such message", code="message_not_found")
            await self.messages.edit_message(tx, chat_id, message_id, body, now)
            after = await self.messages.message(chat_id, message_id, tx)
            assert after is not None
            edited.append(after)
            view = message_view(after, chat.e2e)
            members = await self._members.member_ids(tx, chat_id)
            return [ChatEvent(chat_id, "message.edited", members, message_id, payload={"message": view})]

        await self._chats.change(work)
        return message_view(edited[0], chat.e2e)

    async def delete(self, user_id: str, chat_id: str, message_id: int, *, for_everyone: bool) -> None:
        async def work(tx: Executor, now: float) -> list[NewEvent | ChatEvent]:
            member, message = await self._visible(user_id, chat_id, message_id, tx)
            if not for_everyone:
                await self.messages.hide_message(tx, user_id, chat_id, message_id)
                return [NewEvent(user_id, "message.hidden", chat_id, message_id, payload={"message_id": message_id})]
            if message.deleted_at is not None:
                return []
            chat = await self._chats.chat(chat_id, tx)
            moderator = chat.kind == "group" and member.at_least("admin")
            if message.sender_id != user_id and not moderator:
                raise Forbidden("only the sender (or a group admin) may delete for everyone", code="forbidden")
            if message.sender_id == user_id and not moderator and now - message.created_at > DELETE_WINDOW_SECONDS:
                raise Forbidden("too late to delete this message for everyone", code="delete_window_over")
            return await self.erase(tx, chat_id, message_id, now, by=user_id)

        await self._chats.change(work)

    async def erase(
        self, tx: Executor, chat_id: str, message_id: int, now: float, *, by: str, moderated: bool = False
    ) -> list[NewEvent | ChatEvent]:
        """Delete a message for everyone (its content, reactions and attachments go; its id stays), and the
        events that tell every member. Whoever calls has checked who may."""
        await self.messages.delete_message(tx, chat_id, message_id, now)
        payload: dict[str, Any] = {"message_id": message_id, "by": by}
        if moderated:
            payload["moderated"] = True
        return [
            ChatEvent(
                chat_id, "message.deleted", await self._members.member_ids(tx, chat_id), message_id, payload=payload
            )
        ]

    async def react(self, user_id: str, chat_id: str, message_id: int, emoji: str, on: bool) -> None:
        if not emoji or len(emoji) > MAX_EMOJI or any(c.isspace() or c.isalnum() for c in emoji):
            raise ValidationError("emoji must be one emoji", field="emoji")

        async def work(tx: Executor, now: float) -> list[NewEvent | ChatEvent]:
            _, message = await self._visible(user_id, chat_id, message_id, tx)
            if message.deleted_at is not None:
                raise NotFound("no such message", code="message_not_found")
            if (await self._chats.chat(chat_id, tx)).e2e:  # the emoji would be stored and sent in clear
                raise ValidationError(
                    "an end-to-end chat's reactions are encrypted silent messages, not message.react", field="emoji"
                )
            if not await self.messages.set_reaction(tx, chat_id, message_id, user_id, emoji, on, now):
                return []
            payload = {"message_id": message_id, "user_id": user_id, "emoji": emoji, "on": on}
            return [
                ChatEvent(chat_id, "reaction", await self._members.member_ids(tx, chat_id), message_id, payload=payload)
            ]

        await self._chats.change(work)

    async def mark(self, user_id: str, chat_id: str, message_id: int, pointer: str) -> dict[str, Any]:
        """Move the read (or delivered) pointer up to `message_id`; members hear of it as a receipt."""
        if message_id < 1:
            raise ValidationError("message_id must be at least 1", field="message_id")
        column = "read_id" if pointer == "read" else "delivered_id"

        async def work(tx: Executor, now: float) -> list[NewEvent | ChatEvent]:
            await self._chats.member(user_id, chat_id, tx)
            chat = await self._chats.chat(chat_id, tx)
            upto = min(message_id, chat.last_message_id)
            if not await self._members.move_pointer(tx, chat_id, user_id, column, upto):
                return []
            payload = {"user_id": user_id, "message_id": upto}
            members = await self._members.member_ids(tx, chat_id)
            if len(members) > RECEIPT_FANOUT_MAX:  # big groups: own devices only; others ask the readers route
                return [NewEvent(user_id, f"chat.{pointer}", chat_id, payload=payload)]
            return [ChatEvent(chat_id, f"chat.{pointer}", members, payload=payload)]

        await self._chats.change(work)
        member = await self._chats.member(user_id, chat_id)
        return {"chat_id": chat_id, "read_id": member.read_id, "delivered_id": member.delivered_id}

    async def history(
        self, user_id: str, chat_id: str, *, before: int | None, after: int | None, limit: int
    ) -> dict[str, Any]:
        member = await self._chats.member(user_id, chat_id)
        chat = await self._chats.chat(chat_id)
        limit = max(1, min(limit, HISTORY_MAX))
        page = await self.messages.history(
            chat_id, user_id, floor=member.joined_message_id, before=before, after=after, limit=limit
        )
        return {
            "chat_id": chat_id,
            "messages": [message_view(m, chat.e2e) for m in page],
            "read_id": member.read_id,
            "last_message_id": chat.last_message_id,
            "has_more": len(page) == limit,
        }

    async def readers(self, user_id: str, chat_id: str, message_id: int) -> dict[str, Any]:
        await self._chats.member(user_id, chat_id)
        rows = await self._members.readers(chat_id, message_id)
        return {
            "read_by": [r["user_id"] for r in rows if int(r["read_id"]) >= message_id and r["user_id"] != user_id],
            "delivered_to": [
                r["user_id"] for r in rows if int(r["delivered_id"]) >= message_id and r["user_id"] != user_id
            ],
        }

    async def typing(self, user_id: str, chat_id: str) -> bool:
        """Tell the other members that the user is typing; throttled, and it expires on its own. In a group of
        more than RECEIPT_FANOUT_MAX members nobody is told (False): a frame to thousands per keystroke burst
        says little; a broadcast group's members, who cannot post, are refused."""
        member = await self._chats.member(user_id, chat_id)
        chat = await self._chats.chat(chat_id)
        if chat.broadcast and member.role == "member":
            raise Forbidden("only the channel's owner and admins post in it", code="broadcast_only_admins")
        now = time.monotonic()
        key = (user_id, chat_id)
        if now - self._typing.get(key, -TYPING_EVERY) < TYPING_EVERY:
            return False
        self._typing[key] = now
        if len(self._typing) > 100_000:
            self._typing = {k: v for k, v in self._typing.items() if now - v < TYPING_EVERY}
        frame = {"type": "typing", "chat_id": chat_id, "user_id": user_id, "expires_in": TYPING_SECONDS}
        if chat.kind == "group" and await self._members.member_count(self._chats.db, chat_id) > RECEIPT_FANOUT_MAX:
            return False
        for other in await self._members.member_ids(self._chats.db, chat_id):
            if other != user_id and visible_in_list(chat, other):
                self._events.publish(other, frame)
        return True

    # -- the event log -----------------------------------------------------------------------------
    async def read_new_messages(self, user_id: str, events: list[LoggedEvent]) -> list[dict[str, Any]]:
        """The frames of `message.new` events read back from a user's log: each carries its message as it is
        now, or null once the user has left its chat."""
        ids: dict[str, list[int]] = {}
        for event in events:
            if event.chat_id is not None and event.message_id is not None:
                ids.setdefault(event.chat_id, []).append(event.message_id)
        found: dict[tuple[str, int], tuple[Message, bool]] = {}
        for chat_id, message_ids in ids.items():
            messages = await self.messages.member_messages(user_id, chat_id, message_ids)
            chat = await self._chats.chats.chat(chat_id) if messages else None
            found.update(((chat_id, mid), (m, bool(chat and chat.e2e))) for mid, m in messages.items())
        frames = []
        for event in events:
            hit = found.get((event.chat_id or "", event.message_id or 0))
            payload = {"message": message_view(hit[0], hit[1]) if hit else None}
            frames.append(event_frame(event.kind, event.seq, event.chat_id, payload))
        return frames


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _client_id(value: str) -> str:
    if isinstance(value, str) and _CANONICAL_UUID.fullmatch(value):
        return value  # already as str(UUID(value)) writes it (what clients send): no UUID object to make
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise ValidationError("client_id must be a UUID", field="client_id") from None
