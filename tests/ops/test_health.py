"""Health, readiness and metrics."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from server.keys import database_key, metrics_key
from server.ops.metrics import metrics_app


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


async def test_metrics_are_served_on_their_own_listener_only(client: TestClient, aiohttp_client: Any) -> None:
    metrics = await aiohttp_client(metrics_app(client.app[metrics_key]))
    await client.get("/healthz")
    await client.get("/api/missing")
    assert (await client.get("/metrics")).status == 404  # the public listener has no metrics
    async with client.ws_connect("/ws") as ws:
        await ws.send_json({"type": "ping", "id": 1})
        await ws.receive_json()
        answer = await metrics.get("/metrics")
        assert answer.status == 200
        text = await answer.text()
    assert 'http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'route="unmatched",status="404"' in text
    assert 'http_request_duration_seconds_bucket{le="0.005",method="GET",route="/healthz"}' in text
    assert "websocket_connections 1.0" in text
    assert "database_pool{" in text
    # No path of the unmatched request leaks into labels.
    assert "/api/missing" not in text
