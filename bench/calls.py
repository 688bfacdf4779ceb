"""Calls benchmark: (a) SFU capacity, then (b) signalling (bench/calls_signalling.py: 1,000 concurrent 1:1 calls
rung, answered and hung up through the real server; its options after `--`).

    .venv/bin/python bench/calls.py [--only sfu|signalling] [--sizes 2,4,6,8] [--duration 10] [-- --calls 1000]

(a) SFU capacity: one SFU process, one room of N participants, each publishing 640x480 VP8 at 30 fps and
receiving everyone else's video (N x (N-1) forwarded streams), for N in --sizes (2,4,6,8).

The SFU (server/calls/sfu) runs in a process of its own (this script with --sfu-process, on uvloop, as the server
runs), driven over its stdin/stdout by JSON lines, so its CPU (getrusage in that process: every thread of it) is
its own. The participants are real aiortc peers in this process, kept cheap so they do not starve the SFU on a
small machine:

- publishers send a pre-encoded clip (--clip-frames frames of 640x480 VP8 made once with aiortc's Vp8Encoder at
  --bitrate, a keyframe first, looped) through the RTCRtpSender's pack() path: no encoder runs during the steps;
- subscribers do not decode every frame: their receivers hand over encoded frames (the SFU's own tap), which are
  counted per stream and compared with the clip's frames (byte for byte: the SFU must not re-encode); one
  stream per subscriber has its first --sample frames (from a keyframe) decoded with libvpx after the window, to
  show what arrives decodes to 640x480.

Per N: the lowest and median frames per second over all forwarded streams (the target: every one >= 25), frames
the SFU dropped for slow subscribers, the SFU's CPU in all and per forwarded stream, the load generator's and the
whole machine's. Baseline in the same run: the CPU one decode + re-encode of such a stream costs (what an SFU that
transcoded would pay per subscriber), and the ratio. Target (the issue): a room of 8 video participants on one
core, every subscriber >= 25 fps. It prints PASS/MISS; a miss does not fail (exit 0); exit 1 if it could not
measure (the SFU process died, a join failed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import hashlib
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import av
import orjson
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.codecs.vpx import Vp8Encoder, vp8_depayload
from aiortc.exceptions import InvalidStateError
from aiortc.mediastreams import MediaStreamTrack

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
for _path in (str(REPO_ROOT), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from ingest import BenchError, _busy_now, _machine_cpu  # noqa: E402 - after the path is set

from server.calls.sfu import Sfu  # noqa: E402
from server.calls.sfu.media import is_vp8_keyframe  # noqa: E402
from server.calls.sfu.seam import grow_receive_buffers, tap_encoded_frames  # noqa: E402

WIDTH, HEIGHT, FPS = 640, 480, 30
TARGET_FPS = 25
TARGET_N = 8
VIDEO_CLOCK = fractions.Fraction(1, 90000)


def _udp_receive_errors() -> int:
    """UDP datagrams this network namespace dropped because a socket's receive buffer was full."""
    with open("/proc/net/snmp") as fh:
        rows = [line.split() for line in fh if line.startswith("Udp:")]
    return int(dict(zip(rows[0][1:], rows[1][1:], strict=True))["RcvbufErrors"])


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# == the clip and the baseline =====================================================================


