"""aiortc test peers: synthetic media tracks, a sink that counts decoded frames, an in-process offer/answer, the
route's ICE servers as aiortc objects, and which candidate pair ICE selected (to prove a call went through TURN).

    offerer, answerer = make_peer(servers, relay_only=True), make_peer(servers, relay_only=True)
    offerer.addTrack(SyntheticVideoTrack(320, 240, fps=15))
    received = on_track_frames(answerer)
    await connect(offerer, answerer)
    counter = await received
    await counter.wait_for(10, timeout=20)
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import math
import struct
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import av
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCIceTransport,
    RTCIceTransportPolicy,
    RTCPeerConnection,
)
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack

VIDEO_CLOCK_RATE = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)
AUDIO_SAMPLE_RATE = 48_000
AUDIO_SAMPLES = AUDIO_SAMPLE_RATE // 50  # 20 ms, aiortc's packetisation time
AUDIO_TIME_BASE = fractions.Fraction(1, AUDIO_SAMPLE_RATE)


# -- synthetic media --------------------------------------------------------------------------------


class _Pacer:
    """Timestamps at a fixed rate, sleeping until each one is due (the first is due at once)."""

    def __init__(self, clock_rate: int, step: int) -> None:
        self._clock_rate, self._step = clock_rate, step
        self._start: float | None = None
        self._timestamp = 0

    async def next(self) -> int:
        if self._start is None:
            self._start = time.monotonic()
            return 0
        self._timestamp += self._step
        await asyncio.sleep(max(0.0, self._start + self._timestamp / self._clock_rate - time.monotonic()))
        return self._timestamp


class SyntheticVideoTrack(VideoStreamTrack):
    """`width`x`height` yuv420p frames at `fps`: a grey gradient that slides every frame (so the encoder has
    something to encode), built from precomputed bytes, no numpy."""

    def __init__(self, width: int = 320, height: int = 240, fps: float = 15.0) -> None:
        super().__init__()
        if width % 2 or height % 2:
            raise ValueError("yuv420p wants an even width and height")
        self.width, self.height, self.fps = width, height, fps
        self.frames_sent = 0
        self._pacer = _Pacer(VIDEO_CLOCK_RATE, round(VIDEO_CLOCK_RATE / fps))
        probe = av.VideoFrame(width, height, "yuv420p")
        luma = probe.planes[0]
        self._line_size, self._luma_rows = luma.line_size, luma.height
        self._gradient = bytes(range(256)) * (luma.line_size // 256 + 2)
        self._chroma = [bytes([128]) * plane.buffer_size for plane in probe.planes[1:]]

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        pts = await self._pacer.next()
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        shift = (self.frames_sent * 4) % 256
        frame.planes[0].update(self._gradient[shift : shift + self._line_size] * self._luma_rows)
        for plane, chroma in zip(frame.planes[1:], self._chroma, strict=True):
            plane.update(chroma)
        frame.pts, frame.time_base = pts, VIDEO_TIME_BASE
        self.frames_sent += 1
        return frame


class SyntheticAudioTrack(AudioStreamTrack):
    """48 kHz mono s16 in 20 ms frames: a sine tone of `frequency` Hz, or silence when it is 0. One second is
    computed up front (50 whole frames, so an integer-Hz tone wraps without a click) and sliced."""

    def __init__(self, frequency: int = 440, amplitude: float = 0.2) -> None:
        super().__init__()
        self.frames_sent = 0
        self._pacer = _Pacer(AUDIO_SAMPLE_RATE, AUDIO_SAMPLES)
        level = int(amplitude * 32767)
        samples = (int(level * math.sin(2 * math.pi * frequency * n / AUDIO_SAMPLE_RATE)) for n in range(48_000))
        self._second = struct.pack(f"<{AUDIO_SAMPLE_RATE}h", *samples)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        pts = await self._pacer.next()
        frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_SAMPLES)
        start = (self.frames_sent % 50) * AUDIO_SAMPLES * 2
        frame.planes[0].update(self._second[start : start + AUDIO_SAMPLES * 2])
        frame.pts, frame.sample_rate, frame.time_base = pts, AUDIO_SAMPLE_RATE, AUDIO_TIME_BASE
        self.frames_sent += 1
        return frame


# -- a sink that counts -----------------------------------------------------------------------------


class FrameCounter:
    """Reads a received track in a task of its own until it ends, `limit` frames have come, or `stop()`: counts
    the decoded frames, keeps the last video frame's size and when (time.monotonic()) the first frame came."""

    def __init__(self, track: MediaStreamTrack, limit: int = 100_000) -> None:
        self.kind = track.kind
        self.frames = 0
        self.width: int | None = None
        self.height: int | None = None
        self.first_frame_at: float | None = None
        self._track, self._limit = track, limit
        self._progress = asyncio.Condition()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            while self.frames < self._limit:
                frame = await self._track.recv()
                if isinstance(frame, av.VideoFrame):
                    self.width, self.height = frame.width, frame.height
                if self.first_frame_at is None:
                    self.first_frame_at = time.monotonic()
                self.frames += 1
                async with self._progress:
                    self._progress.notify_all()
        except MediaStreamError:  # the track ended: the peer connection closed or the sender stopped
            pass
        finally:
            async with self._progress:
                self._progress.notify_all()

    @property
    def done(self) -> bool:
        return self._task.done()

    async def wait_for(self, frames: int, timeout: float) -> int:
        """Wait until `frames` frames have been counted; TimeoutError after `timeout` seconds, or as soon as the
        track ends short of them (then the error says so). Returns the count."""
        async with asyncio.timeout(timeout), self._progress:
            await self._progress.wait_for(lambda: self.frames >= frames or self.done)
        if self.frames < frames:
            raise TimeoutError(f"the {self.kind} track ended after {self.frames} of {frames} frames")
        return self.frames

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def on_track_frames(pc: RTCPeerConnection, kind: str = "video", limit: int = 100_000) -> asyncio.Future[FrameCounter]:
    """A future for a FrameCounter on the first remote track of `kind` that `pc` receives. Call it before the
    offer/answer: aiortc emits "track" while applying the remote description."""
    future: asyncio.Future[FrameCounter] = asyncio.get_running_loop().create_future()

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        if track.kind == kind and not future.done():
            future.set_result(FrameCounter(track, limit))

    return future


