"""Group calls through the WebSocket and the SFU, with real aiortc participants that decode what they receive.

Three members of a group join its call with `call.join`; the server's subscribe offers arrive as
`call.negotiate` and are answered the same way. Each sees the other two's video at the size sent; the room's
state reaches every member of the chat; the last to leave ends the call, which lands in the chat's history.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from aiortc import RTCSessionDescription

from server.app import create_app
from server.config import Settings
from tests.calls.callkit import OFFER, Device, call_entries, device
from tests.calls.sfu_clients import HEIGHT, WIDTH, Client, wait_for
from tests.chat.chatkit import direct, group, uid, users

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]


class Participant(Client):
    """An aiortc participant whose signalling goes through its device's WebSocket."""

    def __init__(self, dev: Device) -> None:
        super().__init__(None, "", dev.party_id)  # type: ignore[arg-type]  # no SFU: the server's is used
        self.dev = dev
        self.call_id = ""
        self._answering: asyncio.Task[None] | None = None
        self._watching: asyncio.Task[None] | None = None

    async def join_call(self, chat_id: str) -> dict[str, Any]:
        offer = await self.publish_offer()
        result = await self.dev.ok(
            "call.join", chat_id=chat_id, offer={"type": "offer", "sdp": offer}, media="video", streams=self.streams
        )
        await self.publish_pc.setRemoteDescription(RTCSessionDescription(result["answer"]["sdp"], "answer"))
        self.call_id = result["call_id"]
        loop = asyncio.get_running_loop()
        self._answering = loop.create_task(self._answer_offers())
        self._watching = loop.create_task(self._ask_for_keyframes())
        return result

    async def _ask_for_keyframes(self) -> None:
        """As a browser does: a video that stopped decoding asks its sender (the SFU) for a keyframe."""
        seen: dict[str, int] = {}
        while True:
            await asyncio.sleep(0.5)
            if self.subscribe_pc is None:
                continue
            for transceiver in self.subscribe_pc.getTransceivers():
                receiver = transceiver.receiver
                track = receiver.track
                if track is None or track.kind != "video" or track.id not in self.received:
                    continue
                frames = self.received[track.id].frames
                if frames == seen.get(track.id, -1):
                    for source in receiver.getSynchronizationSources():
                        await receiver._send_rtcp_pli(source.source)
                seen[track.id] = frames

    async def _answer_offers(self) -> None:
        answered = 0
        while True:
            offers = await self.dev.peer.wait_for(
                "call.negotiate", count=answered + 1, timeout=3600, target="subscribe"
            )
            for frame in offers[answered:]:
                answered += 1
                await self.on_offer(frame["description"]["sdp"])

    async def on_offer(self, offer_sdp: str) -> None:
        self.offers += 1
        if self.subscribe_pc is None:
            from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection

            self.subscribe_pc = RTCPeerConnection(
                RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
            )
            self.subscribe_pc.on("track", self._on_track)
        await self.subscribe_pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await self.subscribe_pc.setLocalDescription(await self.subscribe_pc.createAnswer())
        answer = {"type": "answer", "sdp": self.subscribe_pc.localDescription.sdp}
        with contextlib.suppress(AssertionError):  # it left meanwhile
            await self.dev.ok("call.negotiate", call_id=self.call_id, description=answer, target="subscribe")

    def video_frames_from_each(self) -> list[int]:
        return [r.frames for r in self.received.values() if r.kind == "video"]

    async def close(self) -> None:
        for task in (self._answering, self._watching):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await super().close()


@pytest.fixture(name="room_client")
async def room_client_fixture(aiohttp_client: Any, make_settings: Callable[..., Settings]) -> TestClient:
    client: TestClient = await aiohttp_client(create_app(make_settings(call_max_participants=3)))
    return client


