"""The web app (pwa/) at the site root and static assets at /static/, with types and cache headers that fit."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from aiohttp import web

from server.errors import NotFound

ROOT = Path(__file__).resolve().parents[2]
PWA_DIR = ROOT / "pwa"
STATIC_DIR = ROOT / "static"
NODE_MODULES = ROOT / "node_modules"
# Browser libraries installed by `npm ci` (package-lock.json pins them), each served at one fixed URL. The end-to-end
# crypto keeps its package's layout under one prefix: its module imports ./pkg/... and fetches its wasm from there.
_CRYPTO = "matrix-sdk-crypto-wasm/"
VENDOR = {
    "uPlot.iife.min.js": "uplot/dist/uPlot.iife.min.js",
    "uPlot.min.css": "uplot/dist/uPlot.min.css",
    **{
        _CRYPTO + name: "@matrix-org/" + _CRYPTO + name
        for name in ("index.mjs", "pkg/matrix_sdk_crypto_wasm_bg.js", "pkg/matrix_sdk_crypto_wasm_bg.wasm")
    },
}

mimetypes.add_type("application/manifest+json", ".webmanifest")
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("image/svg+xml", ".svg")
mimetypes.add_type("application/wasm", ".wasm")  # WebAssembly.instantiateStreaming needs exactly this type

# The shell and service worker must be revalidated so a new release reaches people; assets may be cached a day
# (the service worker keeps its own versioned copy for offline use).
_REVALIDATE = {"index.html", "sw.js", "manifest.webmanifest"}


def _safe_file(base: Path, relative: str) -> Path:
    path = (base / relative).resolve()
    if not path.is_relative_to(base.resolve()) or not path.is_file():
        raise NotFound("no such file")
    return path


def _file_response(path: Path, cache: str) -> web.FileResponse:
    content_type, _ = mimetypes.guess_type(path.name)
    headers = {"Cache-Control": cache, "Content-Type": content_type or "application/octet-stream"}
    if path.name == "sw.js":
        headers["Service-Worker-Allowed"] = "/"
    return web.FileResponse(path, headers=headers)


async def pwa_index(request: web.Request) -> web.FileResponse:
    return _file_response(_safe_file(PWA_DIR, "index.html"), "no-cache")


async def pwa_file(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    path = _safe_file(PWA_DIR, name)
    return _file_response(path, "no-cache" if path.name in _REVALIDATE else "public, max-age=86400")


async def static_file(request: web.Request) -> web.FileResponse:
    return _file_response(_safe_file(STATIC_DIR, request.match_info["name"]), "public, max-age=86400")


async def vendor_file(request: web.Request) -> web.FileResponse:
    relative = VENDOR.get(request.match_info["name"])
    if relative is None:
        raise NotFound("no such file")
    return _file_response(_safe_file(NODE_MODULES, relative), "public, max-age=86400")


def setup_static(app: web.Application) -> None:
    app.router.add_get("/", pwa_index)
    app.router.add_get("/static/vendor/{name:.+}", vendor_file)  # only the names in VENDOR
    app.router.add_get("/static/{name:.+}", static_file)
    # Last: any other top-level file the web app ships (app.js, sw.js, js/*.js, the manifest).
    app.router.add_get(
        "/{name:(?!api/|ws$)[A-Za-z0-9_./-]+\\.(?:js|mjs|json|webmanifest|html|css|png|svg|ico)}", pwa_file
    )
