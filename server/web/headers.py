"""Security headers: the whole set on pages (documents, scripts and images a browser may run or render as a
page), and on every other answer (JSON, text, CSV, files) the one that keeps browsers from second-guessing its
type. A device write's answer is a number: it carries nothing meant for pages. A `FramablePage` (the IoT embeds,
which other sites show in an iframe) sets its own CSP with its `frame-ancestors`, and gets no X-Frame-Options."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from server.keys import device_routes_key, settings_key

# Content types a browser runs or renders as a page, or runs as a worker: these get the whole set.
PAGE_TYPES = frozenset(
    {"text/html", "application/xhtml+xml", "image/svg+xml", "text/javascript", "application/javascript"}
)


class FramablePage(web.Response):
    """A page other sites may put in a frame: its handler sets its own Content-Security-Policy (see
    `content_security_policy(..., frame_ancestors=...)`); X-Frame-Options, which cannot allow them, is left off."""


def content_security_policy(public_url: str, frame_ancestors: str = "'none'") -> str:
    """The CSP: everything from this site only. `connect-src` allows this origin ('self', which CSP 3 browsers
    extend to its ws:/wss: form) and the WebSocket URL of PUBLIC_URL spelled out, for browsers that do not.
    'wasm-unsafe-eval' lets the end-to-end crypto compile its WebAssembly; it does not allow eval of JavaScript."""
    parts = urlsplit(public_url)
    socket_origin = f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}"
    return (
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; "
        f"media-src 'self' blob:; connect-src 'self' {socket_origin}; worker-src 'self'; manifest-src 'self'; "
        f"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {frame_ancestors}"
    )


def security_headers(public_url: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(public_url),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(self), microphone=(self), geolocation=(), payment=()",
    }


def setup_security_headers(app: web.Application) -> None:
    headers = security_headers(app[settings_key].public_url)
    devices = app[device_routes_key]

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        info = request.match_info
        device = info.http_exception is None and info.route.resource in devices  # (JSONP answers are scripts)
        if response.content_type in PAGE_TYPES and not device:
            framable = isinstance(response, FramablePage)
            for name, value in headers.items():
                if not (framable and name == "X-Frame-Options"):
                    response.headers.setdefault(name, value)
        else:
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if request.path.startswith("/api/"):
            # API answers carry tokens and personal data: never cached by the browser or a proxy.
            response.headers.setdefault("Cache-Control", "no-store")

    app.on_response_prepare.append(add_headers)
