"""Health, readiness and metrics."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from server.keys import database_key


async def test_healthz_and_readyz(client: TestClient) -> None:
    assert await (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["status"] == "ready"


async def test_readyz_fails_when_database_is_gone(client: TestClient) -> None:
    await client.app[database_key].close()
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert (await resp.json())["error"]["code"] == "not_ready"
    assert (await client.get("/healthz")).status == 200


async def test_metrics(client: TestClient) -> None:
    await client.get("/healthz")
    await client.get("/api/missing")
    async with client.ws_connect("/ws") as ws:
        await ws.send_json({"type": "ping", "id": 1})
        await ws.receive_json()
        text = await (await client.get("/metrics")).text()
    assert 'http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'route="unmatched",status="404"' in text
    assert 'http_request_duration_seconds_bucket{le="0.005",method="GET",route="/healthz"}' in text
    assert "websocket_connections 1.0" in text
    assert "database_pool{" in text
    # No path of the unmatched request leaks into labels.
    assert "/api/missing" not in text
