"""A real 1:1 call: two aiortc peers exchange video and audio, every step signalled through the server's WebSocket.

Alice calls Bob with a real offer; the candidates also travel in `call.candidates` frames (aiortc gathers them all
before the description is made, so here they duplicate the SDP's, but they take the trickle path end to end).
Then Alice adds a second video track through `call.negotiate`, mutes, and hangs up; the chat keeps the call.
Host candidates only, on loopback.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from aiortc import RTCIceCandidate, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from tests.calls.callkit import Device, call_entries, device, new_id
from tests.calls.peers import (
    FrameCounter,
    SyntheticAudioTrack,
    SyntheticVideoTrack,
    make_peer,
    on_track_frames,
    wait_connection_state,
)
from tests.chat.chatkit import direct, uid, users

pytestmark = pytest.mark.timeout(60)

WAIT = 15.0  # seconds; a bound on a hang, not a performance expectation
FRAMES = 5


def description(pc: RTCPeerConnection) -> dict[str, str]:
    local = pc.localDescription
    return {"type": local.type, "sdp": local.sdp}


def sdp_candidates(sdp: str) -> list[dict[str, Any]]:
    """The candidate lines of each media section, as RTCIceCandidate.toJSON() gives them, then end-of-candidates."""
    found: list[dict[str, Any]] = []
    sections = sdp.split("\r\nm=")[1:]
    for index, section in enumerate(sections):
        lines = section.split("\r\n")
        mid = next(line.removeprefix("a=mid:") for line in lines if line.startswith("a=mid:"))
        for line in lines:
            if line.startswith("a=candidate:"):
                found.append({"candidate": line.removeprefix("a="), "sdpMid": mid, "sdpMLineIndex": index})
    return [*found, {"candidate": ""}]


async def add_candidates(pc: RTCPeerConnection, candidates: list[dict[str, Any]]) -> None:
    """Candidates from a `call.candidates` frame; aiortc ignores those it has already (from the SDP)."""
    for item in candidates:
        if not item["candidate"]:
            await pc.addIceCandidate(None)
            continue
        candidate: RTCIceCandidate = candidate_from_sdp(item["candidate"].removeprefix("candidate:"))
        candidate.sdpMid, candidate.sdpMLineIndex = item.get("sdpMid"), item.get("sdpMLineIndex")
        await pc.addIceCandidate(candidate)


def remote_addresses(pc: RTCPeerConnection) -> set[tuple[str, int]]:
    return {(c.ip, c.port) for t in pc.getTransceivers() for c in t.receiver.transport.transport.getRemoteCandidates()}


async def trickle(sender: Device, receiver: Device, pc: RTCPeerConnection, to: RTCPeerConnection, call_id: str) -> None:
    """`pc`'s candidates go out in one call.candidates frame; `to` adds what arrives on the other device."""
    candidates = sdp_candidates(pc.localDescription.sdp)
    assert len(candidates) > 1  # at least one host candidate besides the end
    assert (await sender.ok("call.candidates", call_id=call_id, candidates=candidates))["sent"] == len(candidates)
    frame = await receiver.wait_for("call.candidates", call_id=call_id, party_id=sender.party_id)
    assert frame["candidates"] == candidates
    await add_candidates(to, frame["candidates"])
    trickled = {(c["candidate"].split()[4], int(c["candidate"].split()[5])) for c in candidates if c["candidate"]}
    assert trickled <= remote_addresses(to)


