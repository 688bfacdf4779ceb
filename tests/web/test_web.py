"""The web layer: JSON errors everywhere, security headers, request ids, the app's files with fitting headers."""

from __future__ import annotations

from aiohttp.test_utils import TestClient


async def test_unknown_route_and_method_are_json(client: TestClient) -> None:
    resp = await client.get("/api/nothing-here")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"
    resp = await client.get("/api/auth/login")
    assert resp.status == 405
    assert (await resp.json())["error"]["code"] == "method_not_allowed"
    assert "POST" in resp.headers["Allow"]


async def test_security_headers_on_pages(client: TestClient) -> None:
    for path in ("/", "/app.js", "/sw.js", "/static/icons/favicon.svg"):
        resp = await client.get(path)
        assert resp.status == 200, path
        csp = resp.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self' 'wasm-unsafe-eval';" in csp
        # Scripts may connect to this site only (its WebSocket included), not to any ws:/wss: host.
        connect = next(d.split()[1:] for d in csp.split(";") if d.split()[0] == "connect-src")
        assert connect == ["'self'", "ws://testserver.local"]
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        assert resp.headers["X-Frame-Options"] == "DENY"


async def test_answers_that_are_not_pages_carry_only_nosniff(client: TestClient) -> None:
    for path in ("/healthz", "/api/nothing", "/static/app.css", "/manifest.webmanifest"):
        resp = await client.get(path)
        assert resp.headers["X-Content-Type-Options"] == "nosniff", path
        assert "Content-Security-Policy" not in resp.headers, path
        assert "X-Frame-Options" not in resp.headers, path
    assert (await client.get("/api/nothing")).headers["Cache-Control"] == "no-store"


async def test_request_id_is_kept_or_made(client: TestClient) -> None:
    resp = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert resp.headers["X-Request-ID"] == "abc-123"
    made = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["X-Request-ID"] != "bad id with spaces"
    assert len(made.headers["X-Request-ID"]) == 16
    missing = await client.get("/api/none")
    assert len(missing.headers["X-Request-ID"]) == 16


async def test_pwa_files_have_types_and_cache_headers(client: TestClient) -> None:
    index = await client.get("/")
    assert index.status == 200
    assert index.content_type == "text/html"
    assert index.headers["Cache-Control"] == "no-cache"
    manifest = await client.get("/manifest.webmanifest")
    assert manifest.status == 200
    assert manifest.content_type == "application/manifest+json"
    sw = await client.get("/sw.js")
    assert sw.status == 200
    assert sw.content_type == "text/javascript"
    assert sw.headers["Cache-Control"] == "no-cache"
    app_js = await client.get("/app.js")
    assert app_js.content_type == "text/javascript"
    assert "max-age" in app_js.headers["Cache-Control"]
    css = await client.get("/static/app.css")
    assert css.status == 200
    assert css.content_type == "text/css"
    assert "max-age" in css.headers["Cache-Control"]
    icon = await client.get("/static/icons/icon-192.png")
    assert icon.status == 200
    assert icon.content_type == "image/png"


async def test_no_path_escape(client: TestClient) -> None:
    for path in ("/static/../server/config.py", "/static/%2e%2e/run.py", "/../run.py", "/static/nope.css"):
        resp = await client.get(path)
        assert resp.status == 404, path
        assert (await resp.json())["error"]["code"] == "not_found"


async def test_every_file_the_service_worker_precaches_is_served(client: TestClient) -> None:
    # If one precached file is missing, the service worker fails to install and the app never works offline.
    import re
    from pathlib import Path

    sw = (Path(__file__).resolve().parents[2] / "pwa" / "sw.js").read_text()
    urls = re.findall(r"'(/[^']*)'", sw[: sw.index("];")])
    assert "/app.js" in urls
    for url in urls:
        resp = await client.get(url)
        assert resp.status == 200, url
        assert resp.content_type != "application/octet-stream", url
