"""Two aiortc peers, allowed relay candidates only, call each other through Debian's coturn (started with the
project's turnserver.conf on loopback) using the credentials GET /api/calls/ice-servers hands out; with forged or
expired credentials coturn allocates no relay, so such peers have nothing to connect over."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.calls.turn import issue_turn_credentials
from server.config import Settings
from tests.calls.peers import (
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
from tests.e2e.turn_kit import HOST, running_turnserver, skip_without_turnserver, turnserver_command
from tests.helpers import bearer, verified_user

pytestmark = [pytest.mark.slow, skip_without_turnserver]

SECRET = "turn-relay-test-secret"
REALM = "turn.test.invalid"
WAIT = 20.0  # seconds; a bound on a hang, not a performance expectation
REFUSED_WAIT = 2.0  # seconds the refused peers get to start connecting (they cannot: nothing to connect over)
# Test only, never in coturn/turnserver.conf: both peers sit on loopback, so each relay's peer is 127.0.0.1, which
# the file denies (denied-peer-ip 127.0.0.0/8, and coturn refuses loopback peers on its own). coturn 4.6.1 needs
# both overrides: allowed-peer-ip alone still meets the built-in loopback refusal, allow-loopback-peers alone the
# file's denied range.
LOOPBACK_PEERS = ("--allow-loopback-peers", f"--allowed-peer-ip={HOST}")


@pytest.fixture(name="turn_url")
def turn_url_fixture(tmp_path: Path) -> Iterator[str]:
    # One relay port per allocation: a peer bundles everything on one transport, so two peers take two.
    command, port = turnserver_command(tmp_path, SECRET, REALM, relay_ports=2, extra=LOOPBACK_PEERS)
    with running_turnserver(tmp_path, command, port):
        yield f"turn:{HOST}:{port}?transport=udp"


async def _turn_server(client: TestClient, name: str) -> dict[str, Any]:
    """The TURN entry of what the route gives a newly signed-in user."""
    grant = await verified_user(client, name=name)
    resp = await client.get("/api/calls/ice-servers", headers=bearer(grant))
    assert resp.status == 200, await resp.text()
    turn: dict[str, Any] = next(s for s in (await resp.json())["ice_servers"] if "credential" in s)
    return turn


async def test_two_relay_only_peers_call_through_coturn_with_the_routes_credentials(
    aiohttp_client: Any, make_settings: Callable[..., Settings], turn_url: str
) -> None:
    client = await aiohttp_client(create_app(make_settings(turn_secret=SECRET, turn_urls=(turn_url,))))
    caller = make_peer(rtc_ice_servers([await _turn_server(client, "Ada")]), relay_only=True)
    callee = make_peer(rtc_ice_servers([await _turn_server(client, "Bob")]), relay_only=True)
    try:
        caller.addTrack(SyntheticVideoTrack(320, 240, fps=15))
        reply = echo_channel(caller, callee, "hello")
        video = on_track_frames(callee, "video")
        await connect(caller, callee)
        assert local_candidate_types(caller) == {"relay"}
        assert local_candidate_types(callee) == {"relay"}

        assert await wait_connection_state(caller, WAIT) == "connected"
        assert await wait_connection_state(callee, WAIT) == "connected"
        received = await asyncio.wait_for(video, WAIT)
        await received.wait_for(10, timeout=WAIT)
        assert (received.width, received.height) == (320, 240)
        assert await asyncio.wait_for(reply, WAIT) == "echo hello"  # and data the other way

        # Each side sends from its coturn allocation to the other's: media really went through the relay.
        for pc in (caller, callee):
            pairs = selected_pairs(pc)
            assert pairs, "no nominated candidate pair"
            assert {(p.local_type, p.remote_type) for p in pairs} == {("relay", "relay")}
        await received.stop()
    finally:
        await caller.close()
        await callee.close()


@pytest.mark.parametrize("credentials", ["forged", "expired"])
async def test_relay_only_peers_get_no_relay_with_forged_or_expired_credentials(
    aiohttp_client: Any, make_settings: Callable[..., Settings], turn_url: str, credentials: str
) -> None:
    client = await aiohttp_client(create_app(make_settings(turn_secret=SECRET, turn_urls=(turn_url,))))
    peers = []
    for name in ("Ada", "Bob"):
        turn = await _turn_server(client, name)
        if credentials == "forged":  # the route's username, a password signed with another secret
            digest = hmac.new(b"not-the-secret", turn["username"].encode(), hashlib.sha1).digest()
            turn["credential"] = base64.b64encode(digest).decode()
        else:  # signed with the right secret, but its expiry passed an hour ago
            user_id = turn["username"].partition(":")[2]
            expired = issue_turn_credentials(SECRET, user_id, time.time() - 7200, 3600)
            turn["username"], turn["credential"] = expired.username, expired.credential
        peers.append(make_peer(rtc_ice_servers([turn]), relay_only=True))
    caller, callee = peers
    try:
        caller.addTrack(SyntheticVideoTrack(160, 120, fps=15))
        caller.createDataChannel("chat")
        await connect(caller, callee)  # gathering ends at once: coturn answers the Allocate with 401

        # coturn allocated nothing, and relay-only peers may use nothing else: no candidate to offer or pair.
        assert local_candidate_types(caller) == set()
        assert local_candidate_types(callee) == set()
        assert "a=candidate:" not in caller.localDescription.sdp
        assert "a=candidate:" not in callee.localDescription.sdp
        # aiortc starts no ICE checks without a local candidate: the call never even starts connecting (it stays
        # "new", where a browser would say "failed"), and no pair is ever selected.
        with pytest.raises(TimeoutError):
            await asyncio.gather(
                *(wait_connection_state(pc, REFUSED_WAIT, ("connecting", "connected")) for pc in peers)
            )
        assert [pc.connectionState for pc in peers] == ["new", "new"]
        assert selected_pairs(caller) == selected_pairs(callee) == []
    finally:
        await caller.close()
        await callee.close()
