"""GET /api/calls/ice-servers: STUN and TURN for a signed-in user, TURN with coturn REST-API credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

from server.app import create_app
from server.calls.turn import stun_urls
from server.config import Settings
from tests.helpers import bearer, verified_user

TURN_URLS = ("turn:turn.example.test:3478?transport=udp", "turns:turn.example.test:5349?transport=tcp")


async def _ice(aiohttp_client: Any, settings: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    client = await aiohttp_client(create_app(settings))
    grant = await verified_user(client)
    resp = await client.get("/api/calls/ice-servers", headers=bearer(grant))
    assert resp.status == 200, await resp.text()
    assert resp.headers["Cache-Control"] == "no-store"
    return await resp.json(), grant


async def test_signed_in_users_get_turn_credentials_coturn_can_check(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    before = int(time.time())
    body, grant = await _ice(
        aiohttp_client, make_settings(turn_secret="shared-secret", turn_urls=TURN_URLS, turn_ttl_seconds=600)
    )
    after = int(time.time())
    stun, turn = body["ice_servers"]
    assert stun == {"urls": ["stun:turn.example.test:3478"]}
    assert turn["urls"] == list(TURN_URLS)
    expiry, _, user_id = turn["username"].partition(":")
    assert user_id == grant["user"]["id"]
    assert before + 600 <= int(expiry) <= after + 600
    assert body["ttl"] == 600
    assert body["expires_at"] == int(expiry)
    digest = hmac.new(b"shared-secret", turn["username"].encode(), hashlib.sha1).digest()
    assert turn["credential"] == base64.b64encode(digest).decode()


async def test_without_a_secret_there_is_no_turn(aiohttp_client: Any, make_settings: Callable[..., Settings]) -> None:
    body, _ = await _ice(aiohttp_client, make_settings(turn_urls=TURN_URLS))
    assert body["ice_servers"] == [{"urls": ["stun:turn.example.test:3478"]}]
    body, _ = await _ice(aiohttp_client, make_settings())
    assert body["ice_servers"] == []  # host candidates only


async def test_ice_servers_need_a_signed_in_user(aiohttp_client: Any, settings: Settings) -> None:
    client = await aiohttp_client(create_app(settings))
    resp = await client.get("/api/calls/ice-servers")
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unauthorized"


def test_stun_urls_follow_the_turn_servers() -> None:
    assert stun_urls(("turn:[2001:db8::1]:3478", "turns:[2001:db8::1]:5349", "stun:other:3478")) == [
        "stun:[2001:db8::1]:3478"
    ]
    assert stun_urls(("turns:turn.example.test:5349", "turns:[2001:db8::2]:5349")) == [
        "stun:turn.example.test",
        "stun:[2001:db8::2]",
    ]
