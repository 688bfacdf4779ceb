"""The few places the SFU reaches into aiortc, each on one object the SFU made, and a check that they still fit.

aiortc has no public way to receive encoded frames or to hear a subscriber's keyframe request, so:

- **Encoded frames out of a receiver** (`tap_encoded_frames`): an `RTCRtpReceiver` puts each reassembled frame
  (after its jitter buffer, NACKs and RTX) into `self.__decoder_queue` as `(codec, JitterFrame)` for its decoder
  thread. On the SFU's own receivers, before they start, that queue is replaced by `EncodedFrameTap`, which hands
  the frame on at once, on the event loop, still encoded; the decoder thread then only waits for the stop
  signal. Nothing global changes, so every other RTCPeerConnection in the process (a test peer) still decodes.
- **RTP packets of a receiver** (`watch_rtp`): the DTLS transport calls `receiver._handle_rtp_packet(packet,
  arrival_time_ms=...)`; an instance attribute wraps it to read the ssrc-audio-level header extension.
- **Keyframe requests reaching a sender** (`on_keyframe_request`): `RTCRtpSender._handle_rtcp_packet` calls
  `self._send_keyframe()` on PLI and FIR, which only flags its own encoder (useless on the `pack()` path); an
  instance attribute replaces it with the SFU's callback.
- **Keyframe requests upstream**: `RTCRtpReceiver._send_rtcp_pli(media_ssrc)` (called, not replaced).
- **UDP receive buffers** (`grow_receive_buffers`): aioice opens its sockets with the system's default receive
  buffer (often 208 KiB), which a busy process overflows with video bursts: every lost packet then stalls
  aiortc's jitter buffer until a retransmission or a keyframe. The SFU sets SO_RCVBUF on its own connections'
  sockets (`RTCIceTransport._connection._protocols`, capped by net.core.rmem_max).

Sending encoded frames needs no seam: `RTCRtpSender` packs whatever non-`Frame` a track's `recv()` returns through
the codec's `pack()` (the path `MediaPlayer(decode=False)` uses). `check_aiortc()` verifies all of this against
the installed aiortc and raises `AiortcSeamError` naming what moved; the SFU runs it once when built.
"""

from __future__ import annotations

import inspect
import logging
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import aioice
import av
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc import rtcrtpreceiver as receiver_module
from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcicetransport import RTCIceGatherer
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

log = logging.getLogger(__name__)

DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
RECEIVER_STARTED = "_RTCRtpReceiver__started"

FrameHandler = Callable[[RTCRtpCodecParameters, JitterFrame], None]


class AiortcSeamError(RuntimeError):
    """The installed aiortc no longer has what the SFU hooks into (see server/calls/sfu/seam.py)."""


class EncodedFrameTap:
    """Stands in for an RTCRtpReceiver's decoder queue (a `queue.Queue`): frames go to `on_frame`, undecoded.

    `put` is called by the receiver on the event loop; `get` by its decoder thread, which blocks here until the
    receiver stops (it puts None), then ends the receiver's track as it would have."""

    def __init__(self, on_frame: FrameHandler) -> None:
        self._on_frame = on_frame
        self._stopped = threading.Event()

    def put(self, item: tuple[RTCRtpCodecParameters, JitterFrame] | None) -> None:
        if item is None:
            self._stopped.set()
            return
        codec, frame = item
        try:
            self._on_frame(codec, frame)
        except Exception:  # one bad frame must not end the receiver's transport
            log.exception("forwarding a frame failed")

    def get(self) -> None:
        self._stopped.wait()


def tap_encoded_frames(receiver: RTCRtpReceiver, on_frame: FrameHandler) -> None:
    """Make `receiver` hand its frames, encoded, to `on_frame` instead of decoding them. Call it before the
    receiver starts (in the peer connection's "track" event, or right after setRemoteDescription)."""
    if getattr(receiver, RECEIVER_STARTED):
        raise AiortcSeamError("tap_encoded_frames: the receiver already started, its decoder thread holds the queue")
    setattr(receiver, DECODER_QUEUE, EncodedFrameTap(on_frame))


