"""One participant of a room: the publish connection the SFU receives its tracks on, and the subscribe connection the
SFU sends it everyone else's tracks on (two RTCPeerConnections, as LiveKit does, so offers never cross).

Publish: the client offers, the SFU answers, receive only; each m-line becomes a `Source`, attributed to this
participant only because it arrived on this participant's connection. Subscribe: the SFU offers, the client
answers, send only; one m-line per forwarded track. A track that goes away leaves its m-line inactive (aiortc fixes a
sender's codec and stream at its first negotiation, so m-lines are not recycled).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from server.calls.sfu.errors import InvalidSdp
from server.calls.sfu.media import ForwardedTrack, Source
from server.calls.sfu.seam import (
    grow_receive_buffers,
    on_keyframe_request,
    send_pli,
    tap_encoded_frames,
    watch_rtp,
)
from server.calls.sfu.state import PURPOSES, ParticipantState, StreamState

log = logging.getLogger(__name__)

SDP_ERRORS = (ValueError, KeyError, IndexError, TypeError, AttributeError)
NEGOTIATION_ERRORS = (*SDP_ERRORS, InternalError, InvalidAccessError, InvalidStateError, OperationError)
RECEIVE_BUFFER = 4 << 20  # bytes per UDP socket: a second of a few video streams, where the kernel allows it
Spawn = Callable[[Coroutine[Any, Any, None]], None]


def codec_preferences(kind: str) -> list[RTCRtpCodecCapability]:
    """Opus for audio, VP8 (and its RTX) for video: what every browser sends, and one codec per kind keeps every
    subscriber's m-lines alike whoever publishes."""
    wanted = ("audio/opus",) if kind == "audio" else ("video/vp8", "video/rtx")
    return [c for c in RTCRtpSender.getCapabilities(kind).codecs if c.mimeType.lower() in wanted]


@dataclass(frozen=True)
class OfferedTrack:
    """An m-line of a publish offer that sends a track."""

    kind: str
    purpose: str
    msid: str  # the client's "stream track" ids, only to notice when an m-line carries another track
    ssrc: int | None  # the media ssrc (not RTX), for PLIs


def _msid(media: aiortc_sdp.MediaDescription) -> str | None:
    if media.msid:
        return media.msid
    return next((s.msid for s in media.ssrc if s.msid), None)


def _media_ssrc(media: aiortc_sdp.MediaDescription) -> int | None:
    fid = next((g for g in media.ssrc_group if g.semantic == "FID" and g.items), None)
    if fid is not None:
        return int(fid.items[0])
    return media.ssrc[0].ssrc if media.ssrc else None


def read_publish_offer(offer_sdp: str, streams: dict[str, str]) -> tuple[aiortc_sdp.SessionDescription, dict]:
    """The offer parsed, and its sending m-lines by mid; InvalidSdp with what is wrong."""
    for described, purpose in streams.items():
        if purpose not in PURPOSES:
            raise InvalidSdp(
                "stream {stream}: purpose must be one of {choices}",
                field="streams",
                stream=repr(described),
                choices=", ".join(PURPOSES),
            )
    try:
        description = aiortc_sdp.SessionDescription.parse(offer_sdp)
    except SDP_ERRORS as exc:
        raise InvalidSdp("the offer is not SDP this server can read: {reason}", field="sdp", reason=str(exc)) from exc
    if not offer_sdp.startswith("v=0") or not any(m.kind in ("audio", "video") for m in description.media):
        raise InvalidSdp("the offer holds no audio or video m-line", field="sdp")
    offered: dict[str, OfferedTrack] = {}
    seen: set[tuple[str, str]] = set()
    for media in description.media:
        if media.kind not in ("audio", "video") or media.direction not in ("sendonly", "sendrecv") or not media.port:
            continue
        msid = _msid(media)
        stream_id = msid.split()[0] if msid else None
        if stream_id is None or stream_id not in streams:
            raise InvalidSdp(
                "m-line {mid} sends stream {stream}, which streams does not describe",
                mid=media.rtp.muxId,
                stream=repr(stream_id),
            )
        purpose = streams[stream_id]
        if (purpose, media.kind) in seen:
            raise InvalidSdp("more than one {kind} track for {purpose}", kind=media.kind, purpose=purpose)
        seen.add((purpose, media.kind))
        offered[media.rtp.muxId] = OfferedTrack(media.kind, purpose, msid or "", _media_ssrc(media))
    return description, offered


