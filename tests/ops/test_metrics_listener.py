"""The real process serves GET /metrics on METRICS_PORT only; the public port refuses it."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.server_process import HOST, free_port, running_server

pytestmark = pytest.mark.slow


def test_metrics_on_their_own_listener_and_not_on_the_public_one(tmp_path: Path) -> None:
    metrics_port = free_port()
    with running_server(tmp_path, env={"METRICS_PORT": str(metrics_port)}) as server:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(server.url + "/metrics", timeout=10)  # noqa: S310 - our own http:// URL
        refused.value.close()
        assert refused.value.code == 404
        with urllib.request.urlopen(f"http://{HOST}:{metrics_port}/metrics", timeout=10) as answer:
            text = answer.read().decode()
    assert "websocket_connections 0.0" in text
    assert 'http_requests_total{method="GET",route="/healthz",status="200"}' in text
