"""Forwarding encoded frames: one `Source` per published track fans out to one `ForwardedTrack` per subscriber.

A forwarded video track holds its subscriber (passes no frame) until a keyframe: when it starts, after it had to
drop frames (its bounded queue was full: a slow subscriber), and after its source was unmuted. While any of its
tracks is held, the source asks the publisher for a keyframe (PLI), at most once per `PLI_INTERVAL`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from fractions import Fraction

import av
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

VIDEO_QUEUE = 16  # frames: half a second at 30 fps
AUDIO_QUEUE = 25  # frames: half a second of 20 ms Opus frames
PLI_INTERVAL = 0.5  # seconds between two keyframe requests to one publisher
CLOCK_RATES = {"audio": Fraction(1, 48000), "video": Fraction(1, 90000)}


def is_vp8_keyframe(data: bytes) -> bool:
    """A VP8 frame (RFC 6386 section 9.1): bit 0 of the first byte is 0 on a keyframe, whose bytes 3-5 are the
    start code 9d 01 2a."""
    return len(data) >= 10 and data[0] & 1 == 0 and data[3:6] == b"\x9d\x01\x2a"


def is_h264_keyframe(data: bytes) -> bool:
    """An H.264 access unit in Annex B form (aiortc's depayloader writes start codes): one holding an IDR slice
    (NAL type 5)."""
    start = data.find(b"\x00\x00\x01")
    while start != -1 and start + 3 < len(data):
        if data[start + 3] & 0x1F == 5:
            return True
        start = data.find(b"\x00\x00\x01", start + 3)
    return False


def is_keyframe(mime_type: str, data: bytes) -> bool:
    mime = mime_type.lower()
    if mime == "video/vp8":
        return is_vp8_keyframe(data)
    if mime == "video/h264":
        return is_h264_keyframe(data)
    return not mime.startswith("video/")  # audio frames stand alone


class ForwardedTrack(MediaStreamTrack):
    """One source's encoded frames for one subscriber's RTCRtpSender: `recv()` gives av.Packets, which the sender
    packs without encoding. Bounded: when the subscriber falls behind, its queue is dropped, not grown."""

    def __init__(self, source: Source) -> None:
        super().__init__()
        self.kind = source.kind
        self._id = source.track_id  # every subscriber sees the SFU's id for this source
        self.source = source
        self._queue: asyncio.Queue[av.Packet] = asyncio.Queue(VIDEO_QUEUE if source.kind == "video" else AUDIO_QUEUE)
        self.held = source.kind == "video"
        self.dropped = 0
        self._attached = False

    async def recv(self) -> av.Packet:
        if not self._attached:  # the sender is running: from now on the frames have somewhere to go
            self._attached = True
            self.source.attach(self)
        if self.readyState != "live":
            raise MediaStreamError
        return await self._queue.get()

    def push(self, packet: av.Packet, keyframe: bool) -> None:
        if self.held:
            if not keyframe:
                return
            self.held = False
        try:
            self._queue.put_nowait(packet)
        except asyncio.QueueFull:
            dropped = self._queue.qsize()
            self._clear()
            if self.kind == "video":  # a gap in video breaks decoding until the next keyframe
                self.dropped += dropped + 1
                self.hold()
            else:
                self.dropped += dropped
                self._queue.put_nowait(packet)

    def hold(self) -> None:
        """Pass no more frames until the next keyframe, and ask the publisher for one."""
        self.held = True
        self._clear()
        self.source.request_keyframe()

    def detach(self) -> None:
        self.source.detach(self)
        self._clear()

    def _clear(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()


class Source:
    """One track a participant publishes, as the SFU received it on that participant's publish connection."""

    def __init__(self, kind: str, purpose: str, send_pli: Callable[[], None]) -> None:
        self.kind = kind
        self.purpose = purpose
        self.track_id = str(uuid.uuid4())
        self.enabled = True  # False while muted: nothing is forwarded
        self.frames = 0
        self._send_pli = send_pli
        self._tracks: set[ForwardedTrack] = set()
        self._last_pli = 0.0
        self._pli_wanted = False
        self._clock = CLOCK_RATES[kind]

    @property
    def tracks(self) -> frozenset[ForwardedTrack]:
        return frozenset(self._tracks)

    def attach(self, track: ForwardedTrack) -> None:
        self._tracks.add(track)
        if track.held:
            self.request_keyframe()

    def detach(self, track: ForwardedTrack) -> None:
        self._tracks.discard(track)

    def on_frame(self, codec: RTCRtpCodecParameters, frame: JitterFrame) -> None:
        """A frame from the publisher (the receiver's tap): one av.Packet, shared read-only by every subscriber."""
        if not self.enabled or not self._tracks:
            return
        self.frames += 1
        packet = av.Packet(frame.data)
        packet.pts = frame.timestamp
        packet.time_base = self._clock
        keyframe = is_keyframe(codec.mimeType, frame.data)
        for track in tuple(self._tracks):
            track.push(packet, keyframe)

    def set_enabled(self, enabled: bool) -> None:
        if enabled and not self.enabled and self.kind == "video":
            for track in self._tracks:  # frames skipped while muted: start again from a keyframe
                track.hold()
        self.enabled = enabled

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe now, or at the next `tick` if one was asked for just before."""
        if self.kind != "video":
            return
        now = time.monotonic()
        if now - self._last_pli < PLI_INTERVAL:
            self._pli_wanted = True
            return
        self._pli_wanted = False
        self._last_pli = now
        self._send_pli()

    def tick(self) -> None:
        """Called a few times a second: ask again for a keyframe still wanted (a PLI may be lost, as UDP is)."""
        if self.kind == "video" and self.enabled and (self._pli_wanted or any(t.held for t in self._tracks)):
            self.request_keyframe()
