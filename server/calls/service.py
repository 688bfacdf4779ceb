"""The calls service: one front for 1:1 calls (`direct.py`) and group rooms on the SFU (`rooms.py`).

Each command names a call; the service hands it to whichever holds that call. The WebSocket layer (`ws.py`)
parses and checks the frames; this layer holds no aiohttp.
"""

from __future__ import annotations

from typing import Any, Protocol

from server.calls.direct import DirectCalls
from server.calls.model import call_not_found, invalid_state
from server.errors import ApiError


class Membership(Protocol):
    async def is_member(self, user_id: str, chat_id: str) -> bool: ...


class Rooms(Protocol):
    """Group calls (server/calls/rooms.py)."""

    def holds(self, call_id: str) -> bool: ...

    def chats(self) -> set[str]: ...

    async def join(
        self,
        user_id: str,
        conn: str,
        *,
        chat_id: str,
        party_id: str,
        offer: dict[str, str],
        media: str,
        streams: dict[str, str],
    ) -> dict[str, Any]: ...

    async def negotiate(
        self,
        user_id: str,
        conn: str,
        call_id: str,
        party_id: str,
        description: dict[str, str],
        *,
        target: str | None,
        streams: dict[str, str],
    ) -> dict[str, Any]: ...

    async def media(
        self, user_id: str, conn: str, call_id: str, party_id: str, changes: dict[str, Any]
    ) -> dict[str, Any]: ...

    async def leave(self, user_id: str, conn: str, call_id: str, party_id: str) -> dict[str, Any]: ...

    async def resume(self, user_id: str, conn: str, call_id: str, party_id: str) -> dict[str, Any]: ...

    def room_in_chat(self, chat_id: str) -> dict[str, Any] | None: ...

    async def replay_frames(self, user_id: str) -> list[dict[str, Any]]: ...

    async def connection_closed(self, user_id: str, conn: str) -> None: ...

    async def close(self) -> None: ...


class CallService:
    def __init__(self, direct: DirectCalls, membership: Membership, rooms: Rooms | None = None) -> None:
        self.direct = direct
        self.rooms = rooms
        self._membership = membership

    def _room(self, call_id: str) -> Rooms | None:
        return self.rooms if self.rooms is not None and self.rooms.holds(call_id) else None

    # -- 1:1 ------------------------------------------------------------------------------------------------
    async def invite(self, user_id: str, conn: str, **args: Any) -> dict[str, Any]:
        return await self.direct.invite(user_id, conn, **args)

    async def answer(
        self, user_id: str, conn: str, call_id: str, party_id: str, answer: dict[str, str]
    ) -> dict[str, Any]:
        self._not_a_room(call_id, "{command} is for 1:1 calls", command="call.answer")
        return await self.direct.answer(user_id, conn, call_id, party_id, answer)

    async def select_answer(
        self, user_id: str, conn: str, call_id: str, party_id: str, selected: str
    ) -> dict[str, Any]:
        self._not_a_room(call_id, "{command} is for 1:1 calls", command="call.select_answer")
        return await self.direct.select_answer(user_id, conn, call_id, party_id, selected)

    async def reject(self, user_id: str, conn: str, call_id: str, party_id: str) -> dict[str, Any]:
        self._not_a_room(call_id, "{command} is for 1:1 calls", command="call.reject")
        return await self.direct.reject(user_id, conn, call_id, party_id)

    async def candidates(
        self, user_id: str, conn: str, call_id: str, party_id: str, candidates: list[dict[str, Any]]
    ) -> dict[str, Any]:
        self._not_a_room(call_id, "call.candidates (the SFU takes the candidates in your offer) is for 1:1 calls")
        return await self.direct.candidates(user_id, conn, call_id, party_id, candidates)

    async def decline(self, user_id: str, call_id: str) -> dict[str, Any]:
        """Decline from a push notification's link (no socket, so no party: the call ends as declined)."""
        self._not_a_room(call_id, "declining is for 1:1 calls")
        return await self.direct.decline(user_id, call_id)

    def _not_a_room(self, call_id: str, message: str, **params: Any) -> None:
        """`invalid_state` with `message` if the call is a group call (an ApiError here, not through
        invalid_state, so the messages' check finds them at this function's callers)."""
        if self._room(call_id) is not None:
            raise ApiError(message, code="invalid_state", status=409, **params)

    # -- both -----------------------------------------------------------------------------------------------
    async def negotiate(
        self,
        user_id: str,
        conn: str,
        call_id: str,
        party_id: str,
        description: dict[str, str],
        *,
        target: str | None = None,
        streams: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        rooms = self._room(call_id)
        if rooms is not None:
            return await rooms.negotiate(
                user_id, conn, call_id, party_id, description, target=target, streams=streams or {}
            )
        if target is not None:
            self.direct.find(user_id, call_id)  # an unknown call is call_not_found first
            raise invalid_state("target is for group calls")
        return await self.direct.negotiate(user_id, conn, call_id, party_id, description)

    async def media(
        self, user_id: str, conn: str, call_id: str, party_id: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        rooms = self._room(call_id)
        if rooms is not None:
            return await rooms.media(user_id, conn, call_id, party_id, changes)
        return await self.direct.media(user_id, conn, call_id, party_id, changes)

    async def hangup(self, user_id: str, conn: str, call_id: str, party_id: str, reason: str) -> dict[str, Any]:
        rooms = self._room(call_id)
        if rooms is not None:
            return await rooms.leave(user_id, conn, call_id, party_id)
        return await self.direct.hangup(user_id, conn, call_id, party_id, reason)

    async def resume(self, user_id: str, conn: str, call_id: str, party_id: str) -> dict[str, Any]:
        rooms = self._room(call_id)
        if rooms is not None:
            return await rooms.resume(user_id, conn, call_id, party_id)
        return await self.direct.resume(user_id, conn, call_id, party_id)

    # -- groups ---------------------------------------------------------------------------------------------
    async def join(self, user_id: str, conn: str, **args: Any) -> dict[str, Any]:
        if self.rooms is None:
            raise invalid_state("group calls are not enabled on this server")
        return await self.rooms.join(user_id, conn, **args)

    # -- what a device learns -------------------------------------------------------------------------------
    async def status(self, user_id: str, chat_id: str) -> dict[str, Any]:
        """The chat's current call, for a member (a non-member gets chat_not_found's twin, call_not_found)."""
        if not await self._membership.is_member(user_id, chat_id):
            raise call_not_found()
        call = self.direct.call_in_chat(chat_id)
        if call is not None:
            return {"chat_id": chat_id, "call": call.view()}
        room = self.rooms.room_in_chat(chat_id) if self.rooms is not None else None
        return {"chat_id": chat_id, "call": room}

    async def replay_frames(self, user_id: str) -> list[dict[str, Any]]:
        frames = self.direct.replay_frames(user_id)
        if self.rooms is not None:
            frames.extend(await self.rooms.replay_frames(user_id))
        return frames

    async def connection_closed(self, user_id: str, conn: str) -> None:
        await self.direct.connection_closed(user_id, conn)
        if self.rooms is not None:
            await self.rooms.connection_closed(user_id, conn)

    async def close(self) -> None:
        await self.direct.close()
        if self.rooms is not None:
            await self.rooms.close()
