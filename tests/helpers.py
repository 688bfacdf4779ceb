"""Steps many tests share: an account that is registered, verified and signed in."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp.test_utils import TestClient

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


def bearer(grant: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {grant['access_token']}"}
