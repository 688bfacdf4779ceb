"""Invite links to groups: admins make, list and revoke them; anyone signed in who holds one may see the group's
name and size, and join while the link is good (not revoked, not expired, uses left)."""

from __future__ import annotations

from typing import Any

from server.chat.service import ChatService, member_cap
from server.chat.views import invite_view
from server.errors import ApiError, Forbidden, NotFound
from server.storage.chat.invites import InviteRepository
from server.storage.chat.records import Invite
from server.storage.database import Executor
from server.storage.events import ChatEvent, NewEvent


class InviteService:
    def __init__(self, chats: ChatService, invites: InviteRepository) -> None:
        self._chats = chats
        self._members = chats.members
        self._invites = invites
        self._clock = chats.clock

    async def create_invite(
        self, user_id: str, chat_id: str, expires_in: float | None, max_uses: int | None
    ) -> dict[str, Any]:
        member = await self._chats.member(user_id, chat_id)
        self._chats.require(member, "admin", await self._chats.chat(chat_id))
        now = self._clock()
        invite = await self._invites.create_invite(
            chat_id, user_id, None if expires_in is None else now + expires_in, max_uses, now
        )
        return invite_view(invite, now)

    async def invites(self, user_id: str, chat_id: str) -> list[dict[str, Any]]:
        member = await self._chats.member(user_id, chat_id)
        self._chats.require(member, "admin", await self._chats.chat(chat_id))
        now = self._clock()
        return [invite_view(i, now) for i in await self._invites.invites(chat_id)]

    async def revoke_invite(self, user_id: str, chat_id: str, invite_id: str) -> None:
        member = await self._chats.member(user_id, chat_id)
        self._chats.require(member, "admin", await self._chats.chat(chat_id))
        if not await self._invites.revoke_invite(chat_id, invite_id[:64], self._clock()):
            raise NotFound("no such invite, or already revoked", code="invite_not_found")

    async def _usable_invite(self, code: str) -> Invite:
        invite = await self._invites.invite_by_code(code) if 0 < len(code) <= 64 else None
        if invite is None:
            raise NotFound("no such invite", code="invite_not_found")
        if invite_view(invite, self._clock())["state"] != "active":
            raise ApiError("this invite link is no longer valid", code="invite_expired", status=410)
        return invite

    async def invite_preview(self, code: str) -> dict[str, Any]:
        """What someone holding the link may see before joining: the group's name and size."""
        invite = await self._usable_invite(code)
        chat = await self._chats.chat(invite.chat_id)
        members = await self._members.member_count(self._chats.db, chat.id)
        return {
            "chat_id": chat.id,
            "name": chat.name,
            "description": chat.description,
            "members": members,
            "broadcast": chat.broadcast,
        }

    async def join(self, user_id: str, code: str) -> dict[str, Any]:
        invite = await self._usable_invite(code)
        chat_id = invite.chat_id

        async def work(tx: Executor, now: float) -> list[NewEvent | ChatEvent]:
            await self._chats.chats.lock_chat(tx, chat_id)
            if await self._members.member(chat_id, user_id, tx) is not None:
                return []  # already in: the link does nothing and is not used up
            chat = await self._chats.chat(chat_id, tx)
            cap = member_cap(chat)
            if await self._members.member_count(tx, chat_id) >= cap:
                raise Forbidden("the group is full ({limit} members)", code="group_full", limit=cap)
            if not await self._invites.use_invite(tx, invite.id, now):
                raise ApiError("this invite link is no longer valid", code="invite_expired", status=410)
            audience = await self._chats.audience(tx, chat)  # before the newcomer is in
            await self._members.add_members(tx, chat_id, [(user_id, "member")], now, chat.last_message_id)
            payload = {"user_id": user_id, "by": None, "invite_id": invite.id}
            return [
                NewEvent(user_id, "chat.created", chat_id, payload={"by": None}),
                *self._chats.member_news(chat, audience, "member.added", payload),
            ]

        await self._chats.change(work)
        return await self._chats.chat_view(user_id, chat_id)
