"""Finding people, on both backends: one person by exact username or, if they allow it, by exact e-mail address
(a miss never says which), limited so addresses cannot be tried in bulk; and contacts, the people one shares chats
with, paged."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient

from server.app import create_app
from server.auth.appkeys import accounts_key
from server.config import RateLimit, Settings
from tests.helpers import bearer, new_email, verified_user


async def _lookup(client: TestClient, grant: dict[str, Any], **query: str) -> tuple[int, dict[str, Any]]:
    resp = await client.post("/api/people/lookup", json=query, headers=bearer(grant))
    return resp.status, await resp.json()


async def _named(
    client: TestClient, name: str, username: str | None = None, email: str | None = None
) -> dict[str, Any]:
    grant = await verified_user(client, email, name=name)
    if username:
        resp = await client.patch("/api/me", json={"username": username}, headers=bearer(grant))
        assert resp.status == 200, await resp.text()
    return grant


async def test_find_by_username(client: TestClient) -> None:
    ada = await _named(client, "Ada Lovelace", "ada_l")
    bob = await _named(client, "Bob")
    for typed in ("ada_l", "@ADA_L", " Ada_L "):
        status, person = await _lookup(client, bob, username=typed)
        assert status == 200, person
        assert person == {"id": ada["user"]["id"], "display_name": "Ada Lovelace", "username": "ada_l"}
    status, error = await _lookup(client, bob, username="nobody_here")
    assert (status, error["error"]["code"]) == (404, "person_not_found")
    status, error = await _lookup(client, bob, username="x!")
    assert (status, error["error"]["code"]) == (400, "invalid_username")
    resp = await client.post("/api/people/lookup", json={"username": "ada_l"})
    assert resp.status == 401


async def test_lookup_takes_one_of_username_and_email(client: TestClient) -> None:
    bob = await _named(client, "Bob")
    for body in ({}, {"username": "ada_l", "email": "a@example.test"}):
        status, error = await _lookup(client, bob, **body)
        assert status == 400, body
        assert "either username or email" in error["error"]["message"]
    status, error = await _lookup(client, bob, email="not an address")
    assert (status, error["error"]["field"]) == (400, "email")


async def test_suspended_people_are_not_found(client: TestClient) -> None:
    ada = await _named(client, "Ada", "ada_s")
    admin = await verified_user(client)
    await client.app[accounts_key].set_role(admin["user"]["id"], "admin")
    resp = await client.post(f"/api/admin/users/{ada['user']['id']}/suspend", json={}, headers=bearer(admin))
    assert resp.status == 200
    status, _ = await _lookup(client, admin, username="ada_s")
    assert status == 404


async def test_find_by_email_only_when_allowed_and_only_exactly(client: TestClient) -> None:
    email = new_email()
    ada = await _named(client, "Ada", email=email)
    bob = await _named(client, "Bob")
    hidden_status, hidden = await _lookup(client, bob, email=email)
    missing_status, missing = await _lookup(client, bob, email=new_email())
    # Hidden and unknown answer alike: a miss tells nothing about the address.
    assert (hidden_status, missing_status) == (404, 404)
    assert hidden == missing
    resp = await client.patch("/api/me", json={"email_discoverable": True}, headers=bearer(ada))
    assert resp.status == 200
    status, person = await _lookup(client, bob, email=email.upper())
    assert (status, person["id"], person["username"]) == (200, ada["user"]["id"], None)
    status, _ = await _lookup(client, bob, email=email.replace("@", "x@"))  # exact only: no partial match
    assert status == 404
    resp = await client.patch("/api/me", json={"email_discoverable": False}, headers=bearer(ada))
    assert resp.status == 200
    status, _ = await _lookup(client, bob, email=email)
    assert status == 404


async def test_email_lookups_are_limited_found_or_not(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    client = await aiohttp_client(create_app(make_settings(rate_email_lookup=RateLimit(3, 3600))))
    email = new_email()
    ada = await _named(client, "Ada", email=email)
    resp = await client.patch("/api/me", json={"email_discoverable": True}, headers=bearer(ada))
    assert resp.status == 200
    bob = await _named(client, "Bob")
    for _ in range(3):
        status, _ = await _lookup(client, bob, email=new_email())
        assert status == 404
    resp = await client.post("/api/people/lookup", json={"email": email}, headers=bearer(bob))
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) > 0
    # Usernames are counted apart.
    status, _ = await _lookup(client, bob, username="someone_else")
    assert status == 404
    # So is every other account.
    status, person = await _lookup(client, await _named(client, "Cy"), email=email)
    assert (status, person["id"]) == (200, ada["user"]["id"])


async def _chat(client: TestClient, a: dict[str, Any], body: dict[str, Any]) -> str:
    resp = await client.post("/api/chats", json=body, headers=bearer(a))
    assert resp.status in (200, 201), await resp.text()
    chat_id: str = (await resp.json())["id"]
    return chat_id


async def _say(client: TestClient, a: dict[str, Any], chat_id: str) -> None:
    resp = await client.post(
        f"/api/chats/{chat_id}/messages", json={"client_id": str(uuid.uuid4()), "text": "hi"}, headers=bearer(a)
    )
    assert resp.status == 201, await resp.text()


async def _contacts(client: TestClient, grant: dict[str, Any], **query: str) -> dict[str, Any]:
    resp = await client.get("/api/people/contacts", params=query, headers=bearer(grant))
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


def _names(page: dict[str, Any]) -> list[str]:
    return [c["display_name"] for c in page["contacts"]]


async def test_contacts_are_the_people_you_share_chats_with(client: TestClient) -> None:
    me = await _named(client, "Me", "me_myself")
    bob, cy, dee, eve, fay = [await _named(client, n) for n in ("Bob", "Cy", "Dee", "Eve", "Fay")]
    stranger = await _named(client, "Stranger")
    await _chat(client, me, {"kind": "group", "name": "Team", "members": [cy["user"]["id"], dee["user"]["id"]]})
    with_bob = await _chat(client, me, {"kind": "direct", "user_id": bob["user"]["id"]})
    # Someone who opened a direct chat with me and wrote nothing is not my contact yet; I am theirs.
    await _chat(client, eve, {"kind": "direct", "user_id": me["user"]["id"]})
    # One I started myself is, even before a message.
    await _chat(client, me, {"kind": "direct", "user_id": fay["user"]["id"]})
    await _say(client, bob, with_bob)  # the latest activity: Bob comes first
    page = await _contacts(client, me)
    assert _names(page)[0] == "Bob"
    assert sorted(_names(page)) == ["Bob", "Cy", "Dee", "Fay"]
    assert page["next"] is None
    assert set(page["contacts"][0]) == {"id", "display_name", "username", "active_at"}
    assert "Me" in _names(await _contacts(client, eve))
    assert _names(await _contacts(client, stranger)) == []
    # Paged, each person once.
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = await _contacts(client, me, limit="1", **({"cursor": cursor} if cursor else {}))
        seen += _names(page)
        cursor = page["next"]
        if cursor is None:
            break
    assert sorted(seen) == ["Bob", "Cy", "Dee", "Fay"]
    # People I blocked are left out.
    resp = await client.post("/api/blocks", json={"user_id": cy["user"]["id"]}, headers=bearer(me))
    assert resp.status == 204
    assert "Cy" not in _names(await _contacts(client, me))
    # The other side sees my username.
    mine = [c for c in (await _contacts(client, bob))["contacts"] if c["id"] == me["user"]["id"]]
    assert mine[0]["username"] == "me_myself"


async def test_contacts_refuse_bad_paging_and_strangers(client: TestClient) -> None:
    me = await _named(client, "Me")
    resp = await client.get("/api/people/contacts", params={"cursor": "garbage"}, headers=bearer(me))
    assert resp.status == 400
    assert (await resp.json())["error"]["field"] == "cursor"
    resp = await client.get("/api/people/contacts", params={"limit": "0"}, headers=bearer(me))
    assert resp.status == 400
    assert (await client.get("/api/people/contacts")).status == 401
