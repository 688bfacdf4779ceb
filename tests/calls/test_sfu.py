"""The SFU with real aiortc peers on this machine (host candidates, no STUN): publishers encode synthetic video,
subscribers decode what the SFU forwards. Figures are generous lower bounds, never timings."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from aiortc import RTCSessionDescription

from server.calls.sfu import InvalidSdp, NotInRoom, RoomFull, SfuFull
from tests.calls.sfu_clients import FPS, HEIGHT, WIDTH, Client, Room, SyntheticVideo, wait_for


@pytest.fixture(name="room")
async def room_fixture() -> Room:
    room = Room()
    yield room
    await room.close()


async def test_three_subscribers_receive_the_publishers_video_and_audio_decodable(room: Room) -> None:
    publisher = await room.join("pub")
    subscribers = [await room.join(f"sub{i}", video=False) for i in range(3)]

    assert await wait_for(lambda: all(s.frames("video") > 0 for s in subscribers), timeout=15)
    start = {s.participant_id: s.frames("video") for s in subscribers}
    sent_before = publisher.video.sent
    await asyncio.sleep(3)
    sent = publisher.video.sent - sent_before

    assert sent >= FPS  # the publisher ran
    for subscriber in subscribers:
        got = subscriber.frames("video") - start[subscriber.participant_id]
        assert got >= sent * 0.5, f"{subscriber.participant_id} decoded {got} of {sent} frames"
        video = [r for r in subscriber.received.values() if r.kind == "video"]
        assert [r.sizes for r in video] == [{(WIDTH, HEIGHT)}]
        assert subscriber.frames("audio") > 0  # the publisher's Opus, and the other subscribers'
    state = room.sfu.state("room")
    assert state is not None
    assert [p.participant_id for p in state.participants] == ["pub", "sub0", "sub1", "sub2"]
    assert state.participant("pub").has_video
    assert not state.participant("sub0").has_video


async def test_a_late_joiner_is_held_until_a_keyframe_it_asked_the_publisher_for(
    room: Room, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = await room.join("pub")
    early = await room.join("early", video=False)
    assert await wait_for(lambda: early.frames("video") > FPS, timeout=15)  # well past the first keyframe
    requests_before = publisher.keyframe_requests

    caplog.set_level(logging.WARNING, logger="aiortc.rtcrtpreceiver")
    joined_at = time.monotonic()
    late = await room.join("late", video=False)
    assert await wait_for(lambda: late.frames("video") > 0, timeout=15)

    assert publisher.keyframe_requests > requests_before  # the SFU asked the publisher for a keyframe
    first = next(r for r in late.received.values() if r.kind == "video")
    assert first.first_at is not None
    assert first.first_at >= joined_at
    assert first.sizes == {(WIDTH, HEIGHT)}
    # its decoder never saw a frame it could not decode (an inter frame before the keyframe)
    assert not [r for r in caplog.records if "failed to decode" in r.getMessage()]


async def test_mute_and_leave_show_in_the_room_state_and_in_what_is_forwarded(room: Room) -> None:
    publisher = await room.join("pub")
    subscriber = await room.join("sub", video=False)
    assert await wait_for(lambda: subscriber.frames("video") > 0, timeout=15)

    room.sfu.set_media("room", "pub", audio_muted=True, video_muted=True)
    state = room.states[-1]
    assert state.participant("pub").audio_muted
    assert state.participant("pub").video_muted
    assert state.to_dict()["participants"][0]["video_muted"] is True
    await asyncio.sleep(0.3)  # frames already on the way
    frozen = subscriber.frames("video")
    await asyncio.sleep(1)
    assert subscriber.frames("video") - frozen <= 2  # a muted camera is not forwarded

    room.sfu.set_media("room", "pub", video_muted=False)
    assert await wait_for(lambda: subscriber.frames("video") > frozen + FPS // 2, timeout=15)
    assert not room.states[-1].participant("pub").video_muted

    offers = subscriber.offers
    await room.sfu.leave("room", "pub")
    state = room.states[-1]
    assert [p.participant_id for p in state.participants] == ["sub"]
    assert await wait_for(lambda: subscriber.offers > offers, timeout=5)  # its tracks were taken away
    await publisher.close()
    with pytest.raises(NotInRoom):
        room.sfu.set_media("room", "pub", audio_muted=False)
    await room.sfu.leave("room", "sub")
    assert room.sfu.state("room") is None


async def test_a_full_room_and_a_full_sfu_refuse_to_join() -> None:
    room = Room(max_participants=2, max_rooms=1)
    try:
        await room.join("a", video=False)
        await room.join("b", video=False)
        with pytest.raises(RoomFull) as full:
            await room.join("c", video=False)
        assert full.value.code == "room_full"
        with pytest.raises(SfuFull):
            await room.join("d", room_id="another", video=False)
        assert [p.participant_id for p in room.sfu.state("room").participants] == ["a", "b"]
        await room.sfu.leave("room", "b")
        await room.join("e", video=False)  # the seat is free again
    finally:
        await room.close()


async def test_an_offer_the_sfu_cannot_use_is_refused_and_leaves_no_seat_taken(room: Room) -> None:
    with pytest.raises(InvalidSdp):
        await room.sfu.join("room", "x", "user-x", "not sdp at all", {})
    client = room.clients["y"] = Client(room.sfu, "room", "y")
    offer = await client.publish_offer()
    with pytest.raises(InvalidSdp, match="streams does not describe"):
        await room.sfu.join("room", "y", "user-y", offer, {"someone-elses-stream": "usermedia"})
    with pytest.raises(InvalidSdp, match="purpose"):
        await room.sfu.join("room", "y", "user-y", offer, dict.fromkeys(client.streams, "holiday"))
    assert room.sfu.state("room") is None


async def test_subscribers_see_the_sfus_ids_for_each_person_and_never_their_own_tracks(room: Room) -> None:
    alice = await room.join("alice")
    bob = await room.join("bob")
    assert await wait_for(lambda: alice.frames("video") > 0 and bob.frames("video") > 0, timeout=15)

    state = room.sfu.state("room")
    assert state is not None
    ids = {p.participant_id: p.streams[0] for p in state.participants}
    assert set(bob.received) == {ids["alice"].audio_track_id, ids["alice"].video_track_id}
    assert set(alice.received) == {ids["bob"].audio_track_id, ids["bob"].video_track_id}
    # the stream id a subscriber sees is the SFU's, not the one the publisher's client chose
    assert ids["alice"].stream_id not in alice.streams
    msids = [t.receiver.track.id for t in bob.subscribe_pc.getTransceivers()]
    assert ids["alice"].video_track_id in msids
    assert f"msid:{ids['alice'].stream_id} " in bob.subscribe_pc.remoteDescription.sdp


async def test_the_participant_who_speaks_becomes_the_active_speaker(room: Room) -> None:
    await room.join("quiet", video=False)
    await room.join("talker", video=False, tone=True)
    assert await wait_for(lambda: room.sfu.state("room").active_speaker == "talker", timeout=10)
    assert room.states[-1].to_dict()["active_speaker"] == "talker"


async def test_a_screen_share_added_later_reaches_the_others_as_a_stream_of_its_own(room: Room) -> None:
    sharer = await room.join("sharer", video=False)
    viewer = await room.join("viewer", video=False)
    assert await wait_for(lambda: viewer.frames("audio") > 0, timeout=15)

    screen = SyntheticVideo()
    transceiver = sharer.publish_pc.addTransceiver(screen, direction="sendonly")
    transceiver.sender._stream_id = "my-screen"
    await sharer.publish_pc.setLocalDescription(await sharer.publish_pc.createOffer())
    streams = {**sharer.streams, "my-screen": "screenshare"}
    answer = await room.sfu.publish("room", "sharer", sharer.publish_pc.localDescription.sdp, streams)
    await sharer.publish_pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    state = room.states[-1].participant("sharer")
    assert state is not None
    assert state.screen_sharing
    assert not state.has_video
    share = next(s for s in state.streams if s.purpose == "screenshare")
    assert await wait_for(lambda: share.video_track_id in viewer.received, timeout=10)
    assert await wait_for(lambda: viewer.received[share.video_track_id].frames > 0, timeout=15)
    assert viewer.received[share.video_track_id].sizes == {(WIDTH, HEIGHT)}
