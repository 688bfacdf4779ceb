"""Steps the calls tests share: two people in a direct chat, devices on the WebSocket, and session descriptions."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from tests.chat.chatkit import Peer, connect

# A session description that parses (what the server checks); the peers in test_peers.py send real ones.
SDP = (
    "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\na=rtpmap:111 opus/48000/2\r\n"
)
OFFER = {"type": "offer", "sdp": SDP}
ANSWER = {"type": "answer", "sdp": SDP}
CANDIDATE = {"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host", "sdpMid": "0", "sdpMLineIndex": 0}


def new_id() -> str:
    return uuid.uuid4().hex


class Device:
    """One device of a user: its socket and its party id."""

    def __init__(self, peer: Peer, party_id: str) -> None:
        self.peer = peer
        self.party_id = party_id

    async def ok(self, kind: str, **fields: Any) -> dict[str, Any]:
        return await self.peer.ok(kind, party_id=self.party_id, **fields)

    async def error(self, kind: str, **fields: Any) -> dict[str, Any]:
        """The error this command gets (the test fails if it succeeds)."""
        reply = await self.peer.call(kind, **fields)
        assert reply["type"] == "error", reply
        error: dict[str, Any] = reply["error"]
        return error

    async def wait_for(self, kind: str, **match: Any) -> dict[str, Any]:
        return (await self.peer.wait_for(kind, **match))[-1]

    def saw(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        return [p for p in self.peer.pushes if p["type"] == kind and all(p.get(k) == v for k, v in match.items())]

    async def close(self) -> None:
        await self.peer.close()


async def device(client: TestClient, grant: dict[str, Any], party_id: str | None = None) -> Device:
    return Device(await connect(client, grant), party_id or new_id())


async def invite(caller: Device, chat_id: str, call_id: str | None = None, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"chat_id": chat_id, "call_id": call_id or new_id(), "offer": OFFER, "media": "video"}
    return await caller.ok("call.invite", **{**fields, **extra})
