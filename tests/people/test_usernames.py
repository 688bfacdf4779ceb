"""Usernames, on both backends: chosen at sign-up (claimed when the address is confirmed) or later, changed,
given up, unique without regard to case, reserved names refused; and the availability check the sign-up form uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient

from server.app import create_app
from server.auth.usernames import check_username, is_reserved
from server.config import RateLimit, Settings
from tests.conftest import Mailbox
from tests.helpers import PASSWORD, bearer, login, new_email, verified_user, verify


async def _available(client: TestClient, name: str) -> dict[str, Any]:
    resp = await client.get(f"/api/people/usernames/{name}")
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def _me(client: TestClient, grant: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = await (await client.get("/api/me", headers=bearer(grant))).json()
    return body


async def _set(client: TestClient, grant: dict[str, Any], **changes: Any) -> tuple[int, dict[str, Any]]:
    resp = await client.patch("/api/me", json=changes, headers=bearer(grant))
    return resp.status, await resp.json()


def test_username_rules() -> None:
    assert check_username("  @Ada_Lovelace ") == "Ada_Lovelace"
    assert check_username("a" * 32) == "a" * 32
    assert is_reserved("ADMIN")
    assert is_reserved("support_2")
    assert is_reserved("Ad_min")
    assert not is_reserved("adminton")


async def test_sign_up_with_a_username_claims_it_when_the_address_is_confirmed(
    client: TestClient, mail: Mailbox
) -> None:
    email = new_email()
    body = {"email": email, "password": PASSWORD, "display_name": "Ada", "username": "@Ada_L"}
    resp = await client.post("/api/auth/register", json=body)
    assert resp.status == 202, await resp.text()
    # Not the account's until the address is confirmed: the names taken say nothing about sign-ups.
    assert (await _available(client, "ada_l"))["available"] is True
    await verify(client, mail, email)
    grant = await login(client, email)
    me = await _me(client, grant)
    assert me["username"] == "Ada_L"  # kept as written
    assert me["email_discoverable"] is False  # off by default
    check = await _available(client, "ADA_L")
    assert check == {"username": "ADA_L", "available": False, "reason": "taken"}


async def test_a_sign_up_for_a_known_address_answers_alike_and_claims_nothing(
    client: TestClient, mail: Mailbox
) -> None:
    email = new_email()
    await verified_user(client, email)
    resp = await client.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, "display_name": "X", "username": "probe_x"}
    )
    assert resp.status == 202
    assert await resp.json() == {"status": "verification_sent"}
    await mail.wait_for(email)  # the owner is told someone tried
    assert (await _available(client, "probe_x"))["available"] is True


async def test_sign_up_refuses_a_bad_or_taken_username_and_stores_nothing(client: TestClient, mail: Mailbox) -> None:
    owner = await verified_user(client)
    assert (await _set(client, owner, username="grace"))[0] == 200
    email = new_email()
    for name, status, code in (
        ("Grace", 409, "username_taken"),
        ("support", 400, "username_reserved"),
        ("9lives", 400, "invalid_username"),
        ("ab", 400, "invalid_username"),
        ("ада", 400, "invalid_username"),
    ):
        resp = await client.post(
            "/api/auth/register", json={"email": email, "password": PASSWORD, "display_name": "G", "username": name}
        )
        assert resp.status == status, name
        error = (await resp.json())["error"]
        assert (error["code"], error["field"]) == (code, "username")
    assert mail.to(email) == []
    # Nothing was stored: the same address signs up with a free name.
    resp = await client.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, "display_name": "G", "username": "grace2"}
    )
    assert resp.status == 202


async def test_change_case_give_up_and_free_usernames(client: TestClient) -> None:
    ada, bob = await verified_user(client), await verified_user(client, name="Bob")
    status, me = await _set(client, ada, username="ada")
    assert (status, me["username"]) == (200, "ada")
    status, me = await _set(client, ada, username="Ada")  # the same name in another case
    assert (status, me["username"]) == (200, "Ada")
    # Taken, whatever the case; and a refused change changes nothing else sent with it.
    status, error = await _set(client, bob, username="ADA", display_name="Robert")
    assert (status, error["error"]["code"], error["error"]["field"]) == (409, "username_taken", "username")
    assert (await _me(client, bob))["display_name"] == "Bob"
    status, error = await _set(client, bob, username="root", display_name="Robert")
    assert (status, error["error"]["code"]) == (400, "username_reserved")
    status, error = await _set(client, bob, username="bob-smith")
    assert (status, error["error"]["code"]) == (400, "invalid_username")
    assert "underscores" in error["error"]["message"]
    # Changing frees the old name at once.
    assert (await _set(client, ada, username="ada_l"))[0] == 200
    status, me = await _set(client, bob, username="ada")
    assert (status, me["username"]) == (200, "ada")
    # Giving it up.
    status, me = await _set(client, bob, username=None)
    assert (status, me["username"]) == (200, None)
    assert (await _available(client, "ada"))["available"] is True


async def test_email_discoverable_is_set_in_the_profile(client: TestClient) -> None:
    ada = await verified_user(client)
    assert (await _me(client, ada))["email_discoverable"] is False
    status, me = await _set(client, ada, email_discoverable=True)
    assert (status, me["email_discoverable"]) == (200, True)
    status, error = await _set(client, ada, email_discoverable="yes")
    assert (status, error["error"]["field"]) == (400, "email_discoverable")


async def test_availability_check(client: TestClient) -> None:
    assert await _available(client, "Free_Name") == {"username": "Free_Name", "available": True, "reason": None}
    assert await _available(client, "Admin") == {"username": "Admin", "available": False, "reason": "reserved"}
    resp = await client.get("/api/people/usernames/no")
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "invalid_username"


async def test_username_checks_and_changes_are_limited(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    client = await aiohttp_client(
        create_app(make_settings(rate_username_check=RateLimit(3, 60), rate_username_change=RateLimit(2, 3600)))
    )
    for _ in range(3):
        await _available(client, "someone")
    resp = await client.get("/api/people/usernames/someone")
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) > 0
    ada = await verified_user(client)
    assert (await _set(client, ada, username="first"))[0] == 200
    assert (await _set(client, ada, username="second"))[0] == 200
    assert (await _set(client, ada, username="SECOND"))[0] == 200  # a change of case is no new name
    status, _ = await _set(client, ada, username="third")
    assert status == 429
    assert (await _me(client, ada))["username"] == "SECOND"
