"""Real aiortc peers for the SFU's tests (the 1:1 peer kit is peers.py): a client with a publish
connection (synthetic 320x240 video at 30 fps, silent or tone audio, encoded by aiortc) and a subscribe
connection that DECODES what the SFU sends it."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Any

import av
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, MediaStreamTrack, VideoStreamTrack
from aiortc.rtcconfiguration import RTCConfiguration
from aiortc.rtp import RTCP_PSFB_FIR, RTCP_PSFB_PLI, RtcpPsfbPacket

from server.calls.sfu import NotInRoom, RoomState, Sfu

WIDTH, HEIGHT, FPS = 320, 240, 30


def _planes(index: int) -> tuple[bytes, bytes, bytes]:
    """A grey picture with a bright bar that moves, so the encoder has something to encode."""
    bar = (index * 8) % WIDTH
    row = bytes(235 if bar <= x < bar + 24 else 96 for x in range(WIDTH))
    return row * HEIGHT, bytes([128]) * (WIDTH * HEIGHT // 4), bytes([128 + index % 40]) * (WIDTH * HEIGHT // 4)


PICTURES = [_planes(i) for i in range(FPS)]


class SyntheticVideo(VideoStreamTrack):
    """320x240 yuv420p at 30 fps."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        for plane, data in zip(frame.planes, PICTURES[self.sent % FPS], strict=True):
            if plane.line_size == plane.width:
                plane.update(data)
            else:  # padded rows
                rows = [data[r * plane.width : (r + 1) * plane.width] for r in range(plane.height)]
                pad = bytes(plane.line_size - plane.width)
                plane.update(b"".join(r + pad for r in rows))
        frame.pts, frame.time_base = pts, time_base
        self.sent += 1
        return frame


class ToneAudio(AudioStreamTrack):
    """A loud 440 Hz tone (20 ms s16 mono frames), so the audio level says someone speaks."""

    async def recv(self) -> av.AudioFrame:
        frame = await super().recv()
        samples = frame.samples
        start = frame.pts or 0
        data = b"".join(
            int(12000 * math.sin(2 * math.pi * 440 * (start + i) / 48000)).to_bytes(2, "little", signed=True)
            for i in range(samples)
        )
        frame.planes[0].update(data)
        return frame


@dataclass
class Received:
    """What one subscriber decoded of one incoming track."""

    kind: str
    frames: int = 0
    first_at: float | None = None
    sizes: set[tuple[int, int]] = field(default_factory=set)


class Client:
    """One participant: publishes on one connection, receives (and decodes) on another."""

    def __init__(self, sfu: Sfu, room_id: str, participant_id: str, *, video: bool = True, tone: bool = False):
        self.sfu, self.room_id, self.participant_id = sfu, room_id, participant_id
        self.publish_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.subscribe_pc: RTCPeerConnection | None = None
        self.video = SyntheticVideo() if video else None
        self.audio: MediaStreamTrack = ToneAudio() if tone else AudioStreamTrack()
        self.received: dict[str, Received] = {}  # incoming track id -> what arrived
        self.offers = 0
        self.keyframe_requests = 0  # PLIs/FIRs the SFU sent this publisher's video sender
        self.tasks: list[asyncio.Task[None]] = []
        self.streams: dict[str, str] = {}

    async def publish_offer(self) -> str:
        self.publish_pc.addTransceiver(self.audio, direction="sendonly")
        if self.video is not None:
            video = self.publish_pc.addTransceiver(self.video, direction="sendonly")
            self._count_keyframe_requests(video.sender)
        stream_id = self.publish_pc.getTransceivers()[0].sender._stream_id
        self.streams = {stream_id: "usermedia"}
        await self.publish_pc.setLocalDescription(await self.publish_pc.createOffer())
        return str(self.publish_pc.localDescription.sdp)

    async def join(self, user_id: str | None = None) -> None:
        offer = await self.publish_offer()
        user = user_id or self.participant_id
        answer = await self.sfu.join(self.room_id, self.participant_id, user, offer, self.streams)
        await self.publish_pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    def _count_keyframe_requests(self, sender: Any) -> None:
        handle = sender._handle_rtcp_packet

        async def counted(packet: Any) -> None:
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
                self.keyframe_requests += 1
            await handle(packet)

        sender._handle_rtcp_packet = counted

    async def on_offer(self, offer_sdp: str) -> None:
        """The SFU's offer for this client's subscribe connection: answer it as a browser would."""
        self.offers += 1
        if self.subscribe_pc is None:
            self.subscribe_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            self.subscribe_pc.on("track", self._on_track)
        await self.subscribe_pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await self.subscribe_pc.setLocalDescription(await self.subscribe_pc.createAnswer())
        with contextlib.suppress(NotInRoom):  # it left meanwhile
            await self.sfu.subscriber_answer(self.room_id, self.participant_id, self.subscribe_pc.localDescription.sdp)

    def _on_track(self, track: MediaStreamTrack) -> None:
        received = self.received[track.id] = Received(track.kind)
        self.tasks.append(asyncio.get_running_loop().create_task(self._consume(track, received)))

    async def _consume(self, track: MediaStreamTrack, received: Received) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if received.first_at is None:
                    received.first_at = time.monotonic()
                received.frames += 1
                if isinstance(frame, av.VideoFrame):
                    received.sizes.add((frame.width, frame.height))

    def frames(self, kind: str) -> int:
        return sum(r.frames for r in self.received.values() if r.kind == kind)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.publish_pc.close()
        if self.subscribe_pc is not None:
            await self.subscribe_pc.close()


class Room:
    """An SFU and the clients of one room, wired together as the signalling layer would."""

    def __init__(self, **limits: int) -> None:
        self.clients: dict[str, Client] = {}
        self.states: list[RoomState] = []
        self.sfu = Sfu(
            max_rooms=limits.get("max_rooms", 4),
            max_participants=limits.get("max_participants", 8),
            on_offer=self._on_offer,
            on_state=lambda room_id, state: self.states.append(state),
        )

    async def _on_offer(self, room_id: str, participant_id: str, offer_sdp: str) -> None:
        await self.clients[participant_id].on_offer(offer_sdp)

    async def join(self, participant_id: str, *, room_id: str = "room", **kwargs: Any) -> Client:
        client = self.clients[participant_id] = Client(self.sfu, room_id, participant_id, **kwargs)
        await client.join()
        return client

    async def close(self) -> None:
        await self.sfu.close()
        for client in self.clients.values():
            await client.close()


async def wait_for(condition: Any, timeout: float, step: float = 0.05) -> bool:
    """Poll `condition()` until true or `timeout` seconds pass; whether it came true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(step)
    return bool(condition())