# -- peers and signalling ---------------------------------------------------------------------------


def rtc_ice_servers(servers: Iterable[Mapping[str, Any]]) -> list[RTCIceServer]:
    """The `ice_servers` list of GET /api/calls/ice-servers (`[{"urls": [...], "username"?, "credential"?}]`)
    as aiortc objects. aiortc uses the first STUN and the first usable TURN URL only."""
    return [
        RTCIceServer(urls=list(server["urls"]), username=server.get("username"), credential=server.get("credential"))
        for server in servers
    ]


def make_peer(ice_servers: Iterable[RTCIceServer] | None = None, *, relay_only: bool = False) -> RTCPeerConnection:
    """A peer connection with these ICE servers; with none, host candidates only (aiortc's own default would ask
    Google's public STUN server). `relay_only` is the W3C `iceTransportPolicy: "relay"`, which aiortc passes to
    aioice: only TURN relay candidates are gathered and paired, host and srflx ones never. Everything is bundled on
    one transport, as browsers do, so each peer makes one TURN allocation."""
    return RTCPeerConnection(
        RTCConfiguration(
            iceServers=list(ice_servers or ()),
            iceTransportPolicy=RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL,
            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
        )
    )


async def connect(
    offerer: RTCPeerConnection, answerer: RTCPeerConnection, answerer_tracks: Iterable[MediaStreamTrack] = ()
) -> None:
    """A full offer/answer between two peers in this process. Non-trickle: aiortc gathers all its candidates in
    setLocalDescription, so each description already carries them. ICE and DTLS then run in the background; see
    `wait_connection_state`.

    `answerer_tracks` are added once the offer is applied, so they take the offer's sections of their kind, as a
    browser's answer does (offer `addTransceiver(kind, direction="recvonly")` for them). Add them to the answerer
    before the offer instead and aiortc 1.16 answers without candidates when everything is bundled."""
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    for track in answerer_tracks:
        answerer.addTrack(track)
    await answerer.setLocalDescription(await answerer.createAnswer())
    await offerer.setRemoteDescription(answerer.localDescription)


async def wait_connection_state(
    pc: RTCPeerConnection, timeout: float, states: Iterable[str] = ("connected", "failed", "closed")
) -> str:
    """The connection state once it is one of `states` (or is already); TimeoutError after `timeout` seconds."""
    wanted = set(states)
    changed = asyncio.Event()
    pc.add_listener("connectionstatechange", changed.set)
    try:
        async with asyncio.timeout(timeout):
            while pc.connectionState not in wanted:
                changed.clear()
                await changed.wait()
    finally:
        pc.remove_listener("connectionstatechange", changed.set)
    return pc.connectionState


# -- what ICE chose ---------------------------------------------------------------------------------


def _ice_transports(pc: RTCPeerConnection) -> list[RTCIceTransport]:
    """Each ICE transport once (bundled media and data share one)."""
    transports = [transceiver.receiver.transport.transport for transceiver in pc.getTransceivers()]
    if pc.sctp is not None:
        transports.append(pc.sctp.transport.transport)
    return list({id(t): t for t in transports}.values())


@dataclass(frozen=True)
class SelectedPair:
    """One ICE component's nominated candidate pair: each side's candidate type ("host", "srflx", "relay")."""

    local_type: str
    local_address: tuple[str, int]
    remote_type: str
    remote_address: tuple[str, int]


def selected_pairs(pc: RTCPeerConnection) -> list[SelectedPair]:
    """The nominated pair of each ICE transport's components. aiortc exposes no selected-pair API (its getStats has
    no candidate-pair stats), so this reads aioice's Connection behind each RTCIceTransport: `_nominated`, the
    pairs that carry the data (aioice's `sendto` sends on exactly these)."""
    pairs: list[SelectedPair] = []
    for transport in _ice_transports(pc):
        for pair in transport._connection._nominated.values():
            pairs.append(
                SelectedPair(
                    pair.local_candidate.type,
                    pair.local_addr,
                    pair.remote_candidate.type,
                    (pair.remote_candidate.host, pair.remote_candidate.port),
                )
            )
    return pairs


def local_candidate_types(pc: RTCPeerConnection) -> set[str]:
    """The types of the candidates `pc` gathered (after setLocalDescription)."""
    return {candidate.type for t in _ice_transports(pc) for candidate in t.iceGatherer.getLocalCandidates()}


def echo_channel(offerer: RTCPeerConnection, answerer: RTCPeerConnection, text: str) -> asyncio.Future[str]:
    """A data channel the offerer opens and sends `text` on; the answerer echoes it back as `echo <text>`. Set up
    before `connect`; the future holds the echo once it came back."""
    channel = offerer.createDataChannel("chat")
    echoed: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    @channel.on("message")
    def on_message(message: str) -> None:
        if not echoed.done():
            echoed.set_result(message)

    channel.on("open", lambda: channel.send(text))

    @answerer.on("datachannel")
    def on_datachannel(remote: RTCDataChannel) -> None:
        remote.on("message", lambda message: remote.send(f"echo {message}"))

    return echoed
