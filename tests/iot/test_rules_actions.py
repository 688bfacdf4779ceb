"""Rule actions people see: an alert on every WebSocket of the owner and in their mailbox, and webhooks (with
retries) to a loopback server when private addresses are allowed, refused when they are not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from server.app import create_app
from server.auth.appkeys import mailer_key
from server.config import Settings
from server.iot.appkeys import rule_engine_key
from tests.conftest import body_of
from tests.fakes import Outbox
from tests.helpers import new_channel
from tests.iot.test_rules import create_rule, events, kinds_of, threshold, update


async def next_alert(ws: Any) -> dict[str, Any]:
    for _ in range(20):
        frame: dict[str, Any] = await ws.receive_json(timeout=5)
        if frame.get("type") == "alert":
            return frame
    raise AssertionError("no alert frame")


async def test_alert_reaches_every_websocket_of_the_owner_and_their_mailbox(
    aiohttp_client: Any, settings: Settings
) -> None:
    outbox = Outbox()  # what the mail says is the point here, not SMTP (the account tests cover that)
    client = await aiohttp_client(create_app(settings, overrides={mailer_key: outbox}))
    owner = await new_channel(client)
    sockets = []
    for n in range(2):
        ws = await client.ws_connect("/ws")
        await ws.send_json({"type": "auth", "id": n, "token": owner["grant"]["access_token"]})
        assert (await ws.receive_json(timeout=5))["type"] == "result"
        sockets.append(ws)
    rule = await create_rule(
        client, owner, name="Too hot", kind="threshold", config=threshold(), actions=[{"type": "alert"}]
    )
    await update(client, owner, field1="31.5")
    await update(client, owner, field1="33")  # still above: no second alert

    for ws in sockets:
        frame = await next_alert(ws)
        assert frame["rule_id"] == rule["id"]
        assert frame["channel_id"] == owner["id"]
        assert frame["event"] == "triggered"
        assert frame["value"] == 31.5
        assert frame["message"] == "Too hot: field1 is above 30: 31.5"
        await ws.close()

    email = owner["grant"]["user"]["email"]
    message = await outbox.wait_for(email)
    assert message["Subject"] == "Alert: Too hot"
    assert "Too hot: field1 is above 30: 31.5" in body_of(message)
    assert len(outbox.to(email)) == 1
    assert kinds_of(await events(client, owner, rule)) == ["triggered", "action", "action"]  # alert, then its mail


def webhook_server() -> tuple[web.Application, list[dict[str, Any]], list[int]]:
    received: list[dict[str, Any]] = []
    answers: list[int] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=answers.pop(0) if answers else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    return app, received, answers


async def test_webhook_is_called_and_retried_when_private_addresses_are_allowed(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings]
) -> None:
    client = await aiohttp_client(create_app(make_settings(webhook_allow_private=True)))
    client.app[rule_engine_key].actions.webhooks.backoff = 0.01
    hook_app, received, answers = webhook_server()
    server: TestServer = await aiohttp_server(hook_app)
    owner = await new_channel(client)
    rule = await create_rule(
        client,
        owner,
        name="Hook",
        kind="threshold",
        config=threshold(),
        actions=[{"type": "webhook", "url": str(server.make_url("/hook"))}],
    )
    answers.extend([503, 500])  # two failures, then success
    await update(client, owner, field1="31", field2="7")

    assert len(received) == 3
    payload = received[-1]
    assert payload["rule_id"] == rule["id"]
    assert (payload["event"], payload["value"], payload["channel_id"]) == ("triggered", 31, owner["id"])
    assert payload["fields"] == {"field1": 31, "field2": 7}
    found = await events(client, owner, rule)
    assert found[-1]["kind"] == "action"
    assert found[-1]["detail"] == {"type": "webhook", "status": 200, "attempts": 3}

    # A webhook that keeps failing gives up after three attempts and says so.
    answers.extend([500, 500, 500])
    await update(client, owner, field1="20")
    await update(client, owner, field1="35")
    failed = (await events(client, owner, rule))[-1]
    assert failed["kind"] == "action_failed"
    assert failed["detail"]["attempts"] == 3
    assert "500" in failed["detail"]["error"]


async def test_webhook_to_a_private_address_is_refused_by_default(client: TestClient, aiohttp_server: Any) -> None:
    hook_app, received, _ = webhook_server()
    server: TestServer = await aiohttp_server(hook_app)
    owner = await new_channel(client)
    # A literal loopback address is refused when the rule is saved; a name is checked when it is called.
    resp = await client.post(
        f"/api/channels/{owner['id']}/rules",
        json={
            "name": "x",
            "kind": "threshold",
            "config": threshold(),
            "actions": [{"type": "webhook", "url": str(server.make_url("/hook"))}],
        },
        headers={"Authorization": f"Bearer {owner['grant']['access_token']}"},
    )
    assert resp.status == 400
    rule = await create_rule(
        client,
        owner,
        kind="threshold",
        config=threshold(),
        actions=[{"type": "webhook", "url": f"http://localhost:{server.port}/hook"}],
    )
    await update(client, owner, field1="31")
    assert received == []
    failed = (await events(client, owner, rule))[-1]
    assert failed["kind"] == "action_failed"
    assert failed["detail"]["error"].startswith("refused: localhost resolves to")
    assert "loopback" in failed["detail"]["error"]
