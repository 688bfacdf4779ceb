"""What the calls domain asks the chat domain: who is in a chat, which kind it is, and who blocked whom."""

from __future__ import annotations

from server.chat.service import ChatService
from server.errors import ApiError
from server.storage.chat.blocks import BlockRepository


def not_a_direct_chat() -> ApiError:
    return ApiError("call.invite is for direct chats; use call.join in a group", code="not_a_direct_chat")


def not_a_group() -> ApiError:
    return ApiError("call.join is for group chats; use call.invite in a direct chat", code="not_a_group")


class ChatGate:
    def __init__(self, chat: ChatService, blocks: BlockRepository) -> None:
        self._chat = chat
        self._blocks = blocks

    async def direct_peer(self, user_id: str, chat_id: str) -> str:
        """The other member of a direct chat of this user's; chat_not_found for a non-member."""
        await self._chat.member(user_id, chat_id)
        chat = await self._chat.chat(chat_id)
        if chat.kind != "direct":
            raise not_a_direct_chat()
        others = [m.user_id for m in await self._chat.members.members(chat_id) if m.user_id != user_id]
        if len(others) != 1:
            raise ApiError("this direct chat has nobody else in it", code="invalid_state", status=409)
        return others[0]

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
        return await self._blocks.blocked(user_id, by=other_id) or await self._blocks.blocked(other_id, by=user_id)
