"""The account journey a person takes, over HTTP, on both backends, with mail through a real SMTP server."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from server.app import create_app
from tests.conftest import Mailbox, body_of, link_in
from tests.helpers import PASSWORD, bearer, login, new_email, register, signed_in, verify


async def test_register_verify_login_me(client: TestClient, mail: Mailbox) -> None:
    email = new_email()
    await register(client, email, name="Grace Hopper")
    message = await mail.wait_for(email)
    assert message["Subject"] == "Confirm your e-mail address"
    assert "Grace Hopper" in body_of(message)

    # Before confirming, sign-in is refused with a reason (the password was right).
    resp = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "email_not_verified"

    link = link_in(message, "/verify-email")
    page = await client.get(link)
    assert page.status == 200
    assert page.content_type == "text/html"
    assert "Your e-mail address is confirmed" in await page.text()
    # The link works once.
    again = await client.get(link)
    assert again.status == 400
    assert "does not work" in await again.text()

    grant = await login(client, email.upper())  # addresses are matched without regard to case
    assert grant["token_type"] == "Bearer"
    assert grant["expires_in"] == 900
    me = await client.get("/api/me", headers=bearer(grant))
    assert me.status == 200
    body = await me.json()
    assert body["email"] == email
    assert body["display_name"] == "Grace Hopper"
    assert body["email_verified"] is True
    assert body["role"] == "user"
    assert "password_hash" not in body
    assert me.headers["Cache-Control"] == "no-store"


async def test_verify_through_api_and_resend(client: TestClient, mail: Mailbox) -> None:
    email = new_email()
    await register(client, email)
    first = await mail.wait_for(email)
    resp = await client.post("/api/auth/verify/resend", json={"email": email})
    assert resp.status == 202
    second = await mail.wait_for(email, 2)
    # Asking again retires the first link.
    token_first = link_in(first, "/verify-email").split("token=")[1]
    token_second = link_in(second, "/verify-email").split("token=")[1]
    resp = await client.post("/api/auth/verify", json={"token": token_first})
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "invalid_token"
    resp = await client.post("/api/auth/verify", json={"token": token_second})
    assert resp.status == 200
    assert (await resp.json())["user"]["email_verified"] is True
    await login(client, email)


async def test_register_twice_answers_the_same_and_warns_the_owner(client: TestClient, mail: Mailbox) -> None:
    email = new_email()
    await register(client, email)
    resp = await client.post(
        "/api/auth/register", json={"email": email, "password": "another password", "display_name": "Mallory"}
    )
    assert resp.status == 202
    assert await resp.json() == {"status": "verification_sent"}
    notice = await mail.wait_for(email, 2)
    assert notice["Subject"] == "Someone tried to register with your address"
    # The original password still holds.
    await verify(client, mail, email)
    await login(client, email)


async def test_login_answers_the_same_for_unknown_email_and_wrong_password(client: TestClient, mail: Mailbox) -> None:
    grant = await signed_in(client, mail)
    email = grant["user"]["email"]
    unknown = await client.post("/api/auth/login", json={"email": new_email(), "password": PASSWORD})
    wrong = await client.post("/api/auth/login", json={"email": email, "password": "not the password"})
    assert unknown.status == wrong.status == 401
    assert await unknown.json() == await wrong.json()


async def test_refresh_rotates_and_reuse_revokes_the_session(client: TestClient, mail: Mailbox) -> None:
    grant = await signed_in(client, mail)
    first_refresh = grant["refresh_token"]
    resp = await client.post("/api/auth/refresh", json={"refresh_token": first_refresh})
    assert resp.status == 200
    rotated = await resp.json()
    assert rotated["refresh_token"] != first_refresh
    assert (await client.get("/api/me", headers=bearer(rotated))).status == 200

    # The old refresh token comes back: someone copied it. The whole session ends.
    stolen = await client.post("/api/auth/refresh", json={"refresh_token": first_refresh})
    assert stolen.status == 401
    assert (await stolen.json())["error"]["code"] == "invalid_refresh_token"
    after = await client.post("/api/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert after.status == 401
    me = await client.get("/api/me", headers=bearer(rotated))
    assert me.status == 401
    assert (await me.json())["error"]["code"] == "session_ended"


async def test_expired_access_token_is_refreshed(
    client: TestClient, mail: Mailbox, make_settings, aiohttp_client
) -> None:  # type: ignore[no-untyped-def]

    short = await aiohttp_client(create_app(make_settings(access_token_seconds=-1)))
    grant = await signed_in(short, mail)
    me = await short.get("/api/me", headers=bearer(grant))
    assert me.status == 401
    assert (await me.json())["error"]["code"] == "token_expired"
    resp = await short.post("/api/auth/refresh", json={"refresh_token": grant["refresh_token"]})
    assert resp.status == 200


async def test_sessions_list_and_revoke(client: TestClient, mail: Mailbox) -> None:
    email = new_email()
    phone = await signed_in(
        client,
        mail,
        email,
        **{"User-Agent": "Mozilla/5.0 (Linux; Android 14) Chrome/120.0", "X-Forwarded-For": "198.51.100.7"},
    )
    laptop = await login(client, email, **{"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"})
    resp = await client.get("/api/me/sessions", headers=bearer(laptop))
    assert resp.status == 200
    sessions = (await resp.json())["sessions"]
    assert len(sessions) == 2
    by_device = {s["device"]: s for s in sessions}
    assert by_device["Chrome on Android"]["ip"] == "198.51.100.7"
    assert by_device["Chrome on Android"]["current"] is False
    assert by_device["Firefox on Linux"]["current"] is True
    assert by_device["Firefox on Linux"]["last_seen_at"] > 0

    # End the phone's session from the laptop: its tokens stop working at once.
    resp = await client.delete(f"/api/me/sessions/{by_device['Chrome on Android']['id']}", headers=bearer(laptop))
    assert resp.status == 204
    assert (await client.get("/api/me", headers=bearer(phone))).status == 401
    refresh = await client.post("/api/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    assert refresh.status == 401
    remaining = (await (await client.get("/api/me/sessions", headers=bearer(laptop))).json())["sessions"]
    assert [s["device"] for s in remaining] == ["Firefox on Linux"]


async def test_sessions_page(client: TestClient, mail: Mailbox) -> None:
    email = new_email()
    grant = await signed_in(client, mail, email)
    for _ in range(4):
        await login(client, email)
    seen: list[str] = []
    url = "/api/me/sessions?limit=2"
    while url:
        body = await (await client.get(url, headers=bearer(grant))).json()
        assert len(body["sessions"]) <= 2
        seen += [s["id"] for s in body["sessions"]]
        url = f"/api/me/sessions?limit=2&cursor={body['next']}" if body["next"] else ""
    assert len(seen) == len(set(seen)) == 5


async def test_cannot_end_someone_elses_session(client: TestClient, mail: Mailbox) -> None:
    alice = await signed_in(client, mail)
    bob = await signed_in(client, mail)
    resp = await client.delete(f"/api/me/sessions/{_session_id(bob)}", headers=bearer(alice))
    assert resp.status == 404
    assert (await client.get("/api/me", headers=bearer(bob))).status == 200


def _session_id(grant: dict[str, str]) -> str:
    import jwt

    return str(jwt.decode(grant["access_token"], options={"verify_signature": False})["sid"])


async def test_logout_ends_the_session(client: TestClient, mail: Mailbox) -> None:
    grant = await signed_in(client, mail)
    resp = await client.post("/api/auth/logout", headers=bearer(grant))
    assert resp.status == 204
    assert (await client.get("/api/me", headers=bearer(grant))).status == 401
    resp = await client.post("/api/auth/refresh", json={"refresh_token": grant["refresh_token"]})
    assert resp.status == 401


async def test_password_reset_by_email(client: TestClient, mail: Mailbox) -> None:
    email = new_email()
    old = await signed_in(client, mail, email)
    resp = await client.post("/api/auth/password-reset", json={"email": email})
    assert resp.status == 202
    message = await mail.wait_for(email, 2)
    assert message["Subject"] == "Reset your password"
    link = link_in(message, "/reset-password")

    form = await client.get(link)
    assert form.status == 200
    html = await form.text()
    assert 'action="/reset-password"' in html
    token = link.split("token=")[1]

    mismatch = await client.post(
        "/reset-password", data={"token": token, "password": "a brand new secret", "repeat": "something else"}
    )
    assert mismatch.status == 400
    assert "differ" in await mismatch.text()
    done = await client.post(
        "/reset-password", data={"token": token, "password": "a brand new secret", "repeat": "a brand new secret"}
    )
    assert done.status == 200
    assert "Your password is changed" in await done.text()

    # Old sessions end; the old password no longer works; the new one does; the link is spent.
    assert (await client.get("/api/me", headers=bearer(old))).status == 401
    wrong = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert wrong.status == 401
    await login(client, email, "a brand new secret")
    spent = await client.post("/api/auth/password-reset/confirm", json={"token": token, "password": "yet another one!"})
    assert spent.status == 400
    assert (await spent.json())["error"]["code"] == "invalid_token"


async def test_password_reset_for_unknown_address_sends_nothing(client: TestClient, mail: Mailbox) -> None:
    resp = await client.post("/api/auth/password-reset", json={"email": "nobody@example.test"})
    assert resp.status == 202
    assert mail.to("nobody@example.test") == []


async def test_profile_update(client: TestClient, mail: Mailbox) -> None:
    grant = await signed_in(client, mail)
    resp = await client.patch(
        "/api/me", json={"display_name": "Ada L.", "phone": "+44 20 7946 0000"}, headers=bearer(grant)
    )
    assert resp.status == 200
    assert (await resp.json())["phone"] == "+44 20 7946 0000"
    resp = await client.patch("/api/me", json={"phone": None}, headers=bearer(grant))
    body = await resp.json()
    assert body["phone"] is None
    assert body["display_name"] == "Ada L."
