"""Debian's coturn, started with the project's turnserver.conf, accepts the TURN credentials that
GET /api/calls/ice-servers hands out, and refuses expired or forged ones (an authenticated TURN Allocate)."""

from __future__ import annotations

import hashlib
import hmac
import socket
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from server.app import create_app
from server.calls.turn import issue_turn_credentials
from server.config import Settings
from tests.e2e.turn_kit import (
    ALLOCATE_REQUEST,
    ALLOCATE_SUCCESS,
    ATTR_ERROR_CODE,
    ATTR_MESSAGE_INTEGRITY,
    ATTR_NONCE,
    ATTR_REALM,
    ATTR_REQUESTED_TRANSPORT,
    ATTR_USERNAME,
    HOST,
    attribute,
    parse_stun,
    running_turnserver,
    skip_without_turnserver,
    stun_message,
    turnserver_command,
)
from tests.helpers import bearer, verified_user

pytestmark = [pytest.mark.slow, skip_without_turnserver]

SECRET = "turn-test-secret"
REALM = "turn.test.invalid"


@pytest.fixture(name="turn_port")
def turn_port_fixture(tmp_path: Path) -> Iterator[int]:
    command, port = turnserver_command(tmp_path, SECRET, REALM)
    with running_turnserver(tmp_path, command, port):
        yield port


def _allocate(port: int, username: str, password: str) -> int:
    """An authenticated Allocate (RFC 8656 long-term credentials): the first try fetches the realm and nonce,
    the second carries USERNAME, REALM, NONCE and MESSAGE-INTEGRITY. Returns the STUN status (200 on success).
    Both go from one socket: coturn ties a nonce to the client's address."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2.0)

        def ask(message: bytes) -> dict[int, bytes] | None:
            sock.sendto(message, (HOST, port))
            kind, _, attributes = parse_stun(sock.recvfrom(2048)[0])
            return None if kind == ALLOCATE_SUCCESS else attributes

        udp = attribute(ATTR_REQUESTED_TRANSPORT, struct.pack("!I", 17 << 24))
        challenge = ask(stun_message(ALLOCATE_REQUEST, udp)[0])
        assert challenge is not None
        assert challenge[ATTR_REALM] == REALM.encode()
        body = udp + attribute(ATTR_USERNAME, username.encode())
        body += attribute(ATTR_REALM, challenge[ATTR_REALM]) + attribute(ATTR_NONCE, challenge[ATTR_NONCE])
        key = hashlib.md5(f"{username}:{REALM}:{password}".encode()).digest()  # noqa: S324 - TURN's own key
        header, _ = stun_message(ALLOCATE_REQUEST, body + b"\0" * 24)  # the length counts the integrity attribute
        signed = header[:20] + body
        integrity = hmac.new(key, signed, hashlib.sha1).digest()
        refused = ask(signed + attribute(ATTR_MESSAGE_INTEGRITY, integrity))
    if refused is None:
        return 200
    error = refused[ATTR_ERROR_CODE]
    return error[2] * 100 + error[3]


async def test_coturn_accepts_the_routes_credentials_and_refuses_expired_or_forged_ones(
    aiohttp_client: Any, make_settings: Callable[..., Settings], turn_port: int
) -> None:
    url = f"turn:127.0.0.1:{turn_port}?transport=udp"
    client = await aiohttp_client(create_app(make_settings(turn_secret=SECRET, turn_urls=(url,))))
    grant = await verified_user(client)
    resp = await client.get("/api/calls/ice-servers", headers=bearer(grant))
    assert resp.status == 200, await resp.text()
    turn = next(s for s in (await resp.json())["ice_servers"] if "credential" in s)
    assert turn["urls"] == [url]

    assert _allocate(turn_port, turn["username"], turn["credential"]) == 200
    forged = issue_turn_credentials("not-the-secret", grant["user"]["id"], time.time(), 600)
    assert _allocate(turn_port, forged.username, forged.credential) == 401
    expired = issue_turn_credentials(SECRET, grant["user"]["id"], time.time() - 7200, 600)
    assert _allocate(turn_port, expired.username, expired.credential) == 401
