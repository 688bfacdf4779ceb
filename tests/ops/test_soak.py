"""The soak benchmark's core (bench/soak.py) for 10 seconds on SQLite: the mixed load runs against the real
server, nothing acknowledged is lost, and the samples hold sane values. Latencies are never asserted: machines
are shared and noisy."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.e2e.server_process import REPO_ROOT


def _soak_module() -> ModuleType:
    """bench/soak.py, imported by its path (bench/ is not a package; the module puts bench/ on sys.path itself)."""
    if "soak" in sys.modules:
        return sys.modules["soak"]
    spec = importlib.util.spec_from_file_location("soak", REPO_ROOT / "bench" / "soak.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["soak"] = module  # its dataclasses look their module up while they are made
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.timeout(40)
def test_a_short_soak_loses_nothing_and_samples_the_server(tmp_path: Path) -> None:
    soak = _soak_module()
    load = soak.Load()
    with soak.started_server(tmp_path, load) as setup:
        result = asyncio.run(soak.soak(setup, 10, 2.5, load))

    assert result.lost == []
    assert dict(result.failures) == {}
    assert result.acknowledged["points"] > 0
    assert result.acknowledged["messages"] > 0
    assert result.acknowledged["connections"] > 0
    assert len(result.samples) == 4
    busy = ["update", "chat_ack", "chat_delivery", "synced", "live"] + (["mqtt_live"] if setup.mqtt_url else [])
    for sample in result.samples:
        assert 10 < sample.rss_mb < 8192
        assert 10 < sample.fds < 10_000
        assert 1 <= sample.threads < 1000
        for kind in busy:  # every interval saw every steady kind of operation
            assert sample.count[kind] > 0, kind
            assert 0 <= sample.p50_ms[kind] <= sample.p99_ms[kind], kind
    # The verdict compares the last third with the second third: RSS, fds, threads and p99s are all judged.
    judged = {what for _, what, _ in result.verdict}
    assert {"RSS flat", "fds flat", "threads flat", "update p99 flat"} <= judged

    soak.write_json(result, tmp_path / "soak.json", {"database": "sqlite"})
    written = json.loads((tmp_path / "soak.json").read_text())
    assert len(written["samples"]) == 4
    assert written["lost"] == []
    if importlib.util.find_spec("matplotlib") is not None:
        soak.write_plot(result.samples, tmp_path / "soak.svg", "soak")
        assert "<svg" in (tmp_path / "soak.svg").read_text()
