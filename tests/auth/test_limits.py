"""Abuse limits and bad input: 429 with Retry-After; 400 naming the field, with nothing changed."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import RateLimit
from tests.conftest import Mailbox
from tests.helpers import PASSWORD, bearer, new_email, register, signed_in


async def test_login_limited_per_account_across_ips(
    aiohttp_client: Any, make_settings: Callable[..., Any], mail: Mailbox
) -> None:
    client = await aiohttp_client(create_app(make_settings(rate_login=RateLimit(3, 60))))
    email = new_email()
    for n in range(3):
        resp = await client.post(
            "/api/auth/login", json={"email": email, "password": "wrong"}, headers={"X-Forwarded-For": f"192.0.2.{n}"}
        )
        assert resp.status == 401
    resp = await client.post(
        "/api/auth/login", json={"email": email, "password": "wrong"}, headers={"X-Forwarded-For": "192.0.2.99"}
    )
    assert resp.status == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert (await resp.json())["error"]["code"] == "rate_limited"


async def test_login_limited_per_ip_across_accounts(aiohttp_client: Any, make_settings: Callable[..., Any]) -> None:
    client = await aiohttp_client(create_app(make_settings(rate_login=RateLimit(3, 60))))
    statuses = []
    for _ in range(4):
        resp = await client.post(
            "/api/auth/login",
            json={"email": new_email(), "password": "wrong"},
            headers={"X-Forwarded-For": "192.0.2.50"},
        )
        statuses.append(resp.status)
    assert statuses == [401, 401, 401, 429]
    # Another address is not held back.
    resp = await client.post(
        "/api/auth/login", json={"email": new_email(), "password": "wrong"}, headers={"X-Forwarded-For": "192.0.2.51"}
    )
    assert resp.status == 401


@pytest.mark.parametrize(
    ("setting", "path", "body"),
    [
        ("rate_register", "/api/auth/register", {"email": "x@example.test", "password": PASSWORD, "display_name": "X"}),
        ("rate_verify", "/api/auth/verify", {"token": "not-a-token"}),
        ("rate_verify", "/api/auth/verify/resend", {"email": "x@example.test"}),
        ("rate_reset", "/api/auth/password-reset", {"email": "x@example.test"}),
        ("rate_reset", "/api/auth/password-reset/confirm", {"token": "nope", "password": PASSWORD}),
    ],
)
async def test_every_sensitive_route_is_limited(
    aiohttp_client: Any, make_settings: Callable[..., Any], setting: str, path: str, body: dict[str, str]
) -> None:
    client = await aiohttp_client(create_app(make_settings(**{setting: RateLimit(2, 60)})))
    statuses = [(await client.post(path, json=body)).status for _ in range(3)]
    assert statuses[-1] == 429
    assert 429 not in statuses[:2]


async def test_verify_page_is_limited(aiohttp_client: Any, make_settings: Callable[..., Any]) -> None:
    client = await aiohttp_client(create_app(make_settings(rate_verify=RateLimit(1, 60))))
    assert (await client.get("/verify-email?token=abc")).status == 400
    assert (await client.get("/verify-email?token=abc")).status == 429


async def test_redis_limiter_shares_counts(make_settings: Callable[..., Any], aiohttp_client: Any) -> None:
    import os
    import uuid

    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL is not set (CI sets it)")
    settings = make_settings(redis_url=url, rate_login=RateLimit(2, 60))
    first = await aiohttp_client(create_app(settings))
    second = await aiohttp_client(create_app(settings))
    ip = f"192.0.2.{uuid.uuid4().int % 250}"
    email = new_email()
    a = await first.post("/api/auth/login", json={"email": email, "password": "x"}, headers={"X-Forwarded-For": ip})
    b = await second.post("/api/auth/login", json={"email": email, "password": "x"}, headers={"X-Forwarded-For": ip})
    c = await first.post("/api/auth/login", json={"email": email, "password": "x"}, headers={"X-Forwarded-For": ip})
    assert [a.status, b.status, c.status] == [401, 401, 429]


BAD_REGISTRATIONS = [
    (b"{not json", None, "malformed_json"),
    (b"[1, 2]", None, "wrong_type"),
    (b'{"email": "a@example.test", "password": "long enough pw"}', "display_name", "required"),
    (b'{"email": 5, "password": "long enough pw", "display_name": "A"}', "email", "wrong_type"),
    (b'{"email": "not-an-address", "password": "long enough pw", "display_name": "A"}', "email", "invalid"),
    (b'{"email": "a@example.test", "password": "short", "display_name": "A"}', "password", "too_short"),
    (
        b'{"email": "a@example.test", "password": "long enough pw", "display_name": "' + b"x" * 101 + b'"}',
        "display_name",
        "too_long",
    ),
    (
        b'{"email": "' + b"a" * 250 + b'@example.test", "password": "long enough pw", "display_name": "A"}',
        "email",
        "too_long",
    ),
    (
        b'{"email": "a@example.test", "password": "long enough pw", "display_name": "A", "role": "admin"}',
        "role",
        "unknown_field",
    ),
    (b'{"email": "a@example.test", "password": "long enough pw", "display_name": null}', "display_name", "invalid"),
    (b'{"email": "a@example.test", "password": "long enough pw", "display_name": "   "}', "display_name", "required"),
]


@pytest.mark.parametrize(("raw", "field", "code"), BAD_REGISTRATIONS)
async def test_bad_registration_is_refused_and_stores_nothing(
    client: TestClient, mail: Mailbox, raw: bytes, field: str | None, code: str
) -> None:
    resp = await client.post("/api/auth/register", data=raw, headers={"Content-Type": "application/json"})
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == code
    assert error.get("field") == field
    assert error["message"]
    # Nothing was stored: the address can still register for real, and no mail went out.
    assert mail.messages == []
    await register(client, "a@example.test")


async def test_body_too_large(client: TestClient) -> None:
    resp = await client.post(
        "/api/auth/register",
        data=io.BytesIO(b"{" + b" " * (2 << 20) + b"}"),
        headers={"Content-Type": "application/json"},
    )
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "body_too_large"


async def test_profile_bad_input_changes_nothing(client: TestClient, mail: Mailbox) -> None:
    grant = await signed_in(client, mail)
    for body, field in (
        ({"phone": "call me maybe"}, "phone"),
        ({"display_name": 3}, "display_name"),
        ({"email": "new@example.test"}, "email"),
        ({"phone": "1" * 40}, "phone"),
    ):
        resp = await client.patch("/api/me", json=body, headers=bearer(grant))
        assert resp.status == 400
        assert (await resp.json())["error"]["field"] == field
    me = await (await client.get("/api/me", headers=bearer(grant))).json()
    assert me["phone"] is None
    assert me["display_name"] == "Ada"
    assert me["email"] == grant["user"]["email"]


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer garbage", "Basic dXNlcjpwYXNz", "Bearer a.b.c"])
async def test_bad_tokens_get_401(client: TestClient, header: str) -> None:
    resp = await client.get("/api/me", headers={"Authorization": header} if header else {})
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] in ("unauthorized", "invalid_token")
