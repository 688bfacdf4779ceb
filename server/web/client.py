"""Who is calling: the client's address (through trusted proxies only) and user agent."""

from __future__ import annotations

from aiohttp import web

MAX_USER_AGENT = 512


def client_ip(request: web.Request, trusted_proxies: tuple[str, ...]) -> str:
    remote = request.remote or ""
    if remote not in trusted_proxies:
        return remote
    # The rightmost address that is not one of our proxies is the one a proxy of ours saw.
    forwarded = [p.strip() for p in request.headers.get("X-Forwarded-For", "").split(",") if p.strip()]
    for address in reversed(forwarded):
        if address not in trusted_proxies:
            return address[:64]
    return remote


def user_agent(request: web.Request) -> str | None:
    value = request.headers.get("User-Agent")
    return value[:MAX_USER_AGENT] if value else None
