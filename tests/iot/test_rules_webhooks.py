"""Rule webhooks against misbehaving servers on loopback: a huge answer is delivered and read only up to the cap,
a redirect is a failure, a rule owner's calls run a bounded number at once, and an address that wraps a private
IPv4 one is refused when the rule is saved."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import Settings
from server.iot.appkeys import rule_engine_key
from tests.helpers import new_channel
from tests.iot.test_rules import at, create_rule, events, settle, threshold, update
from tests.web.test_outbound import HugeAnswer, huge_server


async def private_client(aiohttp_client: Any, make_settings: Callable[..., Settings], **settings: Any) -> TestClient:
    client: TestClient = await aiohttp_client(create_app(make_settings(webhook_allow_private=True, **settings)))
    return client


async def hook_rule(client: TestClient, url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    owner = await new_channel(client)
    actions = [{"type": "webhook", "url": url}]
    rule = await create_rule(client, owner, kind="threshold", config=threshold(), actions=actions)
    return owner, rule


async def test_a_huge_answer_is_a_delivery_read_only_up_to_the_cap(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings]
) -> None:
    client = await private_client(aiohttp_client, make_settings, outbound_max_reply_bytes=4096)
    huge = HugeAnswer()
    owner, rule = await hook_rule(client, await huge_server(aiohttp_server, huge))
    await update(client, owner, field1="31")

    assert (await events(client, owner, rule))[-1]["detail"] == {"type": "webhook", "status": 200, "attempts": 1}
    await huge.wait()
    assert huge.hung_up  # the server saw the connection closed before its answer ended
    assert huge.sent < huge.total // 2


async def test_a_redirect_is_not_a_delivery(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings]
) -> None:
    client = await private_client(aiohttp_client, make_settings)
    calls = []

    async def moved(request: web.Request) -> web.Response:
        calls.append(request.path)
        return web.Response(status=302, headers={"Location": "/elsewhere"})

    app = web.Application()
    app.router.add_post("/hook", moved)
    app.router.add_post("/elsewhere", moved)
    server = await aiohttp_server(app, host="127.0.0.1")
    owner, rule = await hook_rule(client, str(server.make_url("/hook")))
    await update(client, owner, field1="31")

    failed = (await events(client, owner, rule))[-1]
    assert failed["kind"] == "action_failed"
    assert failed["detail"]["attempts"] == 1  # not retried: it would answer the same
    assert "302, a redirect" in failed["detail"]["error"]
    assert calls == ["/hook"]  # and not followed


async def test_a_rule_owners_webhooks_run_a_bounded_number_at_once(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings]
) -> None:
    client = await private_client(aiohttp_client, make_settings, outbound_max_in_flight_per_user=2)
    gate = asyncio.Event()
    now, most, done = 0, 0, 0

    async def slow(request: web.Request) -> web.Response:
        nonlocal now, most, done
        now += 1
        most = max(most, now)
        try:
            await gate.wait()
        finally:
            now -= 1
            done += 1
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", slow)
    server = await aiohttp_server(app, host="127.0.0.1")
    owner, rule = await hook_rule(client, str(server.make_url("/hook")))
    # Ten crossings in one upload: ten webhook calls at once, of which two may run.
    updates = [{"created_at": at(t), "field1": "31" if t % 2 == 0 else "20"} for t in range(20)]
    resp = await client.post(
        f"/channels/{owner['id']}/bulk_update.json", json={"write_api_key": owner["write_key"], "updates": updates}
    )
    assert resp.status == 202
    limiter = client.app[rule_engine_key].actions.webhooks.limiter
    for _ in range(1000):
        if (now, limiter.in_flight, limiter.waiting) == (2, 2, 8):
            break
        await asyncio.sleep(0.01)
    assert (now, limiter.in_flight, limiter.waiting) == (2, 2, 8)
    gate.set()
    await settle(client)

    assert (most, done) == (2, 10)
    delivered = [e for e in await events(client, owner, rule) if e["kind"] == "action"]
    assert [e["detail"]["status"] for e in delivered] == [204] * 10


async def test_a_webhook_to_a_wrapped_private_address_is_refused(client: TestClient) -> None:
    owner = await new_channel(client)
    for host in ("[2002:7f00:1::]", "[2002:a9fe:a9fe::]", "[64:ff9b::a00:1]", "[2001:0:4136:e378:8000:63bf:f5ff:fffe]"):
        body = await create_rule(
            client,
            owner,
            400,
            kind="threshold",
            config=threshold(),
            actions=[{"type": "webhook", "url": f"http://{host}:8080/hook"}],
        )
        assert body["error"]["field"] == "actions[0].url", body
