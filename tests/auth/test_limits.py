"""Abuse limits and bad input: 429 with Retry-After; 400 naming the field, with nothing changed."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.auth.appkeys import accounts_key
from server.config import RateLimit
from tests.conftest import Mailbox
from tests.helpers import PASSWORD, bearer, login, new_email, register, signed_in


class Clock:
    """The account service's clock, moved by hand: the slowdown is tested without waiting."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def attempt(client: TestClient, email: str, password: str, ip: str, **extra: str) -> tuple[int, int | None]:
    resp = await client.post(
        "/api/auth/login", json={"email": email, "password": password, **extra}, headers={"X-Forwarded-For": ip}
    )
    retry = resp.headers.get("Retry-After")
    return resp.status, int(retry) if retry else None


async def owner(client: TestClient) -> tuple[str, str]:
    """A verified account signed in once; returns its address and the device token that sign-in gave."""
    email = new_email()
    await client.app[accounts_key].create_verified(email=email, password=PASSWORD, display_name="Ada")
    status, _ = await attempt(client, email, PASSWORD, "198.51.100.1")
    assert status == 200
    grant = await login(client, email, **{"X-Forwarded-For": "198.51.100.1"})
    return email, grant["device_token"]


async def test_eleven_wrong_passwords_from_eleven_addresses_do_not_lock_the_owner_out(
    aiohttp_client: Any, make_settings: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await aiohttp_client(create_app(make_settings(rate_login=RateLimit(10, 900))))
    clock = Clock()
    monkeypatch.setattr(client.app[accounts_key], "_clock", clock)
    email, device = await owner(client)
    answers = [await attempt(client, email, "wrong", f"192.0.2.{n}") for n in range(11)]
    assert {status for status, _ in answers} <= {401, 429}
    # On the device it signed in from before, the owner gets in at once.
    status, _ = await attempt(client, email, PASSWORD, "203.0.113.9", device_token=device)
    assert status == 200
    # From a new device the owner is slowed down, not shut out: after the wait, the right password works.
    status, retry = await attempt(client, email, PASSWORD, "203.0.113.10")
    assert status == 429
    assert retry is not None
    assert retry <= 60
    clock.now += retry
    assert (await attempt(client, email, PASSWORD, "203.0.113.10"))[0] == 200


async def test_the_slowdown_grows_with_failures_and_is_capped(
    aiohttp_client: Any, make_settings: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(login_slowdown=RateLimit(3, 3600), login_slowdown_max_seconds=8)
    client = await aiohttp_client(create_app(settings))
    clock = Clock()
    monkeypatch.setattr(client.app[accounts_key], "_clock", clock)
    email = new_email()
    waits = []
    for n in range(8):
        status, retry = await attempt(client, email, "wrong", f"192.0.2.{n}")
        if status == 429:
            assert retry is not None
            waits.append(retry)
            clock.now += retry
            status, retry = await attempt(client, email, "wrong", f"192.0.2.{n}")
        assert status == 401
    assert waits == [1, 2, 4, 8, 8]


async def test_successful_sign_ins_are_never_counted(aiohttp_client: Any, make_settings: Callable[..., Any]) -> None:
    client = await aiohttp_client(
        create_app(make_settings(rate_login=RateLimit(3, 60), rate_login_address=RateLimit(3, 60)))
    )
    email = new_email()
    await client.app[accounts_key].create_verified(email=email, password=PASSWORD, display_name="Ada")
    assert [(await attempt(client, email, PASSWORD, "192.0.2.5"))[0] for _ in range(6)] == [200] * 6
    # A success also clears this address's earlier typos for the account.
    for _ in range(2):
        assert (await attempt(client, email, "wrong", "192.0.2.5"))[0] == 401
    assert (await attempt(client, email, PASSWORD, "192.0.2.5"))[0] == 200
    assert (await attempt(client, email, "wrong", "192.0.2.5"))[0] == 401


async def test_one_users_typos_behind_a_nat_do_not_lock_out_another_user(
    aiohttp_client: Any, make_settings: Callable[..., Any]
) -> None:
    client = await aiohttp_client(create_app(make_settings(rate_login=RateLimit(3, 900))))
    office = "192.0.2.77"
    first, second = new_email(), new_email()
    for email in (first, second):
        await client.app[accounts_key].create_verified(email=email, password=PASSWORD, display_name="Ada")
    statuses = [(await attempt(client, first, "typo", office))[0] for _ in range(4)]
    assert statuses == [401, 401, 401, 429]  # the first user, from this address, waits
    assert (await attempt(client, second, PASSWORD, office))[0] == 200
    assert (await attempt(client, second, "typo", office))[0] == 401


async def test_a_spray_from_one_address_is_stopped(aiohttp_client: Any, make_settings: Callable[..., Any]) -> None:
    client = await aiohttp_client(create_app(make_settings(rate_login_address=RateLimit(5, 900))))
    statuses = [(await attempt(client, new_email(), "wrong", "192.0.2.50"))[0] for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    status, retry = await attempt(client, new_email(), "wrong", "192.0.2.50")
    assert status == 429
    assert retry is not None
    assert 1 <= retry <= 900
    # Another address is not held back.
    assert (await attempt(client, new_email(), "wrong", "192.0.2.51"))[0] == 401


async def test_a_device_token_is_only_trusted_for_its_account_and_within_its_own_budget(
    aiohttp_client: Any, make_settings: Callable[..., Any]
) -> None:
    client = await aiohttp_client(
        create_app(make_settings(rate_login=RateLimit(3, 900), login_slowdown=RateLimit(2, 3600)))
    )
    email, device = await owner(client)
    other, _ = await owner(client)
    ip = "192.0.2.90"
    assert [(await attempt(client, other, "wrong", ip))[0] for _ in range(3)] == [401, 401, 429]
    # Another account's device token does not lift this pair's limit, nor does a forged one.
    assert (await attempt(client, other, PASSWORD, ip, device_token=device))[0] == 429
    assert (await attempt(client, other, PASSWORD, ip, device_token=device[:-1] + "0"))[0] == 429
    # Guessing with a device token spends that token's own budget (the slowdown does not apply to it meanwhile),
    # then it is an unknown device, slowed down like any other.
    for _ in range(3):
        assert (await attempt(client, email, "wrong", f"192.0.2.{91 + _}", device_token=device))[0] == 401
    assert (await attempt(client, email, PASSWORD, "192.0.2.91", device_token=device))[0] == 429


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
    assert [a.status, b.status, c.status] == [401, 401, 429]  # failures counted in Redis, seen by both


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
