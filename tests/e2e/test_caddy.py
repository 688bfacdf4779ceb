"""The project's caddy/Caddyfile in front of the real server: headers, compression, WebSocket."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.server_process import (
    REPO_ROOT,
    ServerProcess,
    free_port,
    running_server,
    stop_process,
    tail,
    wait_for_http,
)

CADDYFILE = REPO_ROOT / "caddy" / "Caddyfile"
CADDY = shutil.which("caddy")
HOST = "127.0.0.1"
START_TIMEOUT = 20.0

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CADDY is None and not os.environ.get("CI"),
        reason="caddy is not installed; CI installs it",
    ),
]


@dataclass
class Caddy:
    proc: subprocess.Popen[bytes]
    url: str
    port: int
    log_path: Path


def _require_caddy() -> str:
    if CADDY is None:
        pytest.fail("CI is set but `caddy` is not on PATH: install Caddy v2 (apt-get install caddy)")
    return CADDY


def _caddy_version(caddy: str) -> tuple[int, int]:
    out = subprocess.run([caddy, "version"], capture_output=True, text=True, timeout=10, check=False).stdout
    match = re.search(r"v?(\d+)\.(\d+)", out)
    return (int(match[1]), int(match[2])) if match else (0, 0)


def _caddy_env(tmp_path: Path, site_port: int, upstream: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SITE_ADDRESS": f"http://{HOST}:{site_port}",
            "APP_UPSTREAM": upstream,
            "CADDY_ADMIN": f"{HOST}:{free_port()}",
            "HOME": str(tmp_path / "home"),
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
        }
    )
    return env


def _config_for_this_caddy(caddy: str, tmp_path: Path) -> Path:
    """The project's Caddyfile; on Caddy < 2.7 (Debian 12 ships 2.6) without `stream_close_delay`, which it lacks."""
    if _caddy_version(caddy) >= (2, 7):
        return CADDYFILE
    lines = CADDYFILE.read_text().splitlines(keepends=True)
    kept = [line for line in lines if line.split()[:1] != ["stream_close_delay"]]
    assert len(kept) == len(lines) - 1, "expected exactly one stream_close_delay line in the Caddyfile"
    copy = tmp_path / "Caddyfile"
    copy.write_text("".join(kept))
    return copy


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("app")) as server:
        yield server


@pytest.fixture(scope="module")
def caddy(app: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Caddy]:
    binary = _require_caddy()
    tmp_path = tmp_path_factory.mktemp("caddy")
    config = _config_for_this_caddy(binary, tmp_path)
    port = free_port()
    log_path = tmp_path / "caddy.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [binary, "run", "--config", str(config), "--adapter", "caddyfile"],
            cwd=tmp_path,
            env=_caddy_env(tmp_path, port, f"{HOST}:{app.port}"),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://{HOST}:{port}"
    try:
        if wait_for_http(f"{url}/healthz", START_TIMEOUT, proc) is None:
            pytest.fail(f"caddy did not serve {url}/healthz (exit code {proc.poll()}); log tail:\n{tail(log_path)}")
        yield Caddy(proc, url, port, log_path)
    finally:
        stop_process(proc)


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - http://127.0.0.1 only
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        # urllib never decompresses, so Content-Encoding and the raw bytes are what Caddy sent.
        return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()


def test_caddyfile_adapts_on_this_caddy(tmp_path: Path) -> None:
    binary = _require_caddy()
    config = _config_for_this_caddy(binary, tmp_path)
    result = subprocess.run(
        [binary, "adapt", "--config", str(config), "--adapter", "caddyfile"],
        env=_caddy_env(tmp_path, free_port(), f"{HOST}:{free_port()}"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    adapted = json.loads(result.stdout)
    proxy = json.dumps(adapted)
    assert '"handler": "reverse_proxy"' in proxy
    assert '"uri": "/healthz"' in proxy
    assert '"flush_interval": -1' in proxy
    # No warnings: a deprecated or redundant directive shows up here first.
    warnings = [line for line in result.stderr.splitlines() if '"level":"warn"' in line or '"level":"error"' in line]
    assert not warnings, "\n".join(warnings)


def test_healthz_through_caddy_has_app_json_and_caddy_headers(app: ServerProcess, caddy: Caddy) -> None:
    status, headers, body = _get(f"{caddy.url}/healthz")
    assert status == 200
    proxied = json.loads(body)
    _, _, direct_body = _get(f"{app.url}/healthz")
    direct = json.loads(direct_body)
    assert isinstance(proxied, dict)
    assert proxied.keys() == direct.keys(), (proxied, direct)
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("strict-transport-security", "").startswith("max-age=")
    assert headers.get("referrer-policy") == "no-referrer"
    assert "server" not in headers, headers.get("server")


@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
def test_compressible_response_is_compressed(app: ServerProcess, caddy: Caddy, encoding: str) -> None:
    _, _, direct = _get(f"{app.url}/", {"Accept-Encoding": "identity"})
    assert len(direct) >= 1024, f"GET / should serve the PWA's index.html; got {len(direct)} bytes"
    status, headers, body = _get(f"{caddy.url}/", {"Accept-Encoding": encoding})
    assert status == 200
    assert headers.get("content-encoding") == encoding, headers
    assert "accept-encoding" in headers.get("vary", "").lower()
    assert len(body) < len(direct)
    if encoding == "gzip":
        assert gzip.decompress(body) == direct
    else:
        assert body[:4] == b"\x28\xb5\x2f\xfd"  # the zstd frame magic number


def test_uncompressed_when_not_asked(caddy: Caddy) -> None:
    status, headers, _ = _get(f"{caddy.url}/", {"Accept-Encoding": "identity"})
    assert status == 200
    assert "content-encoding" not in headers


async def _ping_over_websocket(url: str) -> dict[str, object]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.ws_connect(url, heartbeat=None) as ws:
        await ws.send_json({"type": "ping", "id": "1"})
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            message = await ws.receive(timeout=5)
            if message.type is not aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"expected a text frame, got {message.type} {message.data!r} {message.extra!r}")
            frame: dict[str, object] = json.loads(message.data)
            # Skip unsolicited server pushes (hello, presence...) until the reply to our command.
            if frame.get("id") == "1" or frame.get("type") == "pong":
                return frame
        raise AssertionError("no pong within 5 s")


def test_websocket_round_trip_through_caddy(caddy: Caddy) -> None:
    frame = asyncio.run(_ping_over_websocket(f"ws://{HOST}:{caddy.port}/ws"))
    assert frame.get("type") == "pong", frame
    assert frame.get("id") == "1", frame
