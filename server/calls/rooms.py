"""Group calls: each group chat has at most one call at a time, a room on the SFU (`sfu/`).

Any member starts the group's call or joins it with `call.join` (a publish offer; the SFU answers). The SFU
offers each participant what it should receive (`call.negotiate` with `target: "subscribe"`), and the room's
state goes out as `call.room`: to the participants on every change (mutes, active speaker), and to every
member of the chat when someone joins or leaves, so a chat can show "join the call". A participant whose
socket closes keeps its seat for the grace time (`DEFAULT_LIFETIME_MS`) to resume; when the last participant
leaves, the call ends and becomes an entry in the chat's history.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiortc import RTCIceServer

from server.calls.direct import Send
from server.calls.model import DEFAULT_LIFETIME_MS, call_not_found, invalid_state, not_a_party
from server.calls.sfu import AlreadyJoined, RoomState, Sfu
from server.errors import ApiError

log = logging.getLogger(__name__)


class Members(Protocol):
    async def group_members(self, user_id: str, chat_id: str) -> list[str]: ...


class RoomHooks(Protocol):
    def group_ended(
        self,
        *,
        chat_id: str,
        call_id: str,
        started_by: str,
        media: str,
        started_at: float,
        ended_at: float,
        participants: int,
    ) -> None: ...


@dataclass
class GroupCall:
    call_id: str
    chat_id: str
    started_by: str
    media: str
    started_at: float
    members: set[str]
    parties: dict[str, str] = field(default_factory=dict)  # party_id -> user_id, those in the room now
    everyone: set[str] = field(default_factory=set)  # users who took part at some time
    last: dict[str, Any] | None = None  # the last room view sent

    def view(self, state: RoomState | None, *, active: bool = True) -> dict[str, Any]:
        participants = []
        for p in state.participants if state is not None else ():
            streams = {s.purpose: s for s in p.streams}
            usermedia, screen = streams.get("usermedia"), streams.get("screenshare")
            participants.append(
                {
                    "party_id": p.participant_id,
                    "user_id": p.user_id,
                    "audio_muted": p.audio_muted,
                    "video_muted": p.video_muted,
                    "screenshare": p.screen_sharing,
                    "has_audio": p.has_audio,
                    "has_video": p.has_video,
                    "tracks": {
                        "audio": usermedia.audio_track_id if usermedia else None,
                        "video": usermedia.video_track_id if usermedia else None,
                        "screenshare": screen.video_track_id if screen else None,
                    },
                    "streams": [s.to_dict() for s in p.streams],
                }
            )
        return {
            "call_id": self.call_id,
            "chat_id": self.chat_id,
            "kind": "group",
            "state": "active" if active else "ended",
            "started_by": self.started_by,
            "media": self.media,
            "started_at": self.started_at,
            "participants": participants,
            "active_speaker": state.active_speaker if state is not None else None,
        }


class GroupRooms:
    def __init__(
        self,
        members: Members,
        send: Send,
        hooks: RoomHooks,
        *,
        max_rooms: int,
        max_participants: int,
        ice_servers: list[RTCIceServer] | Callable[[], list[RTCIceServer]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._members = members
        self._send = send
        self._hooks = hooks
        self._clock = clock
        self.sfu = Sfu(
            max_rooms=max_rooms,
            max_participants=max_participants,
            ice_servers=ice_servers,
            on_offer=self._offer,
            on_state=self._state,
        )
        self.calls: dict[str, GroupCall] = {}
        self._by_chat: dict[str, str] = {}
        self._bound: dict[tuple[str, str], str] = {}  # (call_id, party_id) -> connection
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def chats(self) -> set[str]:
        """The chats whose calls are rooms here."""
        return set(self._by_chat)

    def holds(self, call_id: str) -> bool:
        return call_id in self.calls

    def room_in_chat(self, chat_id: str) -> dict[str, Any] | None:
        call = self.calls.get(self._by_chat.get(chat_id, ""))
        return call.view(self.sfu.state(call.call_id)) if call is not None else None

    # -- joining and leaving --------------------------------------------------------------------------------
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
    ) -> dict[str, Any]:
        members = await self._members.group_members(user_id, chat_id)
        call = self.calls.get(self._by_chat.get(chat_id, ""))
        if call is None:
            call = GroupCall(uuid.uuid4().hex, chat_id, user_id, media, self._clock(), set(members))
            self.calls[call.call_id] = call
            self._by_chat[chat_id] = call.call_id
        else:
            call.members = set(members)  # membership may have changed since the call started
        if party_id in call.parties:  # never touch another's seat (party ids are visible in call.room)
            raise AlreadyJoined("this party_id is in the room already")
        call.parties[party_id] = user_id
        self._bound[(call.call_id, party_id)] = conn
        try:
            answer = await self.sfu.join(call.call_id, party_id, user_id, offer["sdp"], streams)
        except BaseException:
            if self._bound.get((call.call_id, party_id)) == conn:
                del self._bound[(call.call_id, party_id)]
                call.parties.pop(party_id, None)
            if not call.parties and self.sfu.state(call.call_id) is None:
                self._forget(call)
            raise
        call.everyone.add(user_id)
        view = call.view(self.sfu.state(call.call_id))
        return {"call_id": call.call_id, "state": "joined", "answer": {"type": "answer", "sdp": answer}, "room": view}

    async def leave(self, user_id: str, conn: str, call_id: str, party_id: str) -> dict[str, Any]:
        call = self._party(user_id, conn, call_id, party_id)
        self._unbind(call, party_id)
        await self.sfu.leave(call_id, party_id)
        return {"call_id": call.call_id, "state": "left"}

    async def resume(self, user_id: str, conn: str, call_id: str, party_id: str) -> dict[str, Any]:
        call = self.calls.get(call_id)
        if call is None or user_id not in call.members:
            raise call_not_found()
        if call.parties.get(party_id) != user_id:
            raise not_a_party()
        self._bound[(call_id, party_id)] = conn
        timer = self._timers.pop((call_id, party_id), None)
        if timer is not None:
            timer.cancel()
        result = {"call_id": call_id, "state": "joined", "call": call.view(self.sfu.state(call_id))}
        self._spawn(self.sfu.reoffer(call_id, party_id))  # an offer sent while it was away, after this result
        return result

    async def connection_closed(self, user_id: str, conn: str) -> None:
        held = [key for key, c in self._bound.items() if c == conn]
        for call_id, party_id in held:
            del self._bound[(call_id, party_id)]
            self._timers[(call_id, party_id)] = asyncio.get_running_loop().call_later(
                DEFAULT_LIFETIME_MS / 1000, self._lost, call_id, party_id
            )

    def _lost(self, call_id: str, party_id: str) -> None:
        self._timers.pop((call_id, party_id), None)
        call = self.calls.get(call_id)
        if call is not None and party_id in call.parties and (call_id, party_id) not in self._bound:
            call.parties.pop(party_id, None)
            self._spawn(self.sfu.leave(call_id, party_id))

    # -- during the call ------------------------------------------------------------------------------------
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
    ) -> dict[str, Any]:
        self._party(user_id, conn, call_id, party_id)
        if target == "publish":
            if description["type"] != "offer":
                raise invalid_state("a publish renegotiation is your offer")
            answer = await self.sfu.publish(call_id, party_id, description["sdp"], streams)
            return {"call_id": call_id, "description": {"type": "answer", "sdp": answer}}
        if target == "subscribe":
            if description["type"] != "answer":
                raise invalid_state("answer the server's subscribe offer with an answer")
            await self.sfu.subscriber_answer(call_id, party_id, description["sdp"])
            return {"call_id": call_id}
        raise invalid_state('a group call negotiates with target "publish" or "subscribe"')

    async def media(
        self, user_id: str, conn: str, call_id: str, party_id: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        self._party(user_id, conn, call_id, party_id)
        self.sfu.set_media(
            call_id, party_id, audio_muted=changes.get("audio_muted"), video_muted=changes.get("video_muted")
        )
        state = self.sfu.state(call_id)
        me = state.participant(party_id) if state is not None else None
        return {
            "call_id": call_id,
            "audio_muted": bool(me and me.audio_muted),
            "video_muted": bool(me and me.video_muted),
            "screenshare": bool(me and me.screen_sharing),
        }

    async def replay_frames(self, user_id: str) -> list[dict[str, Any]]:
        return [
            {"type": "call.room", **call.view(self.sfu.state(call.call_id))}
            for call in self.calls.values()
            if user_id in call.members
        ]

    # -- from the SFU ---------------------------------------------------------------------------------------
    async def _offer(self, room_id: str, participant_id: str, sdp: str) -> None:
        call = self.calls.get(room_id)
        user_id = call.parties.get(participant_id) if call else None
        if call is None or user_id is None:
            return
        frame = {
            "type": "call.negotiate",
            "call_id": room_id,
            "party_id": "sfu",
            "target": "subscribe",
            "description": {"type": "offer", "sdp": sdp},
        }
        self._send(user_id, frame, to_party=participant_id)

    def _state(self, room_id: str, state: RoomState) -> None:
        call = self.calls.get(room_id)
        if call is None:
            return
        present = {p.participant_id for p in state.participants}
        for party_id in [p for p in call.parties if p not in present]:  # its connection failed: it is out
            self._unbind(call, party_id)
        ended = not state.participants
        if ended and not call.everyone:  # nobody ever got in (a first join the SFU refused): no call happened
            self._forget(call)
            return
        view = call.view(state, active=not ended)
        frame = {"type": "call.room", **view}
        before = {p["party_id"] for p in call.last["participants"]} if call.last else set()
        call.last = view
        if ended or before != present:
            for member in call.members:  # someone joined or left: the whole chat hears it
                self._send(member, frame)
        else:
            for member in {p.user_id for p in state.participants}:
                self._send(member, frame)
        if ended:
            self._forget(call)
            now = self._clock()
            self._hooks.group_ended(
                chat_id=call.chat_id,
                call_id=call.call_id,
                started_by=call.started_by,
                media=call.media,
                started_at=call.started_at,
                ended_at=now,
                participants=len(call.everyone),
            )

    # -- bookkeeping ----------------------------------------------------------------------------------------
    def _party(self, user_id: str, conn: str, call_id: str, party_id: str) -> GroupCall:
        call = self.calls.get(call_id)
        if call is None or user_id not in call.members:
            raise call_not_found()
        if call.parties.get(party_id) != user_id or self._bound.get((call_id, party_id)) != conn:
            raise not_a_party()
        return call

    def _unbind(self, call: GroupCall, party_id: str) -> None:
        call.parties.pop(party_id, None)
        self._bound.pop((call.call_id, party_id), None)
        timer = self._timers.pop((call.call_id, party_id), None)
        if timer is not None:
            timer.cancel()

    def _forget(self, call: GroupCall) -> None:
        self.calls.pop(call.call_id, None)
        if self._by_chat.get(call.chat_id) == call.call_id:
            del self._by_chat[call.chat_id]

    def _spawn(self, work: Any) -> None:
        async def run() -> None:
            try:
                await work
            except ApiError:
                pass  # the participant left meanwhile (not_in_room): nothing to do
            except Exception:
                log.exception("calls: a room task failed")

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        await self.sfu.close()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=2)
