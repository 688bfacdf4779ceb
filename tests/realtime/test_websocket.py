"""The WebSocket itself: authentication, origins, bad frames, and sockets closing when their session ends."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from server.realtime import routes as ws_routes
from tests.helpers import bearer, login, new_channel, verified_user


async def authed(client: TestClient, grant: dict[str, Any]) -> aiohttp.ClientWebSocketResponse:
    ws = await client.ws_connect("/ws")
    await ws.send_json({"type": "auth", "id": "a", "token": grant["access_token"]})
    reply = await ws.receive_json()
    assert reply == {"type": "result", "id": "a", "result": {"user_id": grant["user"]["id"]}}
    return ws


async def test_ending_a_session_closes_its_sockets_only(client: TestClient) -> None:
    phone = await verified_user(client)
    laptop = await login(client, phone["user"]["email"])
    phone_ws = await authed(client, phone)
    laptop_ws = await authed(client, laptop)
    sessions = (await (await client.get("/api/me/sessions", headers=bearer(laptop))).json())["sessions"]
    phone_session = next(s["id"] for s in sessions if not s["current"])
    assert (await client.delete(f"/api/me/sessions/{phone_session}", headers=bearer(laptop))).status == 204
    closing = await phone_ws.receive(timeout=5)
    assert closing.type == aiohttp.WSMsgType.CLOSE
    assert closing.data == 4003
    # The laptop's socket stays and still answers.
    await laptop_ws.send_json({"type": "ping", "id": 1})
    assert (await laptop_ws.receive_json(timeout=5))["type"] == "pong"
    await laptop_ws.close()


async def test_logout_closes_the_sessions_sockets(client: TestClient) -> None:
    grant = await verified_user(client)
    ws = await authed(client, grant)
    assert (await client.post("/api/auth/logout", headers=bearer(grant))).status == 204
    closing = await ws.receive(timeout=5)
    assert closing.data == 4003


async def test_bad_frames_answer_errors_and_keep_the_socket(client: TestClient) -> None:
    grant = await verified_user(client)
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("{not json")
        assert (await ws.receive_json())["error"]["code"] == "malformed_json"
        await ws.send_json([1, 2])
        assert (await ws.receive_json())["error"]["code"] == "invalid_frame"
        await ws.send_json({"type": "chat.send", "id": 3})
        reply = await ws.receive_json()
        assert reply["id"] == 3
        assert reply["error"]["code"] == "unknown_type"
        await ws.send_json({"type": "auth", "id": 4, "token": "garbage"})
        assert (await ws.receive_json())["error"]["code"] == "invalid_token"
        await ws.send_bytes(b"\x00")
        assert (await ws.receive_json())["error"]["code"] == "binary_not_supported"
        await ws.send_json({"type": "auth", "id": 5, "token": grant["access_token"]})
        assert (await ws.receive_json())["type"] == "result"


async def test_foreign_origin_is_refused(client: TestClient) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await client.ws_connect("/ws", headers={"Origin": "https://evil.example"})
    assert info.value.status == 403


async def test_anonymous_socket_must_authenticate_unless_it_follows_public_channels(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_routes, "AUTH_TIMEOUT_SECONDS", 1.0)
    ch = await new_channel(client, public_flag="true")
    async with client.ws_connect("/ws") as follower:
        await follower.send_json({"type": "channel.subscribe", "id": 1, "channel_id": ch["id"]})
        assert (await follower.receive_json())["type"] == "result"
        # A socket opened after the follower that does nothing is closed at its deadline: the follower's, which
        # started first, has passed by then too.
        async with client.ws_connect("/ws") as idle:
            closing = await idle.receive(timeout=5)
            assert closing.data == 4001
        await client.get(f"/update?api_key={ch['write_key']}&field1=5")
        # Still open past its deadline, and points still arrive.
        frame = await follower.receive_json(timeout=5)
        assert frame["type"] == "channel.entries"
