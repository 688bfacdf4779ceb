"""The aiortc test-peer kit itself: two peers in one process exchange video, audio and data over host candidates."""

from __future__ import annotations

import asyncio

from tests.calls.peers import (
    SyntheticAudioTrack,
    SyntheticVideoTrack,
    connect,
    echo_channel,
    local_candidate_types,
    make_peer,
    on_track_frames,
    rtc_ice_servers,
    selected_pairs,
    wait_connection_state,
)

WAIT = 20.0  # seconds; a bound on a hang, not a performance expectation


async def test_two_peers_exchange_video_audio_and_data_over_host_candidates() -> None:
    offerer, answerer = make_peer(), make_peer()
    try:
        offerer.addTrack(SyntheticVideoTrack(160, 120, fps=30))
        offerer.addTransceiver("audio", direction="recvonly")
        echoed = echo_channel(offerer, answerer, "ping")
        video = on_track_frames(answerer, "video")
        audio = on_track_frames(offerer, "audio")
        await connect(offerer, answerer, answerer_tracks=[SyntheticAudioTrack(frequency=440)])

        assert await wait_connection_state(offerer, WAIT) == "connected"
        received_video, received_audio = await video, await audio
        await received_video.wait_for(5, timeout=WAIT)
        await received_audio.wait_for(5, timeout=WAIT)
        assert (received_video.width, received_video.height) == (160, 120)
        assert received_video.first_frame_at is not None
        assert await asyncio.wait_for(echoed, WAIT) == "echo ping"
        assert local_candidate_types(offerer) <= {"host", "srflx"}
        assert {pair.local_type for pair in selected_pairs(offerer)} == {"host"}
        await received_video.stop()
        await received_audio.stop()
    finally:
        await offerer.close()
        await answerer.close()


def test_the_routes_ice_servers_become_aiortc_objects() -> None:
    servers = rtc_ice_servers(
        [
            {"urls": ["stun:turn.example.test:3478"]},
            {"urls": ["turn:turn.example.test:3478?transport=udp"], "username": "1:u", "credential": "c2VjcmV0"},
        ]
    )
    assert [(s.urls, s.username, s.credential) for s in servers] == [
        (["stun:turn.example.test:3478"], None, None),
        (["turn:turn.example.test:3478?transport=udp"], "1:u", "c2VjcmV0"),
    ]
