"""Chat rules: who may do what in a chat, and what every member hears about it.

Every change that members must not miss is written together with one event per affected user (their next
`seq`), in the same transaction, and published to their broker topic after the commit. A member removed
from a chat gets nothing after the removal commits, because each change reads the members inside its own
transaction. A chat the user is not a member of answers exactly like a chat that does not exist.
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from server.config import RateLimit
from server.errors import ApiError, Forbidden, NotFound, ValidationError
from server.events.log import EventLog, Work, event_frame
from server.storage.batch import BatchWriter
from server.storage.chat import (
    Chat,
    ChatExtrasRepository,
    ChatRepository,
    Invite,
    Member,
    Message,
    Send,
    SendRefused,
    Sent,
)
from server.storage.database import Executor, IntegrityError
from server.storage.events import LoggedEvent, NewEvent
from server.web.ratelimit import RateLimiter, enforce
from server.wiring import Signal

MAX_TEXT = 4000  # characters of a plain message
MAX_CIPHERTEXT = 48 * 1024  # base64 characters of an end-to-end message (frames are at most 64 KiB)
MAX_NAME = 100
MAX_DESCRIPTION = 1000
MAX_MEMBERS = 5000
MAX_MENTIONS = 50
MAX_EMOJI = 16  # characters: one emoji with its modifiers
DELETE_WINDOW_SECONDS = 48 * 3600  # senders may delete for everyone within this time
RECEIPT_FANOUT_MAX = 256  # larger groups get read receipts through the readers route, not pushed to all
TYPING_SECONDS = 6.0  # a typing indicator expires after this long unless renewed
TYPING_EVERY = 3.0  # at most one typing event per user and chat this often
HISTORY_MAX = 100
SEND_LIMIT = RateLimit(30, 10)  # messages per user and window (seconds)


class ChatService:
    def __init__(
        self,
        repo: ChatRepository,
        extras: ChatExtrasRepository,
        writer: BatchWriter[Send, Sent | SendRefused],
        events: EventLog,
        limiter: RateLimiter,
        *,
        send_limit: RateLimit = SEND_LIMIT,
        names: Callable[[Sequence[str]], Awaitable[dict[str, str]]] | None = None,
        active_ids: Callable[[Sequence[str]], Awaitable[set[str]]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self.extras = extras
        self._db = repo.db
        self._writer = writer
        self.events = events
        self._limiter = limiter
        self._send_limit = send_limit
        self._clock = clock
        self._names = names
        self._active_ids = active_ids  # users who exist and are not suspended
        self._typing: dict[tuple[str, str], float] = {}
        self._fixed: dict[str, Chat] = {}  # chats by id, for what never changes (kind, e2e)
        # Fired once per new message with its view and each member's seq, so push can reach users with no
        # connection.
        self.message_sent: Signal[[dict[str, Any], dict[str, int]], None] = Signal("message_sent")

    # -- access ------------------------------------------------------------------------------------
    async def _member(self, user_id: str, chat_id: str, executor: Executor | None = None) -> Member:
        member = await self.repo.member(chat_id, user_id, executor) if sane_id(chat_id) else None
        if member is None:
            raise NotFound("no such chat", code="chat_not_found")
        return member

    async def _chat(self, chat_id: str, executor: Executor | None = None) -> Chat:
        chat = await self.repo.chat(chat_id, executor)
        if chat is None:
            raise NotFound("no such chat", code="chat_not_found")
        return chat

    @staticmethod
    def _require(member: Member, role: str, chat: Chat) -> None:
        if chat.kind != "group":
            raise Forbidden("a direct chat has no admins", code="not_a_group")
        if not member.at_least(role):
            raise Forbidden(f"only the group's {role}s may do this", code="forbidden")

    # -- events ------------------------------------------------------------------------------------
    async def change(self, work: Work) -> list[dict[str, Any]]:
        """Run `work` in a transaction with the events it returns; publish them after the commit."""
        return await self.events.change(work, self._clock())

    def publish_sent(self, sent: Sent, e2e: bool) -> None:
        view = message_view(sent.message, e2e)
        # The message is serialised once; each member's frame differs only in its seq.
        encoded = orjson.Fragment(orjson.dumps(view))
        chat_id = sent.message.chat_id
        publish = self.events.publish
        for user_id, seq in sent.seqs.items():
            publish(user_id, {"type": "message.new", "seq": seq, "chat_id": chat_id, "message": encoded})
        self.message_sent.send(view, sent.seqs)

    # -- chats -------------------------------------------------------------------------------------
    async def create_direct(self, user_id: str, other_id: str, e2e: bool) -> tuple[dict[str, Any], bool]:
        """The direct chat between two users: found if it exists, made otherwise. True if made now."""
        if other_id == user_id:
            raise ValidationError("a direct chat needs another user", field="user_id")
        if not await self.user_exists(other_id):
            raise NotFound("no such user", code="user_not_found")
        existing = await self.repo.direct_chat(self._db, user_id, other_id)
        if existing is not None:
            return await self.chat_view(user_id, existing), False
        created: list[str] = []

        async def work(tx: Executor, now: float) -> list[NewEvent]:
            if await self.repo.direct_chat(tx, user_id, other_id) is not None:
                return []  # made by the other side a moment ago
            chat_id = await self.repo.create_chat(
                tx,
                kind="direct",
                created_by=user_id,
                members=[(user_id, "member"), (other_id, "member")],
                now=now,
                e2e=e2e,
                pair=(user_id, other_id),
            )
            created.append(chat_id)
            return [NewEvent(u, "chat.created", chat_id, payload={"by": user_id}) for u in (user_id, other_id)]

        try:
            await self.change(work)
        except IntegrityError:
            created.clear()  # the other side made it at the same moment (PostgreSQL): theirs stands
        chat_id = created[0] if created else await self.repo.direct_chat(self._db, user_id, other_id)
        assert chat_id is not None
        return await self.chat_view(user_id, chat_id), bool(created)

    async def create_group(
        self, user_id: str, name: str, description: str | None, member_ids: Sequence[str], e2e: bool
    ) -> dict[str, Any]:
        others = _unique([m for m in member_ids if m != user_id])
        if len(others) + 1 > MAX_MEMBERS:
            raise ValidationError(f"a group has at most {MAX_MEMBERS} members", field="members")
        await self._require_users(others, field="members")
        created: list[str] = []

        async def work(tx: Executor, now: float) -> list[NewEvent]:
            chat_id = await self.repo.create_chat(
                tx,
                kind="group",
                created_by=user_id,
                members=[(user_id, "owner"), *((m, "member") for m in others)],
                now=now,
                e2e=e2e,
                name=name,
                description=description,
            )
            created.append(chat_id)
            return [NewEvent(u, "chat.created", chat_id, payload={"by": user_id}) for u in (user_id, *others)]

        await self.change(work)
        return await self.chat_view(user_id, created[0])

    async def chat_view(self, user_id: str, chat_id: str) -> dict[str, Any]:
        member = await self._member(user_id, chat_id)
        chat = await self._chat(chat_id)
        members = await self.repo.members(chat_id)
        view = chat_summary(chat)
        view["me"] = member_settings(member)
        names = await self.names([m.user_id for m in members])
        view["members"] = [
            {"user_id": m.user_id, "display_name": names.get(m.user_id), "role": m.role, "joined_at": m.joined_at}
            for m in members
        ]
        return view

    async def names(self, user_ids: Sequence[str]) -> dict[str, str]:
        """Display names, for people who share a chat (members see each other's names)."""
        return await self._names(user_ids) if self._names is not None and user_ids else {}

    async def list_chats(self, user_id: str, *, archived: bool | None) -> list[dict[str, Any]]:
        out = []
        listed = await self.repo.chat_list(user_id)
        peers = await self.repo.direct_peers(user_id)
        names = await self.names(list(peers.values()))
        for chat, member, last, unread in listed:
            if archived is not None and member.archived != archived:
                continue
            view = chat_summary(chat)
            view["me"] = member_settings(member)
            view["last_message"] = message_view(last, chat.e2e) if last else None
            view["unread"] = unread
            if chat.id in peers:  # a direct chat: who it is with
                view["peer"] = {"user_id": peers[chat.id], "display_name": names.get(peers[chat.id])}
            out.append(view)
        # Pinned first (most recently pinned on top), then by latest activity.
        out.sort(key=lambda v: (v["me"]["pinned_at"] or 0, v["last_message_at"] or v["created_at"]), reverse=True)
        return out

    async def update_group(self, user_id: str, chat_id: str, values: dict[str, Any]) -> dict[str, Any]:
        async def work(tx: Executor, now: float) -> list[NewEvent]:
            member = await self._member(user_id, chat_id, tx)
            chat = await self._chat(chat_id, tx)
            self._require(member, "admin", chat)
            if not await self.repo.update_chat(tx, chat_id, {**values, "by": user_id}, now):
                raise ValidationError("avatar_id must be an image you uploaded to this chat", field="avatar_id")
            payload = {"by": user_id, **values}
            return [
                NewEvent(u, "chat.updated", chat_id, payload=payload) for u in await self.repo.member_ids(tx, chat_id)
            ]

        await self.change(work)
        return await self.chat_view(user_id, chat_id)

    async def add_members(self, user_id: str, chat_id: str, new_ids: Sequence[str]) -> dict[str, Any]:
        wanted = _unique(new_ids)

        async def work(tx: Executor, now: float) -> list[NewEvent]:
            await self.repo.lock_chat(tx, chat_id)
            member = await self._member(user_id, chat_id, tx)
            chat = await self._chat(chat_id, tx)
            self._require(member, "admin", chat)
            await self._require_users(wanted)  # (after the role check: only an admin makes us look users up)
            current = set(await self.repo.member_ids(tx, chat_id))
            fresh = [u for u in wanted if u not in current]
            if len(current) + len(fresh) > MAX_MEMBERS:
                raise ValidationError(f"a group has at most {MAX_MEMBERS} members", field="user_ids")
            await self.repo.add_members(tx, chat_id, [(u, "member") for u in fresh], now, chat.last_message_id)
            events = []
            for added in fresh:
                events.append(NewEvent(added, "chat.created", chat_id, payload={"by": user_id}))
                events.extend(
                    NewEvent(u, "member.added", chat_id, payload={"user_id": added, "by": user_id}) for u in current
                )
            return events

        await self.change(work)
        return await self.chat_view(user_id, chat_id)

    async def remove_member(self, user_id: str, chat_id: str, target: str) -> None:
        async def work(tx: Executor, now: float) -> list[NewEvent]:
            await self.repo.lock_chat(tx, chat_id)
            member = await self._member(user_id, chat_id, tx)
            chat = await self._chat(chat_id, tx)
            self._require(member, "admin", chat)
            victim = await self.repo.member(chat_id, target, tx)
            if victim is None:
                raise NotFound("that user is not a member", code="member_not_found")
            if victim.user_id == user_id:
                raise ValidationError("use leave to leave a group", code="use_leave")
            if victim.at_least(member.role) and member.role != "owner":
                raise Forbidden("admins cannot remove admins or the owner", code="forbidden")
            await self.repo.remove_member(tx, chat_id, target)
            remaining = await self.repo.member_ids(tx, chat_id)
            return [NewEvent(target, "chat.removed", chat_id, payload={"by": user_id})] + [
                NewEvent(u, "member.removed", chat_id, payload={"user_id": target, "by": user_id}) for u in remaining
            ]

        await self.change(work)

    async def set_role(self, user_id: str, chat_id: str, target: str, role: str) -> None:
        async def work(tx: Executor, now: float) -> list[NewEvent]:
            await self.repo.lock_chat(tx, chat_id)
            member = await self._member(user_id, chat_id, tx)
            chat = await self._chat(chat_id, tx)
            self._require(member, "owner", chat)
            other = await self.repo.member(chat_id, target, tx)
            if other is None:
                raise NotFound("that user is not a member", code="member_not_found")
            if other.user_id == user_id:
                raise ValidationError("the owner hands over ownership by making another member owner", field="role")
            await self.repo.set_role(tx, chat_id, target, role)
            if role == "owner":  # one owner: the old one steps down to admin
                await self.repo.set_role(tx, chat_id, user_id, "admin")
            payload = {"user_id": target, "role": role, "by": user_id}
            return [
                NewEvent(u, "member.role", chat_id, payload=payload) for u in await self.repo.member_ids(tx, chat_id)
            ]

        await self.change(work)

    async def leave(self, user_id: str, chat_id: str) -> None:
        async def work(tx: Executor, now: float) -> list[NewEvent]:
            await self.repo.lock_chat(tx, chat_id)
            member = await self._member(user_id, chat_id, tx)
            chat = await self._chat(chat_id, tx)
            if chat.kind != "group":
                raise Forbidden("a direct chat cannot be left; archive or block instead", code="not_a_group")
            await self.repo.remove_member(tx, chat_id, user_id)
            rest = await self.repo.members(chat_id, tx)
            events = [NewEvent(user_id, "chat.removed", chat_id, payload={"by": user_id})]
            if not rest:
                await self.repo.delete_chat(tx, chat_id)
                return events
            if member.role == "owner":  # the longest-serving admin (else member) becomes owner
                heir = sorted(rest, key=lambda m: (m.role != "admin", m.joined_at, m.user_id))[0]
                await self.repo.set_role(tx, chat_id, heir.user_id, "owner")
                events.extend(
                    NewEvent(m.user_id, "member.role", chat_id, payload={"user_id": heir.user_id, "role": "owner"})
                    for m in rest
                )
            events.extend(NewEvent(m.user_id, "member.left", chat_id, payload={"user_id": user_id}) for m in rest)
            return events

        await self.change(work)

    async def settings(self, user_id: str, chat_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """Pin, mute and archive: the member's own, kept in step across their devices."""

        async def work(tx: Executor, now: float) -> list[NewEvent]:
            await self._member(user_id, chat_id, tx)
            changes: dict[str, Any] = {}
            if "pinned" in values:
                changes["pinned_at"] = now if values["pinned"] else None
            if "muted_until" in values:
                changes["muted_until"] = values["muted_until"]
            if "archived" in values:
                changes["archived"] = int(values["archived"])
            if changes:
                await self.repo.set_member_flags(tx, chat_id, user_id, changes)
            member = await self._member(user_id, chat_id, tx)
            return [NewEvent(user_id, "chat.settings", chat_id, payload=member_settings(member))]

        frames = await self.change(work)
        return {k: v for k, v in frames[0].items() if k not in ("type", "seq")}

    # -- invite links --------------------------------------------------------------------------------
    async def create_invite(
        self, user_id: str, chat_id: str, expires_in: float | None, max_uses: int | None
    ) -> dict[str, Any]:
        member = await self._member(user_id, chat_id)
        self._require(member, "admin", await self._chat(chat_id))
        now = self._clock()
        invite = await self.extras.create_invite(
            chat_id, user_id, None if expires_in is None else now + expires_in, max_uses, now
        )
        return invite_view(invite, now)

    async def invites(self, user_id: str, chat_id: str) -> list[dict[str, Any]]:
        member = await self._member(user_id, chat_id)
        self._require(member, "admin", await self._chat(chat_id))
        now = self._clock()
        return [invite_view(i, now) for i in await self.extras.invites(chat_id)]

    async def revoke_invite(self, user_id: str, chat_id: str, invite_id: str) -> None:
        member = await self._member(user_id, chat_id)
        self._require(member, "admin", await self._chat(chat_id))
        if not await self.extras.revoke_invite(chat_id, invite_id[:64], self._clock()):
            raise NotFound("no such invite, or already revoked", code="invite_not_found")

    async def _usable_invite(self, code: str) -> Invite:
        invite = await self.extras.invite_by_code(code) if 0 < len(code) <= 64 else None
        if invite is None:
            raise NotFound("no such invite", code="invite_not_found")
        if invite_view(invite, self._clock())["state"] != "active":
            raise ApiError("this invite link is no longer valid", code="invite_expired", status=410)
        return invite

    async def invite_preview(self, code: str) -> dict[str, Any]:
        """What someone holding the link may see before joining: the group's name and size."""
        invite = await self._usable_invite(code)
        chat = await self._chat(invite.chat_id)
        members = await self.repo.member_ids(self._db, chat.id)
        return {"chat_id": chat.id, "name": chat.name, "description": chat.description, "members": len(members)}

    async def join(self, user_id: str, code: str) -> dict[str, Any]:
        invite = await self._usable_invite(code)
        chat_id = invite.chat_id

        async def work(tx: Executor, now: float) -> list[NewEvent]:
            await self.repo.lock_chat(tx, chat_id)
            if await self.repo.member(chat_id, user_id, tx) is not None:
                return []  # already in: the link does nothing and is not used up
            current = await self.repo.member_ids(tx, chat_id)
            if len(current) >= MAX_MEMBERS:
                raise Forbidden(f"the group is full ({MAX_MEMBERS} members)", code="group_full")
            if not await self.extras.use_invite(tx, invite.id, now):
                raise ApiError("this invite link is no longer valid", code="invite_expired", status=410)
            chat = await self._chat(chat_id, tx)
            await self.repo.add_members(tx, chat_id, [(user_id, "member")], now, chat.last_message_id)
            payload = {"user_id": user_id, "by": None, "invite_id": invite.id}
            return [NewEvent(user_id, "chat.created", chat_id, payload={"by": None})] + [
                NewEvent(u, "member.added", chat_id, payload=payload) for u in current
            ]

        await self.change(work)
        return await self.chat_view(user_id, chat_id)

    # -- messages ----------------------------------------------------------------------------------
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
    ) -> dict[str, Any]:
        """Send a message; returns it once committed (a resend with the same client_id returns the original).
        `attachments` are ids of the sender's uploads to this chat, taken by this message."""
        if client_id is not None:
            client_id = _client_id(client_id)
        await enforce(self._limiter, self._send_limit, f"chat-send:{user_id}")
        chat = self._fixed.get(chat_id)
        if chat is None or forward is not None or attachments:
            # A non-member learns nothing, not even the chat's kind: membership is checked before anything
            # that depends on the chat. Plain sends to a chat this process has seen skip the read: the batch
            # checks membership in its transaction, and answers a non-member as if the chat did not exist.
            await self._member(user_id, chat_id)
            chat = chat or await self._chat(chat_id)
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
            if mentions:
                if chat.e2e:
                    raise ValidationError("mentions are part of the ciphertext in an end-to-end chat", field="mentions")
                meta["mentions"] = _unique(mentions)[:MAX_MENTIONS]
        except ApiError:
            if not checked:
                await self._member(user_id, chat_id)  # a non-member gets chat_not_found, not what was wrong
            raise
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
            )
        )
        if isinstance(result, SendRefused):
            raise {
                "not_found": NotFound("no such chat", code="chat_not_found"),
                "blocked": Forbidden("you cannot send messages to this user", code="blocked"),
                "bad_reply": ValidationError("reply_to is not a message of this chat", field="reply_to"),
                "bad_attachments": ValidationError(
                    "attachments must be your own uploads to this chat, not used by another message",
                    field="attachments",
                ),
            }[result.code]
        if not result.duplicate:
            self.publish_sent(result, chat.e2e)
        view = message_view(result.message, chat.e2e)
        view["duplicate"] = result.duplicate
        return view

    @staticmethod
    def _body(chat: Chat, text: str | None, ciphertext: str | None, captionless: bool = False) -> str:
        if chat.e2e:
            if ciphertext is None or text is not None:
                raise ValidationError("an end-to-end chat takes ciphertext, not text", field="ciphertext")
            if len(ciphertext) > MAX_CIPHERTEXT:
                raise ValidationError(f"ciphertext is longer than {MAX_CIPHERTEXT} characters", field="ciphertext")
            try:
                base64.b64decode(ciphertext, validate=True)
            except (binascii.Error, ValueError):
                raise ValidationError("ciphertext must be base64", field="ciphertext") from None
            return ciphertext
        if text is None or ciphertext is not None:
            raise ValidationError("a message needs text", field="text")
        if not text.strip() and not captionless:
            raise ValidationError("text must not be empty", field="text")
        if len(text) > MAX_TEXT:
            raise ValidationError(f"text is longer than {MAX_TEXT} characters", field="text", code="too_long")
        if "\x00" in text:
            raise ValidationError("text must not contain NUL characters", field="text")
        return text

    async def _forward_origin(self, user_id: str, into: Chat, from_chat: str, message_id: int) -> dict[str, Any]:
        _, message = await self._visible(user_id, from_chat, message_id)
        source = await self._chat(from_chat)
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
        return message_view(message, (await self._chat(chat_id)).e2e)

    async def _visible(
        self, user_id: str, chat_id: str, message_id: int, tx: Executor | None = None
    ) -> tuple[Member, Message]:
        """The member and a message of their chat they can see (sent after they joined), or message_not_found."""
        member = await self._member(user_id, chat_id, tx)
        message = await self.repo.message(chat_id, message_id, tx)
        if message is None or message.id <= member.joined_message_id:
            raise NotFound("no such message", code="message_not_found")
        return member, message

    async def edit(
        self, user_id: str, chat_id: str, message_id: int, text: str | None, ciphertext: str | None
    ) -> dict[str, Any]:
        await self._member(user_id, chat_id)
        chat = await self._chat(chat_id)
        body = self._body(chat, text, ciphertext)
        edited: list[Message] = []

        async def work(tx: Executor, now: float) -> list[NewEvent]:
            _, message = await self._visible(user_id, chat_id, message_id, tx)
            if message.sender_id != user_id:
                raise Forbidden("only the sender may edit a message", code="forbidden")
            if message.deleted_at is not None:
                raise NotFound("no such message", code="message_not_found")
            await self.repo.edit_message(tx, chat_id, message_id, body, now)
            after = await self.repo.message(chat_id, message_id, tx)
            assert after is not None
            edited.append(after)
            view = message_view(after, chat.e2e)
            members = await self.repo.member_ids(tx, chat_id)
            return [NewEvent(u, "message.edited", chat_id, message_id, payload={"message": view}) for u in members]

        await self.change(work)
        return message_view(edited[0], chat.e2e)

    async def delete(self, user_id: str, chat_id: str, message_id: int, *, for_everyone: bool) -> None:
        async def work(tx: Executor, now: float) -> list[NewEvent]:
            member, message = await self._visible(user_id, chat_id, message_id, tx)
            if not for_everyone:
                await self.repo.hide_message(tx, user_id, chat_id, message_id)
                return [NewEvent(user_id, "message.hidden", chat_id, message_id, payload={"message_id": message_id})]
            if message.deleted_at is not None:
                return []
            chat = await self._chat(chat_id, tx)
            moderator = chat.kind == "group" and member.at_least("admin")
            if message.sender_id != user_id and not moderator:
                raise Forbidden("only the sender (or a group admin) may delete for everyone", code="forbidden")
            if message.sender_id == user_id and not moderator and now - message.created_at > DELETE_WINDOW_SECONDS:
                raise Forbidden("too late to delete this message for everyone", code="delete_window_over")
            return await self.erase(tx, chat_id, message_id, now, by=user_id)

        await self.change(work)

    async def erase(
        self, tx: Executor, chat_id: str, message_id: int, now: float, *, by: str, moderated: bool = False
    ) -> list[NewEvent]:
        """Delete a message for everyone (its content, reactions and attachments go; its id stays), and the
        events that tell every member. Whoever calls has checked who may."""
        await self.repo.delete_message(tx, chat_id, message_id, now)
        payload: dict[str, Any] = {"message_id": message_id, "by": by}
        if moderated:
            payload["moderated"] = True
        return [
            NewEvent(u, "message.deleted", chat_id, message_id, payload=payload)
            for u in await self.repo.member_ids(tx, chat_id)
        ]

    async def react(self, user_id: str, chat_id: str, message_id: int, emoji: str, on: bool) -> None:
        if not emoji or len(emoji) > MAX_EMOJI or any(c.isspace() or c.isalnum() for c in emoji):
            raise ValidationError("emoji must be one emoji", field="emoji")

        async def work(tx: Executor, now: float) -> list[NewEvent]:
            _, message = await self._visible(user_id, chat_id, message_id, tx)
            if message.deleted_at is not None:
                raise NotFound("no such message", code="message_not_found")
            if not await self.repo.set_reaction(tx, chat_id, message_id, user_id, emoji, on, now):
                return []
            payload = {"message_id": message_id, "user_id": user_id, "emoji": emoji, "on": on}
            return [
                NewEvent(u, "reaction", chat_id, message_id, payload=payload)
                for u in await self.repo.member_ids(tx, chat_id)
            ]

        await self.change(work)

    async def mark(self, user_id: str, chat_id: str, message_id: int, pointer: str) -> dict[str, Any]:
        """Move the read (or delivered) pointer up to `message_id`; members hear of it as a receipt."""
        if message_id < 1:
            raise ValidationError("message_id must be at least 1", field="message_id")
        column = "read_id" if pointer == "read" else "delivered_id"

        async def work(tx: Executor, now: float) -> list[NewEvent]:
            await self._member(user_id, chat_id, tx)
            chat = await self._chat(chat_id, tx)
            upto = min(message_id, chat.last_message_id)
            if not await self.repo.move_pointer(tx, chat_id, user_id, column, upto):
                return []
            payload = {"user_id": user_id, "message_id": upto}
            members = await self.repo.member_ids(tx, chat_id)
            if len(members) > RECEIPT_FANOUT_MAX:
                members = [user_id]  # big groups: own devices only; others ask the readers route
            return [NewEvent(u, f"chat.{pointer}", chat_id, payload=payload) for u in members]

        await self.change(work)
        member = await self._member(user_id, chat_id)
        return {"chat_id": chat_id, "read_id": member.read_id, "delivered_id": member.delivered_id}

    async def history(
        self, user_id: str, chat_id: str, *, before: int | None, after: int | None, limit: int
    ) -> dict[str, Any]:
        member = await self._member(user_id, chat_id)
        chat = await self._chat(chat_id)
        limit = max(1, min(limit, HISTORY_MAX))
        page = await self.repo.history(
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
        await self._member(user_id, chat_id)
        rows = await self.repo.readers(chat_id, message_id)
        return {
            "read_by": [r["user_id"] for r in rows if int(r["read_id"]) >= message_id and r["user_id"] != user_id],
            "delivered_to": [
                r["user_id"] for r in rows if int(r["delivered_id"]) >= message_id and r["user_id"] != user_id
            ],
        }

    async def typing(self, user_id: str, chat_id: str) -> bool:
        """Tell the other members that the user is typing; throttled, and it expires on its own."""
        await self._member(user_id, chat_id)
        now = time.monotonic()
        key = (user_id, chat_id)
        if now - self._typing.get(key, -TYPING_EVERY) < TYPING_EVERY:
            return False
        self._typing[key] = now
        if len(self._typing) > 100_000:
            self._typing = {k: v for k, v in self._typing.items() if now - v < TYPING_EVERY}
        frame = {"type": "typing", "chat_id": chat_id, "user_id": user_id, "expires_in": TYPING_SECONDS}
        for member in await self.repo.member_ids(self._db, chat_id):
            if member != user_id:
                self.events.publish(member, frame)
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
            messages = await self.repo.member_messages(user_id, chat_id, message_ids)
            chat = await self.repo.chat(chat_id) if messages else None
            found.update(((chat_id, mid), (m, bool(chat and chat.e2e))) for mid, m in messages.items())
        frames = []
        for event in events:
            hit = found.get((event.chat_id or "", event.message_id or 0))
            payload = {"message": message_view(hit[0], hit[1]) if hit else None}
            frames.append(event_frame(event.kind, event.seq, event.chat_id, payload))
        return frames

    # -- helpers -----------------------------------------------------------------------------------
    async def user_exists(self, user_id: str) -> bool:
        return user_id in await self._active([user_id])

    async def _active(self, user_ids: Sequence[str]) -> set[str]:
        sane = [u for u in user_ids if sane_id(u)]
        return await self._active_ids(sane) if sane else set()

    async def _require_users(self, user_ids: Sequence[str], field: str = "user_ids") -> None:
        if set(user_ids) - await self._active(user_ids):
            raise NotFound("no such user", code="user_not_found", field=field)


def chat_summary(chat: Chat) -> dict[str, Any]:
    return {
        "id": chat.id,
        "kind": chat.kind,
        "e2e": chat.e2e,
        "name": chat.name,
        "description": chat.description,
        "avatar_id": chat.avatar_id,
        "created_by": chat.created_by,
        "created_at": chat.created_at,
        "last_message_id": chat.last_message_id,
        "last_message_at": chat.last_message_at,
    }


def invite_view(invite: Invite, now: float) -> dict[str, Any]:
    if invite.revoked_at is not None:
        state = "revoked"
    elif invite.expires_at is not None and invite.expires_at <= now:
        state = "expired"
    elif invite.max_uses is not None and invite.uses >= invite.max_uses:
        state = "used_up"
    else:
        state = "active"
    return {
        "id": invite.id,
        "chat_id": invite.chat_id,
        "code": invite.code,
        "created_by": invite.created_by,
        "created_at": invite.created_at,
        "expires_at": invite.expires_at,
        "max_uses": invite.max_uses,
        "uses": invite.uses,
        "state": state,
    }


def member_settings(member: Member) -> dict[str, Any]:
    return {
        "role": member.role,
        "read_id": member.read_id,
        "delivered_id": member.delivered_id,
        "pinned_at": member.pinned_at,
        "muted_until": member.muted_until,
        "archived": member.archived,
    }


def message_view(message: Message, e2e: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "chat_id": message.chat_id,
        "id": message.id,
        "sender_id": message.sender_id,
        "client_id": message.client_id,
        "kind": message.kind,
        "reply_to": message.reply_to,
        "created_at": message.created_at,
        "edited": message.edited_at is not None,
        "edited_at": message.edited_at,
        "deleted": message.deleted_at is not None,
    }
    view["ciphertext" if e2e else "text"] = message.body
    for key in ("mentions", "forward", "attachments"):
        if key in message.meta:
            view[key] = message.meta[key]
    if message.reactions:
        view["reactions"] = message.reactions
    return view


def sane_id(value: str) -> bool:
    """Could this be an id the server made (chats, users, uploads)? Checked before looking one up."""
    return isinstance(value, str) and 0 < len(value) <= 64 and value.isascii() and value.replace("-", "").isalnum()


def _client_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise ValidationError("client_id must be a UUID", field="client_id") from None


def _unique(values: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(value, None)
    return list(seen)
