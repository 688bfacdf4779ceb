"""The SFU: rooms of participants, each publishing once, each receiving everyone else's tracks, frames forwarded
encoded. See the package docstring for the API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiortc import RTCIceServer

from server.calls.sfu.errors import AlreadyJoined, NegotiationError, NotInRoom, RoomFull, SfuFull
from server.calls.sfu.media import Source
from server.calls.sfu.participant import Participant
from server.calls.sfu.seam import check_aiortc
from server.calls.sfu.state import RoomState, SpeakerDetector

log = logging.getLogger(__name__)

TICK = 0.25  # seconds: keyframe requests still wanted are sent again
SPEAKER_TICKS = 2  # the active speaker is worked out every other tick

OfferCallback = Callable[[str, str, str], Awaitable[None]]
StateCallback = Callable[[str, RoomState], None]


class Room:
    def __init__(self, room_id: str) -> None:
        self.room_id = room_id
        self.participants: dict[str, Participant] = {}  # in join order
        self.speakers = SpeakerDetector()

    def wanted_by(self, subscriber: Participant) -> dict[Source, str]:
        """Every track of everyone else in the room, with the stream id it belongs to."""
        return {
            source: other.stream_ids[source.purpose]
            for other in self.participants.values()
            if other is not subscriber
            for source in other.sources.values()
        }

    def state(self) -> RoomState:
        return RoomState(self.room_id, tuple(p.state() for p in self.participants.values()), self.speakers.speaker)


class Sfu:
    def __init__(
        self,
        *,
        max_rooms: int,
        max_participants: int,
        on_offer: OfferCallback,
        on_state: StateCallback,
        ice_servers: list[RTCIceServer] | Callable[[], list[RTCIceServer]] | None = None,
    ) -> None:
        check_aiortc()
        self.max_rooms = max_rooms
        self.max_participants = max_participants
        # A list, or a function giving a fresh one for each participant (TURN credentials expire); empty by
        # default, as aiortc would otherwise ask Google's STUN server.
        self._ice_servers = ice_servers if callable(ice_servers) else (lambda fixed=list(ice_servers or []): fixed)
        self._on_offer = on_offer
        self._on_state = on_state
        self._rooms: dict[str, Room] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._closed = False
        self._finished = False

    # -- the API -----------------------------------------------------------------------------------

    async def join(
        self, room_id: str, participant_id: str, user_id: str, offer_sdp: str, streams: dict[str, str]
    ) -> str:
        """Join `room_id` with a publish offer; the answer to it. Everyone else's tracks follow through on_offer."""
        if self._closed:
            raise SfuFull("the SFU is shutting down")
        room = self._rooms.get(room_id)
        if room is None:
            if len(self._rooms) >= self.max_rooms:
                raise SfuFull("this server holds its limit of {limit} rooms", limit=self.max_rooms)
            room = self._rooms[room_id] = Room(room_id)
        if participant_id in room.participants:
            raise AlreadyJoined("this participant is in the room already")
        if len(room.participants) >= self.max_participants:
            raise RoomFull("the room holds its limit of {limit} participants", limit=self.max_participants)
        participant = Participant(
            participant_id,
            user_id,
            ice_servers=self._ice_servers(),
            spawn=self._spawn,
            on_level=lambda level: room.speakers.add_level(participant_id, level),
            on_failed=lambda: self._spawn(self.leave(room_id, participant_id)),
        )
        room.participants[participant_id] = participant  # the seat is taken before the first await
        self._start_ticker()
        try:
            async with participant.lock:
                answer = await participant.answer_publish(offer_sdp, streams)
        except BaseException:
            await self._remove(room, participant)
            raise
        self._tracks_changed(room)
        return answer

    async def publish(self, room_id: str, participant_id: str, offer_sdp: str, streams: dict[str, str]) -> str:
        """Renegotiate a participant's publish connection (screen share on or off, another device); the answer."""
        room, participant = self._find(room_id, participant_id)
        async with participant.lock:
            answer = await participant.answer_publish(offer_sdp, streams)
        self._tracks_changed(room)
        return answer

    async def subscriber_answer(self, room_id: str, participant_id: str, answer_sdp: str) -> None:
        """The participant's answer to the last offer on_offer sent it."""
        room, participant = self._find(room_id, participant_id)
        if not participant.offer_outstanding:
            raise NegotiationError("no offer is waiting for an answer")
        try:
            await participant.take_answer(answer_sdp)
        except Exception:
            await participant.reset_subscriptions()
            self._spawn(self._negotiate(room, participant))
            raise
        participant.offer_outstanding = False
        if participant.renegotiate_wanted:
            participant.renegotiate_wanted = False
            self._spawn(self._negotiate(room, participant))

    async def reoffer(self, room_id: str, participant_id: str) -> None:
        """Send again the offer a participant has not answered (its signalling dropped and came back): the SFU
        still waits for the answer to that very offer."""
        room, participant = self._find(room_id, participant_id)
        offer = participant.pending_offer()
        if offer is not None:
            await self._on_offer(room.room_id, participant.participant_id, offer)

    def set_media(
        self, room_id: str, participant_id: str, *, audio_muted: bool | None = None, video_muted: bool | None = None
    ) -> None:
        """Mute or unmute a participant's camera or microphone: a muted track is not forwarded at all."""
        room, participant = self._find(room_id, participant_id)
        if audio_muted is not None:
            participant.audio_muted = audio_muted
        if video_muted is not None:
            participant.video_muted = video_muted
        participant.apply_mute()
        self._on_state(room_id, room.state())

    async def leave(self, room_id: str, participant_id: str) -> None:
        """Leave the room (nothing happens if the participant is not in it)."""
        room = self._rooms.get(room_id)
        participant = room.participants.get(participant_id) if room else None
        if room is None or participant is None:
            return
        await self._remove(room, participant)
        if room.participants:
            self._tracks_changed(room)

    def state(self, room_id: str) -> RoomState | None:
        room = self._rooms.get(room_id)
        return room.state() if room else None

    def room_of(self, room_id: str) -> Room | None:
        """The room itself, for tests and benchmarks that look at forwarding figures."""
        return self._rooms.get(room_id)

    async def close(self) -> None:
        """Close every peer connection and stop every task of the SFU."""
        self._closed = True
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for room in list(self._rooms.values()):
            for participant in list(room.participants.values()):
                await self._remove(room, participant)
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._finished = True

    # -- inside ------------------------------------------------------------------------------------

    def _find(self, room_id: str, participant_id: str) -> tuple[Room, Participant]:
        room = self._rooms.get(room_id)
        participant = room.participants.get(participant_id) if room else None
        if room is None or participant is None:
            raise NotInRoom("this participant is not in this room")
        return room, participant

    async def _remove(self, room: Room, participant: Participant) -> None:
        if room.participants.get(participant.participant_id) is participant:
            del room.participants[participant.participant_id]
        room.speakers.forget(participant.participant_id)
        if not room.participants and self._rooms.get(room.room_id) is room:
            del self._rooms[room.room_id]
            if not self._closed:
                self._on_state(room.room_id, room.state())  # the room is empty, and gone
        await participant.close()

    def _tracks_changed(self, room: Room) -> None:
        """Someone's tracks changed: offer everyone what they now should receive, and tell them."""
        for participant in room.participants.values():
            self._spawn(self._negotiate(room, participant))
        self._on_state(room.room_id, room.state())

    async def _negotiate(self, room: Room, participant: Participant) -> None:
        """One offer outstanding per subscriber: changes meanwhile wait for its answer, then go in one offer."""
        if participant.is_closed():
            return
        if participant.offer_outstanding:
            participant.renegotiate_wanted = True
            return
        if not participant.sync_subscriptions(room.wanted_by(participant)):
            return
        participant.offer_outstanding = True
        try:
            offer = await participant.make_offer()
        except Exception:
            if participant.is_closed():  # it left meanwhile
                return
            raise
        if not participant.is_closed():
            await self._on_offer(room.room_id, participant.participant_id, offer)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._finished:  # close() has returned: nothing may start any more
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("SFU task failed", exc_info=task.exception())

    def _start_ticker(self) -> None:
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())

    async def _tick_forever(self) -> None:
        count = 0
        while True:
            await asyncio.sleep(TICK)
            count += 1
            for room in list(self._rooms.values()):
                for participant in room.participants.values():
                    for source in participant.sources.values():
                        source.tick()
                if count % SPEAKER_TICKS == 0:
                    muted = {pid for pid, p in room.participants.items() if p.audio_muted}
                    if room.speakers.tick(muted):
                        self._on_state(room.room_id, room.state())
