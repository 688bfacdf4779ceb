"""The SFU's seam into aiortc (server/calls/sfu/seam.py): present in the installed aiortc, loud when it moves, and
touching only the objects the SFU hooks (a plain peer in the same process still decodes)."""

from __future__ import annotations

import asyncio
from typing import Any

import av
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc import rtcrtpreceiver as receiver_module
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcconfiguration import RTCConfiguration
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from server.calls.sfu import AiortcSeamError, check_aiortc
from server.calls.sfu.media import is_vp8_keyframe
from server.calls.sfu.seam import on_keyframe_request, send_pli, tap_encoded_frames
from tests.calls.sfu_clients import HEIGHT, WIDTH, SyntheticVideo, wait_for


def test_the_installed_aiortc_has_everything_the_seam_hooks() -> None:
    check_aiortc()


def test_an_aiortc_whose_sender_no_longer_relays_keyframe_requests_fails_loudly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def handle_rtcp_packet(self: Any, packet: Any) -> None:
        pass

    monkeypatch.setattr(RTCRtpSender, "_handle_rtcp_packet", handle_rtcp_packet)
    with pytest.raises(AiortcSeamError, match=r"_send_keyframe\(\) on a PLI.*seam.py"):
        check_aiortc()


def test_an_aiortc_whose_decoder_worker_changed_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    def decoder_worker(loop: Any, input_q: Any, output_q: Any) -> None:
        pass

    monkeypatch.setattr(receiver_module, "decoder_worker", decoder_worker)
    with pytest.raises(AiortcSeamError, match="decoder_worker"):
        check_aiortc()


async def _pair(sender_track: Any) -> tuple[RTCPeerConnection, RTCPeerConnection, Any]:
    """An offerer sending `sender_track` to an answerer; the answerer's receiving transceiver, before it starts."""
    offerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    answerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    offerer.addTransceiver(sender_track, direction="sendonly")
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    return offerer, answerer, answerer.getTransceivers()[0]


async def _connect(offerer: RTCPeerConnection, answerer: RTCPeerConnection) -> None:
    await answerer.setLocalDescription(await answerer.createAnswer())
    await offerer.setRemoteDescription(answerer.localDescription)


async def test_a_tapped_receiver_hands_out_encoded_frames_while_a_plain_peer_still_decodes() -> None:
    tapped_frames: list[tuple[RTCRtpCodecParameters, JitterFrame]] = []
    offerer, answerer, transceiver = await _pair(SyntheticVideo())
    tap_encoded_frames(transceiver.receiver, lambda codec, frame: tapped_frames.append((codec, frame)))
    await _connect(offerer, answerer)
    plain_offerer, plain_answerer, plain = await _pair(SyntheticVideo())
    await _connect(plain_offerer, plain_answerer)
    try:
        decoded = await asyncio.wait_for(plain.receiver.track.recv(), timeout=15)
        assert isinstance(decoded, av.VideoFrame)  # the plain peer decodes
        assert (decoded.width, decoded.height) == (WIDTH, HEIGHT)

        assert await wait_for(lambda: len(tapped_frames) >= 5, timeout=15)
        codec, first = tapped_frames[0]
        assert codec.mimeType == "video/VP8"
        assert isinstance(first.data, bytes)
        assert is_vp8_keyframe(first.data)  # an encoded VP8 keyframe, not a picture
        assert not any(is_vp8_keyframe(f.data) for _, f in tapped_frames[1:5])
        assert transceiver.receiver.track._queue.empty()  # nothing decoded reached the tapped receiver's track
    finally:
        for pc in (offerer, answerer, plain_offerer, plain_answerer):
            await pc.close()


async def test_a_keyframe_request_reaches_the_hooked_sender_and_send_pli_sends_one() -> None:
    requests: list[str] = []
    offerer, answerer, transceiver = await _pair(SyntheticVideo())
    sender = offerer.getTransceivers()[0].sender
    on_keyframe_request(sender, lambda: requests.append("keyframe"))
    await _connect(offerer, answerer)
    try:
        await asyncio.wait_for(transceiver.receiver.track.recv(), timeout=15)  # media flows
        await send_pli(transceiver.receiver, sender._ssrc)
        assert await wait_for(lambda: requests, timeout=5)
    finally:
        await offerer.close()
        await answerer.close()
