"""Chat rules: who may do what in a chat, and what every member hears about it. This module holds access, chats
and their members; messages.py and invites.py build on it.

Every change that members must not miss is written together with one event per affected user (their next
`seq`), in the same transaction, and published to their broker topic after the commit. A member removed
from a chat gets nothing after the removal commits, because each change reads the members inside its own
transaction. A chat the user is not a member of answers exactly like a chat that does not exist.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from server.chat.views import chat_summary, member_settings, message_view, sane_id
from server.errors import Forbidden, NotFound, ValidationError
from server.events.log import EventLog, Work
from server.storage.chat.chats import ChatRepository
from server.storage.chat.members import MemberRepository
from server.storage.chat.messages import MessageRepository
from server.storage.chat.records import ROLES, Chat, Member
from server.storage.database import Executor, IntegrityError
from server.storage.events import ChatEvent, NewEvent

MAX_NAME = 100
MAX_DESCRIPTION = 1000
MAX_MEMBERS = 5000  # a plain group
MAX_BROADCAST_MEMBERS = 100_000  # a broadcast group (channel): members only read, so it can be much larger
MEMBERS_LISTED = 500  # a chat's view lists every member up to this many; above, the owner and admins (page the rest)


def member_cap(chat: Chat) -> int:
    return MAX_BROADCAST_MEMBERS if chat.broadcast else MAX_MEMBERS


class ChatService:
    def __init__(
        self,
        chats: ChatRepository,
        members: MemberRepository,
        messages: MessageRepository,
        events: EventLog,
        *,
        names: Callable[[Sequence[str]], Awaitable[dict[str, str]]] | None = None,
        active_ids: Callable[[Sequence[str]], Awaitable[set[str]]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.chats = chats
        self.members = members
        self.messages = messages
        self.db = chats.db
        self.events = events
        self.clock = clock
        self._names = names
        self._active_ids = active_ids  # users who exist and are not suspended

    # -- access ------------------------------------------------------------------------------------
    async def member(self, user_id: str, chat_id: str, executor: Executor | None = None) -> Member:
        """The user's membership of the chat, or chat_not_found (a non-member learns nothing of the chat)."""
        member = await self.members.member(chat_id, user_id, executor) if sane_id(chat_id) else None
        if member is None:
            raise NotFound("no such chat", code="chat_not_found")
        return member

    async def chat(self, chat_id: str, executor: Executor | None = None) -> Chat:
        chat = await self.chats.chat(chat_id, executor)
        if chat is None:
            raise NotFound("no such chat", code="chat_not_found")
        return chat

    async def audience(self, tx: Executor, chat: Chat, everyone: list[str] | None = None) -> list[str]:
        """Who hears of members joining and leaving: everyone in a plain group (`everyone` if the caller has
        read them), the owner and admins in a broadcast group (a channel's members are not told of each other,
        and 10,000 of them are not sent a frame per join)."""
        if chat.broadcast:
            return await self.members.admin_ids(tx, chat.id)
        return everyone if everyone is not None else await self.members.member_ids(tx, chat.id)

    @staticmethod
    def member_news(chat: Chat, audience: list[str], kind: str, payload: dict[str, Any]) -> list[NewEvent | ChatEvent]:
        """A membership change as events: one chat event for everyone in a plain group; in a broadcast group an
        event of each admin's own (a chat event for part of the members would close the others' streams)."""
        if chat.broadcast:
            return [NewEvent(u, kind, chat.id, payload=payload) for u in audience]
        return [ChatEvent(chat.id, kind, audience, payload=payload)]

    @staticmethod
    def require(member: Member, role: str, chat: Chat) -> None:
        if chat.kind != "group":
            raise Forbidden("a direct chat has no admins", code="not_a_group")
        if not member.at_least(role):
            if role == "owner":
                raise Forbidden("only the group's owners may do this", code="forbidden")
            raise Forbidden("only the group's admins may do this", code="forbidden")

    # -- events ------------------------------------------------------------------------------------
    async def change(self, work: Work) -> list[dict[str, Any]]:
        """Run `work` in a transaction with the events it returns; publish them after the commit."""
        return await self.events.change(work, self.clock())

    # -- chats -------------------------------------------------------------------------------------
    async def create_direct(self, user_id: str, other_id: str, e2e: bool) -> tuple[dict[str, Any], bool]:
        """The two users' direct chat of this kind (a pair may have one plain and one end-to-end): found if it
        exists, made otherwise. True if made now."""
        if other_id == user_id:
            raise ValidationError("a direct chat needs another user", field="user_id")
        if not await self.user_exists(other_id):
            raise NotFound("no such user", code="user_not_found")
        existing = await self.chats.direct_chat(self.db, user_id, other_id, e2e)
        if existing is not None:
            return await self.chat_view(user_id, existing), False
        created: list[str] = []

        async def work(tx: Executor, now: float) -> list[NewEvent | ChatEvent]:
            if await self.chats.direct_chat(tx, user_id, other_id, e2e) is not None:
                return []  # made by the other side a moment ago
            if not e2e:
                await self.chats.free_plain_index(tx, user_id, other_id)
            chat_id = await self.chats.create_chat(
                tx,
                kind="direct",
                created_by=user_id,
                members=[(user_id, "member"), (other_id, "member")],
                now=now,
                e2e=e2e,
                pair=(user_id, other_id),
            )
            created.append(chat_id)
            # Only the maker hears of it: the other person meets the chat with its first message.
            return [NewEvent(user_id, "chat.created", chat_id, payload={"by": user_id})]

        try:
            await self.change(work)
        except IntegrityError:
            created.clear()  # the other side made it at the same moment (PostgreSQL): theirs stands
        chat_id = created[0] if created else await self.chats.direct_chat(self.db, user_id, other_id, e2e)
        assert chat_id is not None
        return await self.chat_view(user_id, chat_id), bool(created)

    async def create_group(
        self,
        user_id: str,
        name: str,
        description: str | None,
        member_ids: Sequence[str],
        e2e: bool,
        broadcast: bool = False,
    ) -> dict[str, Any]:
        others = unique([m for m in member_ids if m != user_id])
        if len(others) + 1 > MAX_MEMBERS:
            raise ValidationError("a group has at most {limit} members", field="members", limit=MAX_MEMBERS)
        await self.require_users(others, field="members")
        created: list[str] = []

        async def work(tx: Executor, now: float) -> list[NewEvent | ChatEvent]:
            chat_id = await self.chats.create_chat(
                tx,
                kind="group",
                created_by=user_id,
                members=[(user_id, "owner"), *((m, "member") for m in others)],
                now=now,
                e2e=e2e,
                name=name,
                description=description,
                broadcast=broadcast,
            )
            created.append(chat_id)
            return [NewEvent(u, "chat.created", chat_id, payload={"by": user_id}) for u in (user_id, *others)]

        await self.change(work)
        return await self.chat_view(user_id, created[0])

    async def chat_view(self, user_id: str, chat_id: str) -> dict[str, Any]:
        member = await self.member(user_id, chat_id)
        chat = await self.chat(chat_id)
        count = await self.members.member_count(self.db, chat_id)
        if count <= MEMBERS_LISTED:
            members = await self.members.members(chat_id)
        else:  # a big group: the people who run it (GET /api/chats/{id}/members pages through everyone)
            members = await self.members.staff(chat_id)
        view = chat_summary(chat)
        view["me"] = member_settings(member)
        view["member_count"] = count
        view["members_complete"] = count <= MEMBERS_LISTED
        names = await self.names([m.user_id for m in members])
        view["members"] = [
            {"user_id": m.user_id, "display_name": names.get(m.user_id), "role": m.role, "joined_at": m.joined_at}
            for m in members
        ]
        return view

    async def members_page(
        self, user_id: str, chat_id: str, after: tuple[int, str] | None, limit: int
    ) -> tuple[list[dict[str, Any]], tuple[int, str] | None]:
        """A page of the chat's members (owner, admins, then members by id) and the cursor of the next page."""
        await self.member(user_id, chat_id)
        page = await self.members.members_page(chat_id, after, limit + 1)
        more = len(page) > limit
        page = page[:limit]
        names = await self.names([m.user_id for m in page])
        out = [
            {"user_id": m.user_id, "display_name": names.get(m.user_id), "role": m.role, "joined_at": m.joined_at}
            for m in page
        ]
        last = page[-1] if page else None
        return out, ((ROLE_RANK[last.role], last.user_id) if more and last else None)

    async def names(self, user_ids: Sequence[str]) -> dict[str, str]:
        """Display names, for people who share a chat (members see each other's names)."""
        return await self._names(user_ids) if self._names is not None and user_ids else {}

    async def list_chats(self, user_id: str, *, archived: bool | None) -> list[dict[str, Any]]:
        out = []
        listed = await self.chats.chat_list(user_id)
        last_messages = await self.messages.last_messages(user_id, [chat.id for chat, _, _ in listed])
        peers = await self.members.direct_peers(user_id)
        names = await self.names(list(peers.values()))
        for chat, member, unread in listed:
            last = last_messages.get(chat.id)
            if archived is not None and member.archived != archived:
                continue
            if not visible_in_list(chat, user_id):
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
        async def work(tx: Executor, now: float) -> list[NewEvent | ChatEvent]:
            if "broadcast" in values:
                await self.chats.lock_chat(tx, chat_id)
            member = await self.member(user_id, chat_id, tx)
            chat = await self.chat(chat_id, tx)
            self.require(member, "owner" if "broadcast" in values else "admin", chat)
            if values.get("broadcast") is False and chat.broadcast:
                count = await self.members.member_count(tx, chat_id)
                if count > MAX_MEMBERS:  # a plain group of this size would have everyone posting
                    limit = MAX_MEMBERS
                    raise ValidationError("a group has at most {limit} members", field="broadcast", limit=limit)
            if not await self.chats.update_chat(tx, chat_id, {**values, "by": user_id}, now):
                raise ValidationError("avatar_id must be an image you uploaded to this chat", field="avatar_id")
            payload = {"by": user_id, **values}
            return [ChatEvent(chat_id, "chat.updated", await self.members.member_ids(tx, chat_id), payload=payload)]

        await self.change(work)
        return await self.chat_view(user_id, chat_id)

    async def add_members(self, user_id: str, chat_id: str, new_ids: Sequence[str]) -> dict[str, Any]:
        wanted = unique(new_ids)

        async def work(tx: Executor, now: float) -> list[NewEvent | ChatEvent]:
            await self.chats.lock_chat(tx, chat_id)
            member = await self.member(user_id, chat_id, tx)
            chat = await self.chat(chat_id, tx)
            self.require(member, "admin", chat)
            await self.require_users(wanted)  # (after the role check: only an admin makes us look users up)
            already = await self.members.members_among(chat_id, wanted, tx)
            fresh = [u for u in wanted if u not in already]
            cap = member_cap(chat)
            if await self.members.member_count(tx, chat_id) + len(fresh) > cap:
                raise ValidationError("a group has at most {limit} members", field="user_ids", limit=cap)
            audience = await self.audience(tx, chat)
            await self.members.add_members(tx, chat_id, [(u, "member") for u in fresh], now, chat.last_message_id)
            events: list[NewEvent | ChatEvent] = []
            for added in fresh:
                events.append(NewEvent(added, "chat.created", chat_id, payload={"by": user_id}))
                events.extend(self.member_news(chat, audience, "member.added", {"user_id": added, "by": user_id}))
            return events

        await self.change(work)
        return await self.chat_view(user_id, chat_id)

    async def remove_member(self, user_id: str, chat_id: str, target: str) -> None:
        async def work(tx: Executor, now: float) -> list[NewEvent | ChatEvent]:
            await self.chats.lock_chat(tx, chat_id)
            member = await self.member(user_id, chat_id, tx)
            chat = await self.chat(chat_id, tx)
            self.require(member, "admin", chat)
            victim = await self.members.member(chat_id, target, tx)
            if victim is None:
                raise NotFound("that user is not a member", code="member_not_found")
            if victim.user_id == user_id:
                raise ValidationError("use leave to leave a group", code="use_leave")
            if victim.at_least(member.role) and member.role != "owner":
                raise Forbidden("admins cannot remove admins or the owner", code="forbidden")
            await self.members.remove_member(tx, chat_id, target)
            remaining = await self.audience(tx, chat)
            return [
                NewEvent(target, "chat.removed", chat_id, payload={"by": user_id}),
                *self.member_news(chat, remaining, "member.removed", {"user_id": target, "by": user_id}),
            ]

        await self.change(work)

    async def set_role(self, user_id: str, chat_id: str, target: str, role: str) -> None:
        async def work(tx: Executor, now: float) -> list[NewEvent | ChatEvent]:
            await self.chats.lock_chat(tx, chat_id)
            member = await self.member(user_id, chat_id, tx)
            chat = await self.chat(chat_id, tx)
            self.require(member, "owner", chat)
            other = await self.members.member(chat_id, target, tx)
            if other is None:
                raise NotFound("that user is not a member", code="member_not_found")
            if other.user_id == user_id:
                raise ValidationError("the owner hands over ownership by making another member owner", field="role")
            await self.members.set_role(tx, chat_id, target, role)
            if role == "owner":  # one owner: the old one steps down to admin
                await self.members.set_role(tx, chat_id, user_id, "admin")
            payload = {"user_id": target, "role": role, "by": user_id}
            return [ChatEvent(chat_id, "member.role", await self.members.member_ids(tx, chat_id), payload=payload)]

        await self.change(work)

    async def leave(self, user_id: str, chat_id: str) -> None:
        async def work(tx: Executor, now: float) -> list[NewEvent | ChatEvent]:
            await self.chats.lock_chat(tx, chat_id)
            member = await self.member(user_id, chat_id, tx)
            chat = await self.chat(chat_id, tx)
            if chat.kind != "group":
                raise Forbidden("a direct chat cannot be left; archive or block instead", code="not_a_group")
            await self.members.remove_member(tx, chat_id, user_id)
            events: list[NewEvent | ChatEvent] = [NewEvent(user_id, "chat.removed", chat_id, payload={"by": user_id})]
            heir = await self.members.heir(tx, chat_id)  # the longest-serving admin, else member
            if heir is None:  # nobody left
                await self.chats.delete_chat(tx, chat_id)
                return events
            if member.role == "owner":  # a new owner: everyone hears of it, as of any role change
                await self.members.set_role(tx, chat_id, heir, "owner")
                everyone = await self.members.member_ids(tx, chat_id)
                payload = {"user_id": heir, "role": "owner"}
                events.append(ChatEvent(chat_id, "member.role", everyone, payload=payload))
                audience = await self.audience(tx, chat, everyone)
            else:
                audience = await self.audience(tx, chat)
            events.extend(self.member_news(chat, audience, "member.left", {"user_id": user_id}))
            return events

        await self.change(work)

    async def settings(self, user_id: str, chat_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """Pin, mute and archive: the member's own, kept in step across their devices."""

        async def work(tx: Executor, now: float) -> list[NewEvent | ChatEvent]:
            await self.member(user_id, chat_id, tx)
            changes: dict[str, Any] = {}
            if "pinned" in values:
                changes["pinned_at"] = now if values["pinned"] else None
            if "muted_until" in values:
                changes["muted_until"] = values["muted_until"]
            if "archived" in values:
                changes["archived"] = int(values["archived"])
            if changes:
                await self.members.set_member_flags(tx, chat_id, user_id, changes)
            member = await self.member(user_id, chat_id, tx)
            return [NewEvent(user_id, "chat.settings", chat_id, payload=member_settings(member))]

        frames = await self.change(work)
        return {k: v for k, v in frames[0].items() if k not in ("type", "seq")}

    # -- users -------------------------------------------------------------------------------------
    async def user_exists(self, user_id: str) -> bool:
        return user_id in await self._active([user_id])

    async def _active(self, user_ids: Sequence[str]) -> set[str]:
        sane = [u for u in user_ids if sane_id(u)]
        return await self._active_ids(sane) if sane else set()

    async def require_users(self, user_ids: Sequence[str], field: str = "user_ids") -> None:
        if set(user_ids) - await self._active(user_ids):
            raise NotFound("no such user", code="user_not_found", field=field)


ROLE_RANK = {role: len(ROLES) - 1 - i for i, role in enumerate(ROLES)}  # owner 0, admin 1, member 2: list order


def visible_in_list(chat: Chat, user_id: str) -> bool:
    """A direct chat stays out of the other person's list until its first message: starting a chat with
    someone tells them nothing until something is said."""
    return chat.kind != "direct" or chat.created_by == user_id or chat.last_message_id > 0


def unique(values: Sequence[str]) -> list[str]:
    """The values without repeats, in the order they first came."""
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(value, None)
    return list(seen)
