"""The access log and the lean answers of device routes: a device write's quick success is counted into a
summary line per route instead of a line per request, its errors and slow answers are logged one by one as
every other request is, and its answer carries no headers meant for pages."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import Settings
from server.keys import metrics_key
from server.web.request_id import access_log_key
from tests.helpers import new_channel


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [vars(r) for r in caplog.records if r.name == "server.access"]


async def test_device_writes_are_summarised_and_their_errors_logged_one_by_one(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="server.access")
    channel = await new_channel(client)
    client.app[access_log_key].flush()  # the channel's creation (a device route too)
    caplog.clear()
    for value in range(5):
        resp = await client.post("/update", data={"api_key": channel["write_key"], "field1": str(value)})
        assert resp.status == 200
    refused = await client.post("/update", data={"api_key": "NOT-A-KEY", "field1": "1"})
    assert refused.status == 401
    await client.get("/healthz")  # not a device route: a line of its own

    lines = access_lines(caplog)
    assert [(r["route"], r["status"]) for r in lines] == [("/update", 401), ("/healthz", 200)]

    caplog.clear()
    client.app[access_log_key].flush()
    [summary] = access_lines(caplog)
    assert summary["route"] == "/update"
    assert summary["method"] == "POST"
    assert summary["status"] == 200
    assert summary["count"] == 5
    assert summary["ms_max"] >= summary["ms_avg"] > 0
    caplog.clear()
    client.app[access_log_key].flush()
    assert access_lines(caplog) == []  # each request is summarised once

    # Metrics count every request, summarised or not.
    text = client.app[metrics_key].exposition().decode()
    assert 'http_requests_total{method="POST",route="/update",status="200"} 5.0' in text
    assert 'http_requests_total{method="POST",route="/update",status="401"} 1.0' in text
    assert 'http_request_duration_seconds_count{method="POST",route="/update"} 6.0' in text


async def test_slow_device_answers_and_a_summary_interval_of_zero_log_each_request(
    aiohttp_client: Any, make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="server.access")
    for settings in (make_settings(access_log_slow_ms=1.0e-6), make_settings(access_log_summary_seconds=0)):
        client = await aiohttp_client(create_app(settings))
        channel = await new_channel(client)
        caplog.clear()
        for value in range(3):
            assert (await client.get(f"/update?api_key={channel['write_key']}&field1={value}")).status == 200
        lines = access_lines(caplog)
        assert [(r["route"], r["status"]) for r in lines] == [("/update", 200)] * 3
        assert all(r["ms"] >= 0 for r in lines)
        await client.close()


async def test_a_device_answer_is_small_and_carries_no_page_headers(client: TestClient) -> None:
    channel = await new_channel(client)
    resp = await client.get(f"/update?api_key={channel['write_key']}&field1=21.5")
    assert await resp.text() == "1"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    for page_header in ("Content-Security-Policy", "X-Frame-Options", "Permissions-Policy", "Referrer-Policy"):
        assert page_header not in resp.headers
    assert len(resp.headers["X-Request-ID"]) == 16
    size = sum(len(name) + len(value) + 4 for name, value in resp.raw_headers)
    assert size < 300, resp.raw_headers
    # A JSONP read is a script, but still a device's answer: no page headers either.
    resp = await client.get(f"/channels/{channel['id']}/feeds.json?api_key={channel['read_key']}&callback=show")
    assert resp.content_type == "application/javascript"
    assert "Content-Security-Policy" not in resp.headers
