"""Roles: every admin route refuses nobody (401) and a plain user (403); an admin gets through. Accounts an
operator vouches for (create-admin, the tests' verified users) start confirmed."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from server.auth.appkeys import accounts_key
from server.errors import ValidationError
from tests.helpers import PASSWORD, bearer, login, new_email, verified_user

ADMIN_ROUTES = [
    ("GET", "/api/admin/users", None),
    ("POST", "/api/admin/users/{id}/role", {"role": "admin"}),
    ("POST", "/api/admin/users/{id}/suspend", {}),
    ("POST", "/api/admin/users/{id}/unsuspend", {}),
    ("GET", "/api/admin/users/{id}/sessions", None),
    ("DELETE", "/api/admin/users/{id}/sessions", None),
    ("DELETE", "/api/admin/users/{id}/sessions/{id}", None),
    ("GET", "/api/admin/status", None),
    ("GET", "/api/admin/reports", None),
    ("POST", "/api/admin/reports/{id}/resolve", {"action": "dismiss"}),
    ("DELETE", "/api/admin/chats/{id}/messages/1", None),
]
_SAME = {
    "{user_id}": "{id}",
    "{report_id}": "{id}",
    "{chat_id}": "{id}",
    "{message_id}": "1",
    "{session_id}": "{id}",
}


def _normal(path: str) -> str:
    for name, placeholder in _SAME.items():
        path = path.replace(name, placeholder)
    return path


def test_every_admin_route_is_listed(client: TestClient) -> None:
    # A new admin route must be added to ADMIN_ROUTES, so it is tested as nobody and as a plain user.
    app_routes = {
        (r.method, _normal(r.resource.canonical))
        for r in client.app.router.routes()
        if r.resource and "/api/admin" in r.resource.canonical and r.method != "HEAD"
    }
    assert app_routes == {(m, p) for m, p, _ in ADMIN_ROUTES}


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
async def test_admin_routes_refuse_nobody_and_plain_users(
    client: TestClient, method: str, path: str, body: dict[str, str] | None
) -> None:
    user = await verified_user(client)
    url = path.format(id=user["user"]["id"])
    nobody = await client.request(method, url, json=body)
    assert nobody.status == 401
    plain = await client.request(method, url, json=body, headers=bearer(user))
    assert plain.status == 403
    assert (await plain.json())["error"]["code"] == "forbidden"
    # And nothing changed.
    me = await (await client.get("/api/me", headers=bearer(user))).json()
    assert me["role"] == "user"
    assert me["suspended"] is False


async def test_admin_manages_users(client: TestClient) -> None:
    service = client.app[accounts_key]
    admin_email = new_email()
    await service.ensure_admin(email=admin_email, password=PASSWORD, display_name="Root")
    admin = await login(client, admin_email)
    user = await verified_user(client)
    uid = user["user"]["id"]

    listing = await client.get("/api/admin/users?limit=1", headers=bearer(admin))
    assert listing.status == 200
    page = await listing.json()
    assert len(page["users"]) == 1
    assert page["next"]
    second = await (await client.get(f"/api/admin/users?limit=5&cursor={page['next']}", headers=bearer(admin))).json()
    assert {u["id"] for u in page["users"] + second["users"]} >= {uid, admin["user"]["id"]}

    resp = await client.post(f"/api/admin/users/{uid}/suspend", json={}, headers=bearer(admin))
    assert resp.status == 200
    assert (await resp.json())["suspended"] is True
    # A suspended user's sessions end and sign-in is refused.
    assert (await client.get("/api/me", headers=bearer(user))).status == 401
    refused = await client.post("/api/auth/login", json={"email": user["user"]["email"], "password": PASSWORD})
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "account_suspended"
    await client.post(f"/api/admin/users/{uid}/unsuspend", json={}, headers=bearer(admin))
    again = await login(client, user["user"]["email"])

    resp = await client.post(f"/api/admin/users/{uid}/role", json={"role": "admin"}, headers=bearer(admin))
    assert (await resp.json())["role"] == "admin"
    fresh = await login(client, user["user"]["email"])
    assert (await client.get("/api/admin/users", headers=bearer(fresh))).status == 200
    assert again

    bad = await client.post(f"/api/admin/users/{uid}/role", json={"role": "root"}, headers=bearer(admin))
    assert bad.status == 400
    assert (await bad.json())["error"]["field"] == "role"
    missing = await client.post("/api/admin/users/nope/suspend", json={}, headers=bearer(admin))
    assert missing.status == 404


async def test_an_account_made_verified_signs_in_at_once_and_keeps_the_rules(client: TestClient) -> None:
    service = client.app[accounts_key]
    email = new_email()
    user = await service.create_verified(email=email, password=PASSWORD, display_name="Ada")
    me = await (await client.get("/api/me", headers=bearer(await login(client, email)))).json()
    assert (me["id"], me["email"], me["email_verified"], me["role"]) == (user.id, email, True, "user")
    with pytest.raises(ValidationError, match="at least 10 characters"):
        await service.create_verified(email=new_email(), password="short", display_name="Bo")
    with pytest.raises(ValidationError, match="role must be one of"):
        await service.create_verified(email=new_email(), password=PASSWORD, display_name="Bo", role="root")