async def test_three_members_see_each_other_through_the_sfu(room_client: TestClient) -> None:
    client = room_client
    ann, ben, cat, dan = await users(client, 4)
    chat_id = await group(client, ann, [ben, cat, dan])
    watcher = await device(client, dan)  # a member not in the call hears about it
    people = [Participant(await device(client, who)) for who in (ann, ben, cat)]
    try:
        first = await people[0].join_call(chat_id)
        assert first["state"] == "joined"
        assert first["room"]["participants"][0]["user_id"] == uid(ann)
        started = await watcher.wait_for("call.room", call_id=first["call_id"])
        assert started["state"] == "active"
        status = await watcher.peer.ok("call.status", chat_id=chat_id)
        assert status["call"]["call_id"] == first["call_id"]
        for person in people[1:]:
            joined = await person.join_call(chat_id)
            assert joined["call_id"] == first["call_id"]

        def everyone_sees_two_videos() -> bool:
            return all(len(p.video_frames_from_each()) == 2 and min(p.video_frames_from_each()) >= 10 for p in people)

        assert await wait_for(everyone_sees_two_videos, 30), [p.video_frames_from_each() for p in people]
        for person in people:
            sizes = set().union(*(r.sizes for r in person.received.values() if r.kind == "video"))
            assert sizes == {(WIDTH, HEIGHT)}

        # Track ids in the room's state map each incoming track to a person.
        room = (await watcher.peer.wait_for("call.room", count=3))[-1]
        assert {p["user_id"] for p in room["participants"]} == {uid(ann), uid(ben), uid(cat)}
        ann_tracks = next(p["tracks"] for p in room["participants"] if p["user_id"] == uid(ann))
        assert ann_tracks["video"] in people[1].received

        # A mute shows in the room's state; the room is full for a fourth.
        await people[0].dev.ok("call.media", call_id=first["call_id"], audio_muted=True)

        def ann_muted() -> bool:
            frames = [f for f in people[1].dev.saw("call.room") if f["participants"]]
            last = frames[-1] if frames else {"participants": []}
            return any(p["user_id"] == uid(ann) and p["audio_muted"] for p in last["participants"])

        assert await wait_for(ann_muted, 10)
        extra = Participant(watcher)
        offer = {"type": "offer", "sdp": await extra.publish_offer()}
        full = await watcher.error("call.join", chat_id=chat_id, party_id=watcher.party_id, offer=offer, media="video")
        assert full["code"] == "room_full"
        await extra.close()

        # Nobody acts as another participant.
        impostor = await people[1].dev.error(
            "call.media", call_id=first["call_id"], party_id=people[0].dev.party_id, video_muted=True
        )
        assert impostor["code"] == "not_a_party"

        for person in people:
            left = await person.dev.ok("call.hangup", call_id=first["call_id"])
            assert left["state"] == "left"
        ended = await watcher.wait_for("call.room", state="ended")
        assert ended["participants"] == []
        (entry,) = await call_entries(client, dan, chat_id)
        assert entry["call"]["participants"] == 3
        assert entry["call"]["outcome"] == "answered"
        assert (await watcher.peer.ok("call.status", chat_id=chat_id))["call"] is None
    finally:
        for person in people:
            await person.close()


async def test_who_may_join_a_group_call(client: TestClient) -> None:
    ann, ben, eve = await users(client, 3)
    team, pair = await group(client, ann, [ben]), await direct(client, ann, ben)
    a, e = await device(client, ann), await device(client, eve)
    stranger = await e.error("call.join", chat_id=team, party_id=e.party_id, offer=OFFER, media="audio")
    assert stranger["code"] == "chat_not_found"
    not_group = await a.error("call.join", chat_id=pair, party_id=a.party_id, offer=OFFER, media="audio")
    assert not_group["code"] == "not_a_group"
    nonsense = {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n"}
    bad = await a.error("call.join", chat_id=team, party_id=a.party_id, offer=nonsense, media="audio")
    assert bad["code"] == "invalid_sdp"
    assert (await a.peer.ok("call.status", chat_id=team))["call"] is None  # nothing started
    unknown = await a.error("call.negotiate", call_id="nope", party_id=a.party_id, description=OFFER, target="publish")
    assert unknown["code"] == "call_not_found"


async def test_a_seat_cannot_be_taken_and_a_refused_first_join_leaves_no_trace(client: TestClient) -> None:
    ann, ben, cat = await users(client, 3)
    team = await group(client, ann, [ben, cat])
    watcher = await device(client, cat)
    bad = {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n"}
    b = await device(client, ben)
    for _ in range(2):  # a first join the SFU refuses: no call happened
        assert (await b.error("call.join", chat_id=team, party_id=b.party_id, offer=bad, media="audio"))["code"] == (
            "invalid_sdp"
        )
    await asyncio.sleep(0.3)
    assert not watcher.saw("call.room")
    assert await call_entries(client, cat, team, 0) == []

    alice = Participant(await device(client, ann))
    try:
        joined = await alice.join_call(team)
        thief = Participant(b)
        offer = {"type": "offer", "sdp": await thief.publish_offer()}
        taken = await b.error("call.join", chat_id=team, party_id=alice.dev.party_id, offer=offer, media="audio")
        assert taken["code"] == "already_joined"
        await thief.close()
        muted = await alice.dev.ok("call.media", call_id=joined["call_id"], audio_muted=True)  # still hers
        assert muted["audio_muted"] is True
        await alice.dev.ok("call.hangup", call_id=joined["call_id"])
    finally:
        await alice.close()
