"""The SFU's media pieces without a network: keyframe detection on real encoder output, a slow subscriber's bounded
queue, and who is the active speaker."""

from __future__ import annotations

import fractions

import av
from aiortc.codecs.vpx import Vp8Encoder, vp8_depayload
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from server.calls.sfu.media import VIDEO_QUEUE, ForwardedTrack, Source, is_h264_keyframe, is_keyframe
from server.calls.sfu.state import SpeakerDetector

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=97)


def _vp8_frames(count: int) -> list[bytes]:
    encoder = Vp8Encoder()
    frames = []
    for i in range(count):
        picture = av.VideoFrame(64, 48, "yuv420p")
        for plane in picture.planes:
            plane.update(bytes([(i * 7) % 256]) * plane.buffer_size)
        picture.pts, picture.time_base = i * 3000, fractions.Fraction(1, 90000)
        payloads, _ = encoder.encode(picture)
        frames.append(b"".join(vp8_depayload(p) for p in payloads))
    return frames


def test_vp8_and_h264_keyframes_are_told_from_the_encoded_bytes() -> None:
    first, *rest = _vp8_frames(4)
    assert is_keyframe("video/VP8", first)
    assert not any(is_keyframe("video/VP8", frame) for frame in rest)
    idr = b"\x00\x00\x00\x01\x67\x42" + b"\x00\x00\x00\x01\x68\xce" + b"\x00\x00\x00\x01\x65\x88"
    assert is_h264_keyframe(idr)
    assert not is_h264_keyframe(b"\x00\x00\x00\x01\x41\x9a\x00")
    assert is_keyframe("audio/opus", b"\x78")


async def test_a_subscriber_that_falls_behind_drops_frames_and_waits_for_a_keyframe() -> None:
    plis: list[int] = []
    source = Source("video", "usermedia", lambda: plis.append(1))
    track = ForwardedTrack(source)
    source.attach(track)  # held: it asks for a keyframe
    assert track.held
    assert plis == [1]
    keyframe, delta = _vp8_frames(2)
    source.on_frame(VP8, JitterFrame(delta, 0))  # not a keyframe: held back
    assert track._queue.empty()
    source.on_frame(VP8, JitterFrame(keyframe, 3000))
    for i in range(VIDEO_QUEUE - 1):
        source.on_frame(VP8, JitterFrame(delta, 6000 + i))
    assert track._queue.full()
    assert not track.held

    source._last_pli = 0.0  # as if the last request were long ago
    source.on_frame(VP8, JitterFrame(delta, 99_000))  # nobody reads: the queue overflows
    assert track.held
    assert track._queue.empty()  # dropped, never grown
    assert track.dropped == VIDEO_QUEUE + 1
    assert plis == [1, 1]
    source.on_frame(VP8, JitterFrame(keyframe, 102_000))
    first = await track.recv()
    assert bytes(first) == keyframe
    assert first.pts == 102_000


def test_the_loudest_participant_becomes_the_speaker_and_stays_through_silence() -> None:
    speakers = SpeakerDetector()
    for _ in range(3):
        for _ in range(25):
            speakers.add_level("alice", 20)  # -20 dBov: speech
            speakers.add_level("bob", 127)  # silence
        speakers.tick(muted=set())
    assert speakers.speaker == "alice"
    for _ in range(25):
        speakers.add_level("alice", 127)
        speakers.add_level("bob", 127)
    assert not speakers.tick(muted=set())
    assert speakers.speaker == "alice"
    for _ in range(4):
        for _ in range(25):
            speakers.add_level("bob", 10)
            speakers.add_level("alice", 20)
        speakers.tick(muted={"bob"})
    assert speakers.speaker == "alice"  # a muted participant is not heard
    for _ in range(4):
        for _ in range(25):
            speakers.add_level("bob", 10)
            speakers.add_level("alice", 60)
        speakers.tick(muted=set())
    assert speakers.speaker == "bob"