async def test_two_aiortc_peers_call_through_the_servers_signalling(client: TestClient) -> None:
    alice, bob = await users(client, 2)
    chat_id = await direct(client, alice, bob)
    caller, callee = await device(client, alice), await device(client, bob)
    call_id = new_id()
    offerer, answerer = make_peer(), make_peer()
    counters: list[FrameCounter] = []
    try:
        offerer.addTrack(SyntheticVideoTrack(320, 240, fps=15))
        offerer.addTrack(SyntheticAudioTrack(frequency=440))
        bob_sees, alice_sees = on_track_frames(answerer, "video"), on_track_frames(offerer, "video")

        # Alice invites with her offer; Bob's device rings with it, and his peer answers.
        await offerer.setLocalDescription(await offerer.createOffer())
        ringing = await caller.ok(
            "call.invite", chat_id=chat_id, call_id=call_id, offer=description(offerer), media="video"
        )
        assert ringing["state"] == "ringing"
        invite = await callee.wait_for("call.invite", call_id=call_id)
        assert invite["caller_id"] == uid(alice)
        await answerer.setRemoteDescription(RTCSessionDescription(**invite["offer"]))
        await add_candidates(answerer, invite["candidates"])
        await trickle(caller, callee, offerer, answerer, call_id)
        answerer.addTrack(SyntheticVideoTrack(160, 120, fps=15))  # takes the offer's video section (sendrecv)
        answerer.addTrack(SyntheticAudioTrack(frequency=880))
        await answerer.setLocalDescription(await answerer.createAnswer())
        answered = await callee.ok("call.answer", call_id=call_id, answer=description(answerer))
        assert answered["state"] == "connected"

        answer = await caller.wait_for("call.answer", call_id=call_id)
        assert answer["party_id"] == callee.party_id
        await caller.ok("call.select_answer", call_id=call_id, selected_party_id=callee.party_id)
        await offerer.setRemoteDescription(RTCSessionDescription(**answer["answer"]))
        await trickle(callee, caller, answerer, offerer, call_id)

        assert await wait_connection_state(offerer, WAIT) == "connected"
        assert await wait_connection_state(answerer, WAIT) == "connected"
        at_bob, at_alice = await asyncio.wait_for(bob_sees, WAIT), await asyncio.wait_for(alice_sees, WAIT)
        counters += [at_bob, at_alice]
        await at_bob.wait_for(FRAMES, timeout=WAIT)
        await at_alice.wait_for(FRAMES, timeout=WAIT)
        assert (at_bob.width, at_bob.height) == (320, 240)
        assert (at_alice.width, at_alice.height) == (160, 120)

        # Renegotiation: Alice adds a second video track (a screen share); Bob answers through call.negotiate.
        share_seen = on_track_frames(answerer, "video")  # the next video track Bob receives
        offerer.addTrack(SyntheticVideoTrack(256, 144, fps=15))
        await offerer.setLocalDescription(await offerer.createOffer())
        await caller.ok("call.negotiate", call_id=call_id, description=description(offerer))
        renegotiation = await callee.wait_for("call.negotiate", call_id=call_id)
        assert renegotiation["description"]["type"] == "offer"
        await answerer.setRemoteDescription(RTCSessionDescription(**renegotiation["description"]))
        await answerer.setLocalDescription(await answerer.createAnswer())
        await callee.ok("call.negotiate", call_id=call_id, description=description(answerer))
        reply = await caller.wait_for("call.negotiate", call_id=call_id, party_id=callee.party_id)
        assert reply["description"]["type"] == "answer"
        await offerer.setRemoteDescription(RTCSessionDescription(**reply["description"]))
        share = await asyncio.wait_for(share_seen, WAIT)
        counters.append(share)
        await share.wait_for(FRAMES, timeout=WAIT)
        assert (share.width, share.height) == (256, 144)
        await at_bob.wait_for(at_bob.frames + FRAMES, timeout=WAIT)  # the first track still flows
        assert offerer.connectionState == "connected"
        assert answerer.connectionState == "connected"

        # Alice mutes; Bob's device hears it.
        await caller.ok("call.media", call_id=call_id, audio_muted=True)
        muted = await callee.wait_for("call.media", call_id=call_id)
        assert muted["party_id"] == caller.party_id
        assert muted["audio_muted"] is True
        assert muted["video_muted"] is False

        # Alice hangs up: both devices hear it, and the chat keeps one answered call.
        assert (await caller.ok("call.hangup", call_id=call_id))["state"] == "ended"
        for each in (caller, callee):
            hangup = await each.wait_for("call.hangup", call_id=call_id)
            assert hangup["reason"] == "user_hangup"
            assert hangup["party_id"] == caller.party_id
        (entry,) = await call_entries(client, bob, chat_id)
        assert entry["sender_id"] == uid(alice)
        assert entry["call"]["call_id"] == call_id
        assert entry["call"]["outcome"] == "answered"
        assert entry["call"]["media"] == "video"
    finally:
        for counter in counters:
            await counter.stop()
        await offerer.close()
        await answerer.close()
        await caller.close()
        await callee.close()