def watch_rtp(receiver: RTCRtpReceiver, on_packet: Callable[[RtpPacket], None]) -> None:
    """Call `on_packet` with each RTP packet `receiver` gets, before it handles it."""
    handle: Callable[..., Awaitable[None]] = receiver._handle_rtp_packet

    async def watched(packet: RtpPacket, arrival_time_ms: int) -> None:
        on_packet(packet)
        await handle(packet, arrival_time_ms=arrival_time_ms)

    setattr(receiver, "_handle_rtp_packet", watched)  # noqa: B010 (an instance attribute, not the class's)


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call `callback` when `sender`'s remote asks for a keyframe (RTCP PLI or FIR)."""
    setattr(sender, "_send_keyframe", callback)  # noqa: B010


async def send_pli(receiver: RTCRtpReceiver, media_ssrc: int) -> None:
    """Ask the remote sender of `media_ssrc` for a keyframe (RTCP PLI)."""
    await receiver._send_rtcp_pli(media_ssrc)


def grow_receive_buffers(pc: RTCPeerConnection, size: int) -> None:
    """Ask for `size` bytes of receive buffer on each UDP socket `pc` gathered (after setLocalDescription)."""
    for transceiver in pc.getTransceivers():
        for protocol in transceiver.receiver.transport.transport.iceGatherer._connection._protocols:
            sock = protocol.transport.get_extra_info("socket")
            if sock is not None and sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) < size:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise AiortcSeamError(
            f"aiortc {getattr(__import__('aiortc'), '__version__', '?')} changed: {what}. "
            "The SFU's seam (server/calls/sfu/seam.py) must be brought up to date with it."
        )


def _params(func: Any) -> list[str]:
    return list(inspect.signature(func).parameters)


def check_aiortc() -> None:
    """Raise AiortcSeamError if the installed aiortc lacks any attribute or call the seam relies on."""
    receive_src = inspect.getsource(RTCRtpReceiver.receive)
    handle_src = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    init_src = inspect.getsource(RTCRtpReceiver.__init__)
    _require("self.__decoder_queue" in init_src, "RTCRtpReceiver.__init__ no longer makes self.__decoder_queue")
    _require("self.__started" in init_src, "RTCRtpReceiver no longer keeps self.__started")
    _require(
        "self.__decoder_queue," in receive_src and "decoder_worker" in receive_src,
        "RTCRtpReceiver.receive no longer hands self.__decoder_queue to decoder_worker",
    )
    _require(
        "self.__decoder_queue.put((codec, encoded_frame))" in handle_src,
        "RTCRtpReceiver._handle_rtp_packet no longer puts (codec, encoded_frame) on self.__decoder_queue",
    )
    worker_src = inspect.getsource(receiver_module.decoder_worker)
    _require(
        _params(receiver_module.decoder_worker) == ["loop", "input_q", "output_q", "decode_error"]
        and "input_q.get()" in worker_src
        and "if task is None" in worker_src,
        "decoder_worker(loop, input_q, output_q, decode_error) no longer ends on a None from input_q.get()",
    )
    _require(
        _params(RTCRtpReceiver._handle_rtp_packet) == ["self", "packet", "arrival_time_ms"],
        "RTCRtpReceiver._handle_rtp_packet(packet, arrival_time_ms) has another signature",
    )
    _require(
        _params(RTCRtpReceiver._send_rtcp_pli) == ["self", "media_ssrc"],
        "RTCRtpReceiver._send_rtcp_pli(media_ssrc) has another signature",
    )
    rtcp_src = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    _require(
        "RTCP_PSFB_PLI" in rtcp_src and "self._send_keyframe()" in rtcp_src,
        "RTCRtpSender._handle_rtcp_packet no longer calls self._send_keyframe() on a PLI",
    )
    next_src = inspect.getsource(RTCRtpSender._next_encoded_frame)
    _require(
        "self.__encoder.pack(data)" in next_src,
        "RTCRtpSender._next_encoded_frame no longer packs a track's non-Frame data with the codec's pack()",
    )
    for encoder in (Vp8Encoder, OpusEncoder):
        _require(_params(encoder.pack) == ["self", "packet"], f"{encoder.__name__}.pack(packet) changed")
    _require(hasattr(av, "Packet"), "av.Packet is gone")
    gather_src = inspect.getsource(RTCIceGatherer.__init__)
    _require("self._connection = Connection(" in gather_src, "RTCIceGatherer no longer keeps its aioice Connection")
    _require(
        "self._protocols" in inspect.getsource(aioice.Connection.__init__),
        "aioice's Connection no longer keeps its sockets' protocols in _protocols",
    )