class Participant:
    def __init__(
        self,
        participant_id: str,
        user_id: str,
        *,
        ice_servers: list[RTCIceServer],
        spawn: Spawn,
        on_level: Callable[[int], None],
        on_failed: Callable[[], None],
    ) -> None:
        self.participant_id = participant_id
        self.user_id = user_id
        self.audio_muted = False
        self.video_muted = False
        self.lock = asyncio.Lock()  # one publish negotiation at a time
        self.sources: dict[str, Source] = {}  # publish mid -> what arrives on it
        self.stream_ids: dict[str, str] = {}  # purpose -> the stream id subscribers see
        self.offer_outstanding = False
        self.renegotiate_wanted = False
        self._closed = False
        self._ice_servers = ice_servers
        self._spawn = spawn
        self._on_level = on_level
        self._on_failed = on_failed
        self._publish_pc: RTCPeerConnection | None = None
        self._subscribe_pc: RTCPeerConnection | None = None
        self._offered: dict[str, OfferedTrack] = {}
        self._receivers: dict[str, RTCRtpReceiver] = {}
        self._forwarded: dict[Source, tuple[RTCRtpTransceiver, ForwardedTrack]] = {}

    def is_closed(self) -> bool:
        return self._closed

    def _new_pc(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=self._ice_servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "failed" and not self._closed:
                self._on_failed()

        return pc

    # -- publish -----------------------------------------------------------------------------------

    async def answer_publish(self, offer_sdp: str, streams: dict[str, str]) -> str:
        """Take a publish offer (first or renegotiated), answer it; the sources change to what it sends."""
        description, offered = read_publish_offer(offer_sdp, streams)
        if self._publish_pc is None:
            self._publish_pc = self._new_pc()
        pc = self._publish_pc
        known = {t.mid for t in pc.getTransceivers()}
        for media in description.media:  # receive-only transceivers that take Opus and VP8 only, in m-line order
            if media.kind in ("audio", "video") and media.rtp.muxId not in known:
                pc.addTransceiver(media.kind, direction="recvonly").setCodecPreferences(codec_preferences(media.kind))
        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            self._tap_new_receivers(pc)  # before the connection task starts them: no await in between
            await pc.setLocalDescription(await pc.createAnswer())
            grow_receive_buffers(pc, RECEIVE_BUFFER)
        except NEGOTIATION_ERRORS as exc:
            raise InvalidSdp(
                "the offer cannot be answered: {reason}", field="sdp", reason=str(exc or type(exc).__name__)
            ) from exc
        self._update_sources(offered)
        return str(pc.localDescription.sdp)

    def _tap_new_receivers(self, pc: RTCPeerConnection) -> None:
        for transceiver in pc.getTransceivers():
            mid = transceiver.mid
            if mid is None or mid in self._receivers or transceiver.receiver.track is None:
                continue
            receiver = transceiver.receiver
            self._receivers[mid] = receiver
            tap_encoded_frames(receiver, functools.partial(self._on_frame, mid))
            if transceiver.kind == "audio":
                watch_rtp(receiver, functools.partial(self._on_packet, mid))

    def _on_frame(self, mid: str, codec: RTCRtpCodecParameters, frame: JitterFrame) -> None:
        source = self.sources.get(mid)
        if source is not None:
            source.on_frame(codec, frame)

    def _on_packet(self, mid: str, packet: RtpPacket) -> None:
        source = self.sources.get(mid)
        level = packet.extensions.audio_level
        if source is not None and source.enabled and source.purpose == "usermedia" and level is not None:
            self._on_level(level[1])

    def _update_sources(self, offered: dict[str, OfferedTrack]) -> None:
        for mid in list(self.sources):
            if self._offered.get(mid) != offered.get(mid):
                del self.sources[mid]
        for mid, track in offered.items():
            if mid not in self.sources and mid in self._receivers:
                source = Source(track.kind, track.purpose, functools.partial(self._request_keyframe, mid))
                self.sources[mid] = source
        self._offered = offered
        purposes = {s.purpose for s in self.sources.values()}
        for purpose in purposes - set(self.stream_ids):
            self.stream_ids[purpose] = str(uuid.uuid4())
        for purpose in set(self.stream_ids) - purposes:
            del self.stream_ids[purpose]
        self.apply_mute()

    def _request_keyframe(self, mid: str) -> None:
        receiver = self._receivers.get(mid)
        offered = self._offered.get(mid)
        if receiver is None or self._closed:
            return
        ssrc = offered.ssrc if offered else None
        if ssrc is None:  # no ssrc in the offer: the one the receiver heard last
            heard = sorted(receiver.getSynchronizationSources(), key=lambda s: s.timestamp)
            ssrc = heard[-1].source if heard else None
        if ssrc is not None:
            self._spawn(send_pli(receiver, ssrc))

    def apply_mute(self) -> None:
        for source in self.sources.values():
            muted = self.audio_muted if source.kind == "audio" else self.video_muted
            source.set_enabled(source.purpose != "usermedia" or not muted)

    def state(self) -> ParticipantState:
        streams = []
        for purpose, stream_id in self.stream_ids.items():
            tracks = {s.kind: s.track_id for s in self.sources.values() if s.purpose == purpose}
            streams.append(StreamState(purpose, stream_id, tracks.get("audio"), tracks.get("video")))
        return ParticipantState(self.participant_id, self.user_id, self.audio_muted, self.video_muted, tuple(streams))

    # -- subscribe ---------------------------------------------------------------------------------

    def sync_subscriptions(self, wanted: dict[Source, str]) -> bool:
        """Make the subscribe connection carry exactly `wanted` (source -> its stream id); True if that changed
        anything (an offer is then due)."""
        changed = False
        for source in [s for s in self._forwarded if s not in wanted]:
            transceiver, track = self._forwarded.pop(source)
            track.detach()
            transceiver.direction = "inactive"
            changed = True
        for source, stream_id in wanted.items():
            if source in self._forwarded:
                continue
            if self._subscribe_pc is None:
                self._subscribe_pc = self._new_pc()
            track = ForwardedTrack(source)
            transceiver = self._subscribe_pc.addTransceiver(track, direction="sendonly")
            transceiver.setCodecPreferences(codec_preferences(source.kind))
            transceiver.sender._stream_id = stream_id  # the msid's stream part: aiortc uses one per connection
            on_keyframe_request(transceiver.sender, source.request_keyframe)
            self._forwarded[source] = (transceiver, track)
            changed = True
        return changed

    def pending_offer(self) -> str | None:
        """The offer sent and not yet answered, if any."""
        pc = self._subscribe_pc
        if not self.offer_outstanding or pc is None or pc.localDescription is None:
            return None
        return str(pc.localDescription.sdp) if pc.signalingState == "have-local-offer" else None

    async def make_offer(self) -> str:
        pc = self._subscribe_pc
        assert pc is not None
        await pc.setLocalDescription(await pc.createOffer())
        grow_receive_buffers(pc, RECEIVE_BUFFER)  # RTCP from subscribers (NACKs, PLIs) arrives here
        return str(pc.localDescription.sdp)

    async def take_answer(self, answer_sdp: str) -> None:
        pc = self._subscribe_pc
        assert pc is not None
        try:
            await pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))
        except NEGOTIATION_ERRORS as exc:
            raise InvalidSdp(
                "the answer cannot be applied: {reason}", field="sdp", reason=str(exc or type(exc).__name__)
            ) from exc

    async def reset_subscriptions(self) -> None:
        """Drop the subscribe connection (after a bad answer): the next offer starts a new one."""
        pc, self._subscribe_pc = self._subscribe_pc, None
        for _transceiver, track in self._forwarded.values():
            track.detach()
        self._forwarded.clear()
        self.offer_outstanding = False
        if pc is not None:
            await pc.close()

    def forwarded(self) -> dict[Source, ForwardedTrack]:
        return {source: track for source, (_t, track) in self._forwarded.items()}

    async def close(self) -> None:
        self._closed = True
        self.sources.clear()
        await self.reset_subscriptions()
        pc, self._publish_pc = self._publish_pc, None
        if pc is not None:
            await pc.close()
