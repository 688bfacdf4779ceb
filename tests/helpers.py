"""Steps many tests share: a signed-in account, made through the real e-mail flow (`signed_in`, for the account
tests) or straight through the account service (`verified_user`, for every other test)."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from server.auth.appkeys import accounts_key
from tests.conftest import Mailbox, link_in

PASSWORD = "correct horse battery"


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.test"


async def register(client: TestClient, email: str, password: str = PASSWORD, name: str = "Ada", **headers: str) -> None:
    resp = await client.post(
        "/api/auth/register", json={"email": email, "password": password, "display_name": name}, headers=headers
    )
    assert resp.status == 202, await resp.text()


async def verify(client: TestClient, mail: Mailbox, email: str, count: int = 1) -> None:
    message = await mail.wait_for(email, count)
    resp = await client.get(link_in(message, "/verify-email"))
    assert resp.status == 200, await resp.text()
    assert "confirmed" in await resp.text()


async def login(client: TestClient, email: str, password: str = PASSWORD, **headers: str) -> dict[str, Any]:
    resp = await client.post("/api/auth/login", json={"email": email, "password": password}, headers=headers)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def signed_in(client: TestClient, mail: Mailbox, email: str | None = None, **headers: str) -> dict[str, Any]:
    """Register, follow the link in the real e-mail, sign in; returns the login answer (tokens and user)."""
    email = email or new_email()
    await register(client, email, **headers)
    await verify(client, mail, email)
    return await login(client, email, **headers)


async def verified_user(
    client: TestClient, email: str | None = None, name: str = "Ada", **headers: str
) -> dict[str, Any]:
    """An account whose address counts as confirmed, made by the running app's account service (no mail), then
    signed in over HTTP; returns the login answer (tokens and user), as `signed_in` does."""
    email = email or new_email()
    await client.app[accounts_key].create_verified(email=email, password=PASSWORD, display_name=name)
    return await login(client, email, **headers)


def bearer(grant: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {grant['access_token']}"}


async def user_api_key(client: TestClient, grant: dict[str, Any]) -> str:
    resp = await client.get("/api/me/api-key", headers=bearer(grant))
    assert resp.status == 200, await resp.text()
    key: str = (await resp.json())["api_key"]
    return key


async def new_channel(client: TestClient, **settings: Any) -> dict[str, Any]:
    """A signed-in owner with a fresh channel. Returns the channel's JSON plus `write_key`, `read_key`,
    `user_key` (the owner's user API key) and `grant` (the owner's tokens)."""
    grant = await verified_user(client)
    key = await user_api_key(client, grant)
    resp = await client.post(
        "/channels.json",
        json={"api_key": key, "name": "Weather", "field1": "Temperature", "field2": "Humidity", **settings},
    )
    assert resp.status == 200, await resp.text()
    channel: dict[str, Any] = await resp.json()
    channel["write_key"] = next(k["api_key"] for k in channel["api_keys"] if k["write_flag"])
    channel["read_key"] = next(k["api_key"] for k in channel["api_keys"] if not k["write_flag"])
    channel["user_key"] = key
    channel["grant"] = grant
    return channel
