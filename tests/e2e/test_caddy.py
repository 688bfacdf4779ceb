"""The project's caddy/Caddyfile in front of the real server: headers, compression, WebSocket, and the raw HTTP
that device sketches write by hand (bare line feeds, HTTP/1.0, no version at all)."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import shutil
import socket
import subprocess
import sys
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
    server_env,
    stop_process,
    tail,
    wait_for_http,
)

CADDYFILE = REPO_ROOT / "caddy" / "Caddyfile"
CADDY = shutil.which("caddy")
HOST = "127.0.0.1"
START_TIMEOUT = 20.0
ADMIN_EMAIL = "admin@example.test"
ADMIN_PASSWORD = "a long admin password"

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
    tmp_path = tmp_path_factory.mktemp("app")
    # An account to own a channel for the raw writes, made the way an operator makes the first one.
    subprocess.run(
        [sys.executable, "-m", "server", "create-admin", "--email", ADMIN_EMAIL],
        cwd=REPO_ROOT,
        env=server_env(tmp_path, free_port(), {"ADMIN_PASSWORD": ADMIN_PASSWORD}),
        check=True,
        capture_output=True,
        timeout=60,
    )
    with running_server(tmp_path) as server:
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


def test_the_crypto_wasm_is_compressed(app: ServerProcess, caddy: Caddy) -> None:
    """Caddy's default types leave out application/wasm; the Caddyfile names it (7.8 MB goes out as ~2 MB)."""
    url = "/static/vendor/matrix-sdk-crypto-wasm/pkg/matrix_sdk_crypto_wasm_bg.wasm"
    _, direct_headers, direct = _get(f"{app.url}{url}", {"Accept-Encoding": "identity"})
    assert direct_headers["content-type"] == "application/wasm"
    status, headers, body = _get(f"{caddy.url}{url}", {"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers.get("content-encoding") == "gzip", headers
    assert len(body) < len(direct) // 2
    assert gzip.decompress(body) == direct


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


# -- raw HTTP as Arduino sketches write it ------------------------------------------------------------------


def _json_request(method: str, url: str, body: dict[str, object], token: str | None = None) -> dict[str, object]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method=method)  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - http://127.0.0.1 only
        answer: dict[str, object] = json.loads(response.read())
        return answer


@pytest.fixture(scope="module")
def channel(caddy: Caddy) -> tuple[int, str, str]:
    """(id, write key, read key) of a channel owned by the admin."""
    grant = _json_request("POST", f"{caddy.url}/api/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    token = grant["access_token"]
    assert isinstance(token, str)
    made = _json_request("POST", f"{caddy.url}/channels.json", {"name": "sketch", "field1": "Reading"}, token)
    keys = made["api_keys"]
    assert isinstance(keys, list)
    write = next(k["api_key"] for k in keys if k["write_flag"])
    read = next(k["api_key"] for k in keys if not k["write_flag"])
    channel_id = made["id"]
    assert isinstance(channel_id, int)
    return channel_id, write, read


def _raw(port: int, request: bytes) -> tuple[str, bytes]:
    """Send `request` as it is over a new TCP connection; (status line, body) of the answer."""
    with socket.create_connection((HOST, port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        if length is None:  # no length: the body runs to the end of the connection
            while chunk := sock.recv(65536):
                body += chunk
        while length is not None and len(body) < int(length[1]):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return head.split(b"\r\n", 1)[0].decode(), body


def _stored(caddy: Caddy, channel: tuple[int, str, str]) -> list[str]:
    channel_id, _, read_key = channel
    _, _, body = _get(f"{caddy.url}/channels/{channel_id}/feeds.json?api_key={read_key}&results=100")
    return [entry["field1"] for entry in json.loads(body)["feeds"]]


# (name, request with {key} and {value}, Caddy's status line, Caddy's own body when the app never sees it, else
# None: the app answers the entry id and stores the value)
RAW_FORMS = [
    (
        "crlf HTTP/1.1",
        b"GET /update?api_key={key}&field1={value} HTTP/1.1\r\nHost: {host}\r\n\r\n",
        "HTTP/1.1 200 OK",
        None,
    ),
    (
        "bare LF HTTP/1.1",
        b"GET /update?api_key={key}&field1={value} HTTP/1.1\nHost: {host}\n\n",
        "HTTP/1.1 200 OK",
        None,
    ),
    (
        "bare LF HTTP/1.0",
        b"GET /update?api_key={key}&field1={value} HTTP/1.0\nHost: {host}\n\n",
        "HTTP/1.0 200 OK",
        None,
    ),
    (
        "bare LF POST",
        b"POST /update HTTP/1.1\nHost: {host}\nContent-Type: application/x-www-form-urlencoded\n"
        b"Content-Length: {length}\n\n{body}",
        "HTTP/1.1 200 OK",
        None,
    ),
    (
        "CRLF and LF mixed",
        b"GET /update?api_key={key}&field1={value} HTTP/1.1\r\nHost: {host}\n\r\n",
        "HTTP/1.1 200 OK",
        None,
    ),
    # No version (HTTP/0.9): Go's HTTP server, so Caddy, refuses it before the app sees anything.
    ("no version, LF", b"GET /update?api_key={key}&field1={value}\n\n", "HTTP/1.1 400 Bad Request", b"400 Bad Request"),
    (
        "no version, CRLF",
        b"GET /update?api_key={key}&field1={value}\r\n\r\n",
        "HTTP/1.1 400 Bad Request",
        b"400 Bad Request",
    ),
    # HTTP/1.1 without Host is refused; HTTP/1.0 without Host matches no site: Caddy answers an empty 200 itself.
    (
        "HTTP/1.1 without Host",
        b"GET /update?api_key={key}&field1={value} HTTP/1.1\n\n",
        "HTTP/1.1 400 Bad Request: missing required Host header",
        b"400 Bad Request: missing required Host header",
    ),
    ("HTTP/1.0 without Host", b"GET /update?api_key={key}&field1={value} HTTP/1.0\n\n", "HTTP/1.0 200 OK", b""),
    # A ThingSpeak sketch's Host left as it was: no site matches either.
    (
        "ThingSpeak's Host",
        b"GET /update?api_key={key}&field1={value} HTTP/1.1\nHost: api.thingspeak.com\nConnection: close\n\n",
        "HTTP/1.1 200 OK",
        b"",
    ),
]


@pytest.mark.parametrize(("name", "template", "status_line", "caddy_body"), RAW_FORMS, ids=[f[0] for f in RAW_FORMS])
def test_raw_sketch_http_through_caddy(
    caddy: Caddy, channel: tuple[int, str, str], name: str, template: bytes, status_line: str, caddy_body: bytes | None
) -> None:
    _, write_key, _ = channel
    value = re.sub(r"[^A-Za-z0-9.-]+", "-", name)
    body = f"api_key={write_key}&field1={value}"
    request = (
        template.replace(b"{key}", write_key.encode())
        .replace(b"{value}", value.encode())
        .replace(b"{host}", HOST.encode())
        .replace(b"{length}", str(len(body)).encode())
        .replace(b"{body}", body.encode())
    )
    got_status, got_body = _raw(caddy.port, request)
    assert got_status == status_line
    if caddy_body is None:
        assert got_body.isdigit(), got_body  # the app's answer: the new entry's id
        assert value in _stored(caddy, channel)
    else:
        assert got_body == caddy_body
        assert value not in _stored(caddy, channel)


def test_the_app_alone_refuses_bare_line_feeds(app: ServerProcess, channel: tuple[int, str, str]) -> None:
    # Why the README sends such sketches through Caddy (or tells them to write CRLF).
    _, write_key, _ = channel
    status_line, _ = _raw(app.port, f"GET /update?api_key={write_key}&field1=1 HTTP/1.1\nHost: {HOST}\n\n".encode())
    assert status_line.split()[1] == "400"