def _pictures(count: int) -> list[av.VideoFrame]:
    """Grey with a moving bright bar and a noisy patch: something a camera-like encoder has to work on."""
    rng = random.Random(7)
    pictures = []
    for i in range(count):
        bar = (i * 12) % WIDTH
        row = bytes(230 if bar <= x < bar + 48 else 90 + x % 64 for x in range(WIDTH))
        luma = bytearray(row * HEIGHT)
        for y in range(120, 240):  # a 160x120 patch of noise
            luma[y * WIDTH + 240 : y * WIDTH + 400] = rng.randbytes(160)
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        frame.planes[0].update(bytes(luma))
        frame.planes[1].update(bytes([110 + i % 30]) * (WIDTH * HEIGHT // 4))
        frame.planes[2].update(bytes([140]) * (WIDTH * HEIGHT // 4))
        frame.pts, frame.time_base = i * 3000, VIDEO_CLOCK
        pictures.append(frame)
    return pictures


def encode_clip(pictures: list[av.VideoFrame], bitrate: int) -> list[bytes]:
    """The pictures as VP8 frames (aiortc's encoder and settings), the first a keyframe."""
    encoder = Vp8Encoder()
    encoder.target_bitrate = bitrate
    frames = []
    for i, picture in enumerate(pictures):
        payloads, _ = encoder.encode(picture, force_keyframe=i == 0)
        frames.append(b"".join(vp8_depayload(p) for p in payloads))
    return frames


def transcode_cost(clip: list[bytes], bitrate: int, loops: int = 2) -> float:
    """CPU seconds per second of video to decode the clip and encode it again (aiortc's VP8 decoder and encoder):
    the share of a core one subscriber costs an SFU that transcodes."""
    started = time.process_time()  # every thread of this process (libvpx may use threads)
    decoder = av.CodecContext.create("libvpx", "r")
    encoder = Vp8Encoder()
    encoder.target_bitrate = bitrate
    index = 0
    for _ in range(loops):
        for data in clip:
            for picture in decoder.decode(av.Packet(data)):
                picture.pts, picture.time_base = index * 3000, VIDEO_CLOCK
                encoder.encode(picture)
                index += 1
    return (time.process_time() - started) / (loops * len(clip) / FPS)


# == the SFU process ===============================================================================


async def sfu_main() -> None:
    """Serve the SFU over stdin/stdout: one JSON command a line in, answers and offers out."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer

    def send(message: dict[str, Any]) -> None:
        out.write(orjson.dumps(message) + b"\n")
        out.flush()

    async def on_offer(room_id: str, participant_id: str, sdp: str) -> None:
        send({"event": "offer", "participant_id": participant_id, "sdp": sdp})

    sfu = Sfu(max_rooms=4, max_participants=64, on_offer=on_offer, on_state=lambda room_id, state: None)
    tasks: set[asyncio.Task[None]] = set()

    async def handle(command: dict[str, Any]) -> None:
        op, room, pid = command["op"], command.get("room", ""), command.get("participant_id", "")
        try:
            result: Any = None
            if op == "join":
                result = await sfu.join(room, pid, pid, command["sdp"], command["streams"])
            elif op == "answer":
                await sfu.subscriber_answer(room, pid, command["sdp"])
            elif op == "leave":
                await sfu.leave(room, pid)
            elif op == "stats":
                found = sfu.room_of(room)
                tracks = [t for p in found.participants.values() for t in p.forwarded().values()] if found else []
                sources = [s for p in found.participants.values() for s in p.sources.values()] if found else []
                result = {
                    "cpu": _cpu(),
                    "dropped": sum(t.dropped for t in tracks),
                    "streams": len(tracks),
                    "received": sum(s.frames for s in sources),
                }
            send({"id": command["id"], "result": result})
        except Exception as exc:
            send({"id": command["id"], "error": f"{type(exc).__name__}: {exc}"})

    while line := await reader.readline():
        command = orjson.loads(line)
        if command["op"] == "exit":
            break
        task = loop.create_task(handle(command))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks, return_exceptions=True)
    await sfu.close()


class SfuProcess:
    """The SFU process, and calls into it."""

    def __init__(self, on_offer: Any) -> None:
        self._on_offer = on_offer
        self._proc: asyncio.subprocess.Process | None = None
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._ids = 0
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--sfu-process", stdin=subprocess.PIPE, stdout=subprocess.PIPE, limit=1 << 24
        )
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self._proc is not None
        assert self._proc.stdout is not None
        while line := await self._proc.stdout.readline():
            message = orjson.loads(line)
            if message.get("event") == "offer":
                asyncio.get_running_loop().create_task(self._on_offer(message["participant_id"], message["sdp"]))
            elif (future := self._waiting.pop(message["id"], None)) is not None:
                if "error" in message:
                    future.set_exception(BenchError(message["error"]))
                else:
                    future.set_result(message["result"])
        for future in self._waiting.values():
            future.set_exception(BenchError("the SFU process ended"))

    async def call(self, op: str, **args: Any) -> Any:
        assert self._proc is not None
        assert self._proc.stdin is not None
        self._ids += 1
        future = self._waiting[self._ids] = asyncio.get_running_loop().create_future()
        self._proc.stdin.write(orjson.dumps({"id": self._ids, "op": op, **args}) + b"\n")
        return await future

    async def stop(self) -> None:
        if self._proc is None or self._proc.stdin is None:
            return
        self._proc.stdin.write(b'{"op": "exit"}\n')
        await self._proc.stdin.drain()
        try:
            await asyncio.wait_for(self._proc.wait(), timeout=20)
        except TimeoutError:
            self._proc.kill()
        if self._reader is not None:
            await self._reader


# == the participants ==============================================================================


class ClipTrack(MediaStreamTrack):
    """Sends the pre-encoded clip at 30 fps as av.Packets: the sender packs them, no encoder runs."""

    kind = "video"

    def __init__(self, clip: list[bytes]) -> None:
        super().__init__()
        self._clip = clip
        self._index = 0
        self._start: float | None = None
        self.sent = 0

    async def recv(self) -> av.Packet:
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._index / FPS - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        packet = av.Packet(self._clip[self._index % len(self._clip)])
        packet.pts, packet.time_base = self._index * 3000, VIDEO_CLOCK
        self._index += 1
        self.sent += 1
        return packet


class Participant:
    def __init__(self, room: str, participant_id: str, clip: list[bytes], clip_hashes: set[bytes], sample: int) -> None:
        self.room = room
        self.participant_id = participant_id
        self.publish_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.subscribe_pc: RTCPeerConnection | None = None
        self.track = ClipTrack(clip)
        self.counts: dict[str, int] = {}  # incoming track id -> frames
        self.foreign = 0  # frames that are not byte for byte one of the clip's
        self.sample: list[bytes] = []  # the first frames of one stream, from a keyframe, to decode afterwards
        self._sample_track: str | None = None
        self._sample_size = sample
        self._clip_hashes = clip_hashes
        self._lock = asyncio.Lock()

    async def offer(self) -> tuple[str, dict[str, str]]:
        transceiver = self.publish_pc.addTransceiver(self.track, direction="sendonly")
        transceiver.setCodecPreferences(
            [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType in ("video/VP8", "video/rtx")]
        )
        await self.publish_pc.setLocalDescription(await self.publish_pc.createOffer())
        return self.publish_pc.localDescription.sdp, {transceiver.sender._stream_id: "usermedia"}

    async def answer_offer(self, sdp: str) -> str:
        async with self._lock:
            if self.subscribe_pc is None:
                self.subscribe_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
                self.subscribe_pc.on("track", self._on_track)
            await self.subscribe_pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
            await self.subscribe_pc.setLocalDescription(await self.subscribe_pc.createAnswer())
            grow_receive_buffers(self.subscribe_pc, 4 << 20)  # as the SFU does: this process is busy too
            return self.subscribe_pc.localDescription.sdp

    def _on_track(self, track: MediaStreamTrack) -> None:
        assert self.subscribe_pc is not None
        receiver = next(t.receiver for t in self.subscribe_pc.getTransceivers() if t.receiver.track is track)
        self.counts[track.id] = 0
        if self._sample_track is None:
            self._sample_track = track.id
        tap_encoded_frames(receiver, lambda codec, frame, tid=track.id: self._on_frame(tid, frame.data))

    def _on_frame(self, track_id: str, data: bytes) -> None:
        self.counts[track_id] += 1
        if hashlib.blake2b(data, digest_size=16).digest() not in self._clip_hashes:
            self.foreign += 1
        sampling = track_id == self._sample_track and len(self.sample) < self._sample_size
        if sampling and (self.sample or is_vp8_keyframe(data)):
            self.sample.append(data)

    def decode_sample(self) -> tuple[int, set[tuple[int, int]]]:
        decoder = av.CodecContext.create("libvpx", "r")
        pictures, sizes = 0, set()
        for data in self.sample:
            for picture in decoder.decode(av.Packet(data)):
                pictures += 1
                sizes.add((picture.width, picture.height))
        return pictures, sizes

    async def close(self) -> None:
        await self.publish_pc.close()
        if self.subscribe_pc is not None:
            await self.subscribe_pc.close()


# == the driver ====================================================================================


async def _step(sfu: SfuProcess, people: dict[str, Participant], n: int, args: argparse.Namespace) -> dict[str, Any]:
    room = f"room-{n}"
    clip, hashes = args.clip, args.clip_hashes
    for i in range(n):
        person = people[f"p{n}-{i}"] = Participant(room, f"p{n}-{i}", clip, hashes, args.sample)
        sdp, streams = await person.offer()
        answer = await sfu.call("join", room=room, participant_id=person.participant_id, sdp=sdp, streams=streams)
        await person.publish_pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    group = [people[f"p{n}-{i}"] for i in range(n)]
    streams = n * (n - 1)
    deadline = time.monotonic() + 60
    while sum(1 for p in group for c in p.counts.values() if c > 0) < streams:
        if time.monotonic() > deadline:
            raise BenchError(f"N={n}: only {sum(len(p.counts) for p in group)} of {streams} streams ever flowed")
        await asyncio.sleep(0.2)
    await asyncio.sleep(args.warmup)

    def snapshot() -> dict[str, int]:
        return {f"{p.participant_id}/{tid}": c for p in group for tid, c in p.counts.items()}

    before, sfu_before = snapshot(), await sfu.call("stats", room=room)
    own_before, machine_before, started = _cpu(), _machine_cpu(), time.monotonic()
    sent_before, udp_before = sum(p.track.sent for p in group), _udp_receive_errors()
    await asyncio.sleep(args.duration)
    after, sfu_after = snapshot(), await sfu.call("stats", room=room)
    own_after, machine_after, seconds = _cpu(), _machine_cpu(), time.monotonic() - started
    sent, udp_errors = sum(p.track.sent for p in group) - sent_before, _udp_receive_errors() - udp_before

    fps = sorted((after[k] - before.get(k, 0)) / seconds for k in after)
    decoded = [p.decode_sample() for p in group]
    sfu_cpu = (sfu_after["cpu"] - sfu_before["cpu"]) / seconds
    result = {
        "n": n,
        "streams": streams,
        "min_fps": fps[0],
        "median_fps": statistics.median(fps),
        "dropped": sfu_after["dropped"] - sfu_before["dropped"],
        "udp_errors": udp_errors,
        "sent_fps": sent / seconds / n,
        "in_fps": (sfu_after["received"] - sfu_before["received"]) / seconds / n,
        "sfu_cpu": sfu_cpu,
        "per_stream": sfu_cpu / streams,
        "load_cpu": (own_after - own_before) / seconds,
        "machine": (machine_after - machine_before) / seconds,
        "foreign": sum(p.foreign for p in group),
        "others": (machine_after - machine_before) / seconds - sfu_cpu - (own_after - own_before) / seconds,
        "decoded": sum(d[0] for d in decoded),
        "sampled": sum(len(p.sample) for p in group),
        "sizes": set().union(*(d[1] for d in decoded)),
    }
    for person in group:
        await sfu.call("leave", room=room, participant_id=person.participant_id)
        await person.close()
        del people[person.participant_id]
    return result


async def run(args: argparse.Namespace) -> int:
    people: dict[str, Participant] = {}

    async def on_offer(participant_id: str, sdp: str) -> None:
        person = people.get(participant_id)
        if person is not None:
            with contextlib.suppress(BenchError, InvalidStateError):  # it left meanwhile
                answer = await person.answer_offer(sdp)
                await sfu.call("answer", room=person.room, participant_id=participant_id, sdp=answer)

    sfu = SfuProcess(on_offer)
    await sfu.start()
    results = []
    try:
        for n in args.sizes:
            result = await _step(sfu, people, n, args)
            results.append(result)
            print(
                f"  N={n}: {result['streams']:3d} streams | fps min {result['min_fps']:5.1f} median "
                f"{result['median_fps']:5.1f} (publishers sent {result['sent_fps']:4.1f}, SFU got "
                f"{result['in_fps']:4.1f}) | SFU CPU {result['sfu_cpu']:6.1%} of a core, "
                f"{result['per_stream']:5.2%} per stream | dropped {result['dropped']}, UDP buffer overflows "
                f"{result['udp_errors']} | load {result['load_cpu']:6.1%}"
                f" | machine {result['machine']:.2f} cores (others {result['others']:.2f})"
                f" | not the clip's bytes: {result['foreign']} | sample "
                f"decoded {result['decoded']}/{result['sampled']} at {sorted(result['sizes'])}",
                flush=True,
            )
            if result["min_fps"] < TARGET_FPS:
                print(f"  N={n}: a subscriber got {result['min_fps']:.1f} fps < {TARGET_FPS}; larger rooms not tried")
                break
    finally:
        for person in list(people.values()):
            await person.close()
        await sfu.stop()
    reached = [r for r in results if r["min_fps"] >= TARGET_FPS]
    best = reached[-1] if reached else None
    print()
    print(f"baseline: one decode + re-encode of this stream costs {args.transcode:.1%} of a core")
    if best is None:
        print("largest room with every subscriber >= 25 fps: none")
    else:
        print(
            f"largest room with every subscriber >= {TARGET_FPS} fps: N={best['n']} ({best['streams']} streams), SFU "
            f"{best['sfu_cpu']:.1%} of a core, {best['per_stream']:.2%} per forwarded stream = "
            f"{args.transcode / max(best['per_stream'], 1e-9):.0f}x cheaper than transcoding"
        )
    hit = best is not None and best["n"] >= TARGET_N and best["sfu_cpu"] <= 1.0
    print(
        f"{'PASS' if hit else 'MISS'} target: a room of {TARGET_N} video participants on one core, every subscriber "
        f">= {TARGET_FPS} fps"
    )
    if not hit and results:
        last = results[-1]
        print(
            f"  why: at N={last['n']} the lowest stream ran {last['min_fps']:.1f} fps, the SFU used "
            f"{last['sfu_cpu']:.0%} of a core and the load generator {last['load_cpu']:.0%} on "
            f"{os.cpu_count()} cores (machine busy {last['machine']:.2f} cores, "
            f"{last['machine'] - last['sfu_cpu'] - last['load_cpu']:.2f} of them other programs)"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="2,4,6,8", help="room sizes to try, in order (default 2,4,6,8)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured window (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each window (default 2)")
    parser.add_argument("--bitrate", type=int, default=800_000, help="the clip's VP8 bitrate (default 800000)")
    parser.add_argument("--clip-frames", type=int, default=60, help="frames in the looped clip (default 60)")
    parser.add_argument("--sample", type=int, default=30, help="frames per subscriber decoded to check (default 30)")
    parser.add_argument("--sfu-process", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=("sfu", "signalling"), help="run one part only (default: both)")
    argv = sys.argv[1:] if argv is None else argv
    signalling_argv = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    import uvloop

    if args.sfu_process:
        uvloop.run(sfu_main())
        return 0
    status = 0 if args.only == "signalling" else _sfu_capacity(args)
    if args.only != "sfu":
        import calls_signalling

        print("\n(b) signalling:", flush=True)
        status = calls_signalling.main(signalling_argv) or status
    return status


def _sfu_capacity(args: argparse.Namespace) -> int:
    import uvloop

    args.sizes = [int(n) for n in args.sizes.split(",")]
    busy, steal = _busy_now()
    print(f"machine: {os.cpu_count()} cores, {busy:.2f} busy before the run (steal {steal:.0%})")
    args.clip = encode_clip(_pictures(args.clip_frames), args.bitrate)
    args.clip_hashes = {hashlib.blake2b(f, digest_size=16).digest() for f in args.clip}
    kbps = sum(len(f) for f in args.clip) * 8 * FPS / len(args.clip) / 1000
    print(f"clip: {len(args.clip)} frames of {WIDTH}x{HEIGHT} VP8, {kbps:.0f} kbit/s, keyframe {len(args.clip[0])} B")
    args.transcode = transcode_cost(args.clip, args.bitrate)
    print(f"(a) SFU capacity, {args.duration:.0f} s windows:")
    try:
        return uvloop.run(run(args))
    except BenchError as exc:
        print(f"could not measure: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
