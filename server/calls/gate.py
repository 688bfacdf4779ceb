"""What the calls domain asks the chat domain: who is in a chat, which kind it is, and who blocked whom."""

from __future__ import annotations

import time
from collections.abc import Callable

from server.chat.service import ChatService
from server.chat.views import sane_id
from server.errors import ApiError, NotFound
from server.storage.chat.blocks import BlockRepository, blocks_among

PEERS_KEPT = 100_000  # direct chats whose two members are remembered
PEERS_TTL = 60.0  # seconds (a direct chat cannot be left, but an account can be deleted)


def not_a_direct_chat() -> ApiError:
    return ApiError("call.invite is for direct chats; use call.join in a group", code="not_a_direct_chat")


def not_a_group() -> ApiError:
    return ApiError("call.join is for group chats; use call.invite in a direct chat", code="not_a_group")


class ChatGate:
    def __init__(self, chat: ChatService, blocks: BlockRepository, clock: Callable[[], float] = time.monotonic) -> None:
        self._chat = chat
        self._blocks = blocks
        self._clock = clock
        self._pairs: dict[str, tuple[frozenset[str], float]] = {}  # direct chat -> its two members, read at

    async def direct_peer(self, user_id: str, chat_id: str) -> str:
        """The other member of a direct chat of this user's; chat_not_found for a non-member. A direct chat's two
        members never change (it cannot be left), so they are remembered for a while: a call rings after one
        read (the blocks), and the first call in a chat after two."""
        kept = self._pairs.get(chat_id)
        if kept is None or self._clock() - kept[1] > PEERS_TTL:
            found = await self._chat.members.kind_and_members(chat_id) if sane_id(chat_id) else None
            if found is None or user_id not in found[1]:
                raise NotFound("no such chat", code="chat_not_found")  # a non-member learns nothing of it
            if found[0] != "direct":
                raise not_a_direct_chat()
            members = frozenset(found[1])
            if len(members) != 2:
                raise ApiError("this direct chat has nobody else in it", code="invalid_state", status=409)
            if len(self._pairs) >= PEERS_KEPT:
                self._pairs.clear()
            kept = self._pairs[chat_id] = (members, self._clock())
        if user_id not in kept[0]:
            raise NotFound("no such chat", code="chat_not_found")
        return next(m for m in kept[0] if m != user_id)

    async def group_members(self, user_id: str, chat_id: str) -> list[str]:
        """The members of a group chat of this user's; chat_not_found for a non-member."""
        await self._chat.member(user_id, chat_id)
        chat = await self._chat.chat(chat_id)
        if chat.kind != "group":
            raise not_a_group()
        return [m.user_id for m in await self._chat.members.members(chat_id)]

    async def is_member(self, user_id: str, chat_id: str) -> bool:
        try:
            await self._chat.member(user_id, chat_id)
        except ApiError:
            return False
        return True

    async def blocked_between(self, user_id: str, other_id: str) -> bool:
        """Has either blocked the other? One read."""
        pairs = await blocks_among(self._blocks.db, [user_id, other_id])
        return (user_id, other_id) in pairs or (other_id, user_id) in pairs
