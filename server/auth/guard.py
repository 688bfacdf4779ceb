"""Who is signed in: reads the bearer token of a request and checks roles."""

from __future__ import annotations

from aiohttp import web

from server.auth.appkeys import accounts_key, principal_key
from server.auth.service import Principal
from server.errors import Forbidden, Unauthorized


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def require_user(request: web.Request) -> Principal:
    if principal_key in request:
        return request[principal_key]
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("sign in first: this needs an Authorization: Bearer access token")
    principal = await request.app[accounts_key].authenticate(token)
    request[principal_key] = principal
    return principal


async def require_admin(request: web.Request) -> Principal:
    principal = await require_user(request)
    if not principal.is_admin:
        raise Forbidden("this needs the admin role")
    return principal
