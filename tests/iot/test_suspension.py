"""A suspended account is suspended everywhere: every credential that leads to it (user API key, channel write and
read keys, TalkBack keys, MQTT writes) is refused with 403 (ThingSpeak's error shape on its routes,
`account_suspended` on /api and the WebSocket), and unsuspending gives everything back."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.auth.appkeys import accounts_key, suspension_changed_key
from server.config import Settings
from tests.helpers import PASSWORD, bearer, login, new_channel, new_email


async def admin_of(client: TestClient) -> dict[str, str]:
    email = new_email()
    await client.app[accounts_key].create_verified(email=email, password=PASSWORD, display_name="Op", role="admin")
    return bearer(await login(client, email))


async def set_suspended(client: TestClient, admin: dict[str, str], user_id: str, suspended: bool) -> None:
    action = "suspend" if suspended else "unsuspend"
    resp = await client.post(f"/api/admin/users/{user_id}/{action}", json={}, headers=admin)
    assert resp.status == 200, await resp.text()


async def new_talkback(client: TestClient, user_key: str) -> dict[str, Any]:
    resp = await client.post("/talkbacks.json", data={"api_key": user_key, "name": "Door"})
    return {"status": resp.status, **(await resp.json())}


def refused(status: int, body: Any) -> bool:
    return status == 403 and body["error"]["error_code"] == "error_forbidden" and "suspended" in str(body)


async def every_credential(client: TestClient, ch: dict[str, Any], talkback: dict[str, Any]) -> dict[str, Any]:
    """Each credential kind used once: what each answered (status, body)."""
    tb = f"/talkbacks/{talkback['id']}/commands"
    results: dict[str, Any] = {}

    async def call(name: str, method: str, url: str, **kwargs: Any) -> None:
        resp = await client.request(method, url, **kwargs)
        text = await resp.text()
        results[name] = (resp.status, await resp.json() if resp.content_type == "application/json" else text)

    await call("list channels (user key)", "GET", "/channels.json", params={"api_key": ch["user_key"]})
    await call("create channel (user key)", "POST", "/channels.json", json={"api_key": ch["user_key"], "name": "X"})
    await call("create talkback (user key)", "POST", "/talkbacks.json", data={"api_key": ch["user_key"], "name": "Y"})
    await call("write (write key, json)", "POST", "/update.json", data={"api_key": ch["write_key"], "field1": "1"})
    await call("write (write key, text)", "GET", "/update", params={"api_key": ch["write_key"], "field1": "1"})
    await call("read (read key)", "GET", f"/channels/{ch['id']}/feeds.json", params={"api_key": ch["read_key"]})
    await call("read (user key)", "GET", f"/channels/{ch['id']}/feeds.json", params={"api_key": ch["user_key"]})
    await call(
        "queue (talkback key)", "POST", f"{tb}.json", data={"api_key": talkback["api_key"], "command_string": "OPEN"}
    )
    await call("execute (talkback key)", "POST", f"{tb}/execute.json", data={"api_key": talkback["api_key"]})
    async with client.ws_connect("/ws") as ws:
        await ws.send_json({"type": "channel.subscribe", "id": "s", "channel_id": ch["id"], "api_key": ch["read_key"]})
        async with asyncio.timeout(10):
            frame = await ws.receive_json()
        results["live feed (read key)"] = (200 if "error" not in frame else 403, frame)
    return results


async def test_every_credential_of_a_suspended_account_is_refused_until_unsuspended(client: TestClient) -> None:
    ch = await new_channel(client)
    talkback = await new_talkback(client, ch["user_key"])
    admin = await admin_of(client)
    # A write first, so the write key sits in the key cache when the account is suspended.
    assert (await client.get("/update", params={"api_key": ch["write_key"], "field1": "0"})).status == 200

    await set_suspended(client, admin, ch["grant"]["user"]["id"], True)
    results = await every_credential(client, ch, talkback)
    for name, (status, body) in results.items():
        if name == "write (write key, text)":
            assert (status, body) == (403, "0"), name  # what firmware reads as "not written"
        elif name == "live feed (read key)":
            assert body["error"]["code"] == "account_suspended", body
        else:
            assert refused(status, body), (name, status, body)
    # Nothing was written or queued while suspended.
    entries = await client.app[accounts_key].repo.db.fetchval("SELECT count(*) FROM feeds")
    assert entries == 1

    await set_suspended(client, admin, ch["grant"]["user"]["id"], False)
    results = await every_credential(client, ch, talkback)
    for name, (status, body) in results.items():
        assert status in (200, 201), (name, status, body)


async def test_api_routes_answer_account_suspended_in_json(client: TestClient) -> None:
    ch = await new_channel(client)
    admin = await admin_of(client)
    await set_suspended(client, admin, ch["grant"]["user"]["id"], True)
    # Signing in says why; the session it had has ended.
    resp = await client.post("/api/auth/login", json={"email": ch["grant"]["user"]["email"], "password": PASSWORD})
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "account_suspended"
    assert (await client.get("/api/me/api-key", headers=bearer(ch["grant"]))).status == 401


async def test_suspension_reaches_the_key_cache_of_another_process(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL is not set (CI sets it)")
    settings = make_settings(redis_url=url)
    first = await aiohttp_client(create_app(settings))
    second = await aiohttp_client(create_app(settings))
    ch = await new_channel(first)
    admin = await admin_of(first)
    assert (await second.get("/update", params={"api_key": ch["write_key"], "field1": "0"})).status == 200  # cached

    heard = asyncio.Event()
    second.app[suspension_changed_key].connect(lambda user_id: heard.set())
    await set_suspended(first, admin, ch["grant"]["user"]["id"], True)
    async with asyncio.timeout(10):
        await heard.wait()
    assert (await second.get("/update", params={"api_key": ch["write_key"], "field1": "1"})).status == 403

    heard.clear()
    await set_suspended(first, admin, ch["grant"]["user"]["id"], False)
    async with asyncio.timeout(10):
        await heard.wait()
    assert (await second.get("/update", params={"api_key": ch["write_key"], "field1": "1"})).status == 200
