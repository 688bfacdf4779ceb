"""The IoT dashboard's files: uPlot from node_modules at two fixed URLs, and a service worker that can install."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from server.web import static

ROOT = Path(__file__).resolve().parents[2]
VENDOR_INSTALLED = all((static.NODE_MODULES / relative).is_file() for relative in static.VENDOR.values())
# Skipped on a machine without npm; never in CI, where `make test` installs it and a miss must fail.
needs_npm = pytest.mark.skipif(
    not VENDOR_INSTALLED and not os.environ.get("CI"), reason="node_modules/uplot is missing: run `npm ci`"
)


def precached_urls() -> list[str]:
    sw = (ROOT / "pwa" / "sw.js").read_text()
    start = sw.index("const PRECACHE = [")
    return re.findall(r"'(/[^']*)'", sw[start : sw.index("];", start)])


@needs_npm
async def test_uplot_is_served_with_javascript_and_css_types(client: TestClient) -> None:
    js = await client.get("/static/vendor/uPlot.iife.min.js")
    assert js.status == 200
    assert js.content_type == "text/javascript"
    assert "max-age" in js.headers["Cache-Control"]
    assert "uPlot" in await js.text()
    css = await client.get("/static/vendor/uPlot.min.css")
    assert css.status == 200
    assert css.content_type == "text/css"
    assert "max-age" in css.headers["Cache-Control"]
    assert ".uplot" in await css.text()


@needs_npm
async def test_the_end_to_end_crypto_is_served_in_its_packages_layout(client: TestClient) -> None:
    base = "/static/vendor/matrix-sdk-crypto-wasm/"
    module = await client.get(base + "index.mjs")
    assert module.status == 200
    assert module.content_type == "text/javascript"
    assert "./pkg/matrix_sdk_crypto_wasm_bg.js" in await module.text()  # what it imports, relative to itself
    bindings = await client.get(base + "pkg/matrix_sdk_crypto_wasm_bg.js")
    assert bindings.status == 200
    assert bindings.content_type == "text/javascript"
    wasm = await client.get(base + "pkg/matrix_sdk_crypto_wasm_bg.wasm")
    assert wasm.status == 200
    assert wasm.content_type == "application/wasm"  # instantiateStreaming refuses any other type
    assert (await wasm.read())[:4] == b"\0asm"
    assert "max-age" in wasm.headers["Cache-Control"]
    assert base + "pkg/matrix_sdk_crypto_wasm_bg.wasm" not in precached_urls()  # 2 MB only for who uses it


async def test_only_the_named_vendor_files_are_served(client: TestClient) -> None:
    for path in (
        "/static/vendor/matrix-sdk-crypto-wasm/package.json",
        "/static/vendor/matrix-sdk-crypto-wasm/index.cjs",
        "/static/vendor/matrix-sdk-crypto-wasm/pkg/../index.mjs/../../../../run.py",
        "/static/vendor/@matrix-org/matrix-sdk-crypto-wasm/index.mjs",
        "/static/vendor/uPlot.esm.js",
        "/static/vendor/package.json",
        "/static/vendor/..%2F..%2Frun.py",
        "/static/vendor/",
        "/node_modules/uplot/dist/uPlot.iife.min.js",
    ):
        resp = await client.get(path)
        assert resp.status == 404, path


async def test_missing_node_modules_is_a_404(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(static, "NODE_MODULES", tmp_path / "node_modules")
    resp = await client.get("/static/vendor/uPlot.iife.min.js")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"


@needs_npm
async def test_every_precached_url_answers(client: TestClient) -> None:
    urls = precached_urls()
    dashboard = ("/js/iot/channels.js", "/js/iot/channel.js", "/js/iot/chart.js", "/js/iot/live.js")
    for url in (*dashboard, "/static/vendor/uPlot.iife.min.js"):
        assert url in urls
    for url in urls:
        resp = await client.get(url)
        assert resp.status == 200, url
        assert resp.content_type != "application/octet-stream", url


def test_every_module_of_the_app_is_precached() -> None:
    # A module left out works online but breaks the app offline, where its import fails.
    modules = {f"/{path.relative_to(ROOT / 'pwa').as_posix()}" for path in (ROOT / "pwa" / "js").rglob("*.js")}
    assert modules
    # ...and none listed that no longer exists (the install would fail on it).
    assert {url for url in precached_urls() if url.startswith("/js/")} == modules


def test_the_dashboard_needs_no_inline_script_or_style() -> None:
    # The CSP allows neither: no style attributes, no inline handlers, no HTML parsing in the modules.
    for path in [*(ROOT / "pwa" / "js").rglob("*.js"), ROOT / "pwa" / "app.js"]:
        source = path.read_text()
        assert "innerHTML" not in source, path
        assert "'style'" not in source, path
        assert "insertAdjacentHTML" not in source, path
