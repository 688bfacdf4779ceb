"""The Grafana dashboard in ops/ queries only metrics a real /metrics exposition has, through the datasource
Grafana is provisioned with."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from server.keys import metrics_key
from server.ops.metrics import metrics_app
from tests.helpers import new_channel

OPS = Path(__file__).resolve().parents[2] / "ops"
DASHBOARD = OPS / "grafana" / "dashboards" / "realtime-server.json"

# PromQL's words that are not metric names (functions are recognised by the parenthesis after them).
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads."""
    bare = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    bare = re.sub(r"\[[^\]]*\]", "", bare)  # ranges, Grafana's $__rate_interval included
    bare = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", "", bare)  # label lists
    names = re.findall(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", bare)
    return {name for name in names if name not in _KEYWORDS}


def dashboard_targets() -> list[dict[str, Any]]:
    board = json.loads(DASHBOARD.read_text())
    return [target for panel in board["panels"] for target in panel.get("targets", [])]


def test_metric_names_are_found_in_promql() -> None:
    expr = 'histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{a=~"5.."}[5m])))'
    assert metric_names(expr) == {"http_request_duration_seconds_bucket"}
    assert metric_names("sum by (writer) (rate(a_total[$__rate_interval])) / sum(b)") == {"a_total", "b"}


async def test_every_metric_the_dashboard_queries_is_in_the_exposition(client: TestClient, aiohttp_client: Any) -> None:
    metrics = await aiohttp_client(metrics_app(client.app[metrics_key]))
    channel = await new_channel(client)  # requests, statements and a batch, so every family has samples
    assert (await client.post("/update", data={"api_key": channel["write_key"], "field1": "1"})).status == 200
    exposition = await (await metrics.get("/metrics")).text()
    exposed = {sample.name for family in text_string_to_metric_families(exposition) for sample in family.samples}

    targets = dashboard_targets()
    queried = set().union(*(metric_names(target["expr"]) for target in targets))
    assert len(queried) >= 10
    assert queried - exposed == set()
    for family in ("database_slow_statements_total", "database_pool", "batch_writer_queued_rows"):
        assert family in queried


def test_the_dashboard_uses_the_provisioned_datasource() -> None:
    provisioned = yaml.safe_load((OPS / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    [datasource] = provisioned["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    for target in dashboard_targets():
        assert target["datasource"] == {"type": "prometheus", "uid": datasource["uid"]}
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] == "realtime-server"
    assert len({panel["id"] for panel in board["panels"]}) == len(board["panels"])
