"""Web Push: subscriptions per device, stored encrypted, and pushes that reach a real push endpoint on loopback
signed with VAPID and encrypted (aes128gcm) so that only the browser's key opens them."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import orjson
import pytest
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from server.app import create_app
from server.chat.appkeys import push_key
from server.chat.push import MAX_PAYLOAD_BYTES, PushService, push_client_session
from server.config import SECRETS_FILE, ConfigError, Settings, new_vapid_key
from server.crypto.keyring import Keyring
from server.crypto.rotate import rotate
from server.keys import database_key, keyring_key
from server.storage.encrypted import ENCRYPTED_COLUMNS
from tests.chat.chatkit import Browser, PushEndpoint, b64url, subscribe, unb64url
from tests.conftest import free_port
from tests.helpers import bearer, login, verified_user
from tests.web.test_outbound import HugeAnswer, huge_server


@pytest.fixture(name="client")
def client_fixture(push_client: TestClient) -> TestClient:
    return push_client  # an app allowed to push to the push service on loopback


async def stored_count(client: TestClient) -> int:
    return int(await client.app[database_key].fetchval("SELECT COUNT(*) FROM push_subscriptions"))


# -- delivery -------------------------------------------------------------------------------------------


async def test_a_push_arrives_signed_with_vapid_and_encrypted_for_the_browser(
    client: TestClient, push_endpoint: PushEndpoint, push_settings: Settings
) -> None:
    grant = await verified_user(client)
    browser = push_endpoint.browser()
    await subscribe(client, grant, browser)
    payload = {"type": "message", "chat_id": "c1", "message_id": 7, "preview": "Grüße, Ada — 👋"}

    delivered = await client.app[push_key].notify(grant["user"]["id"], payload, ttl=120, urgency="high")

    assert delivered == 1
    [push] = push_endpoint.to(browser)
    assert push.headers["TTL"] == "120"
    assert push.headers["Urgency"] == "high"
    assert push.headers["Content-Encoding"] == "aes128gcm"
    assert browser.decrypt(push.body) == {**payload, "lang": "en"}  # the user's language, for the texts shown
    assert "Grüße".encode() not in push.body  # only the browser's key opens it

    # Authorization: vapid t=<JWT>, k=<the server's public key>, the key the browser subscribed with.
    scheme, _, params = push.headers["Authorization"].partition(" ")
    assert scheme == "vapid"
    values = dict(p.strip().split("=", 1) for p in params.split(","))
    published = (await (await client.get("/api/push/vapid-public-key")).json())["public_key"]
    assert values["k"] == published
    server_key = ec.derive_private_key(int.from_bytes(push_settings.vapid_private_key, "big"), ec.SECP256R1())
    assert unb64url(published) == server_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(values["k"]))
    origin = push_endpoint.origin
    claims = jwt.decode(values["t"], public_key, algorithms=["ES256"], audience=origin)
    assert claims["sub"] == push_settings.vapid_subject
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    # A JWT signed by any other key does not verify.
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(values["t"], other, algorithms=["ES256"], audience=origin)


async def test_the_ttl_defaults_to_the_setting_and_every_device_gets_the_push(
    aiohttp_client: Any, make_settings: Callable[..., Settings], push_endpoint: PushEndpoint
) -> None:
    client = await aiohttp_client(create_app(make_settings(push_allow_loopback=True, push_ttl_seconds=3600)))
    grant = await verified_user(client)
    phone = await login(client, grant["user"]["email"])  # a second device: a second session
    laptop, handset = push_endpoint.browser(), push_endpoint.browser()
    await subscribe(client, grant, laptop)
    await subscribe(client, phone, handset)

    assert await client.app[push_key].notify(grant["user"]["id"], {"type": "ping"}) == 2
    for browser in (laptop, handset):
        [push] = push_endpoint.to(browser)
        assert push.headers["TTL"] == "3600"
        assert push.headers["Urgency"] == "normal"
        assert browser.decrypt(push.body) == {"type": "ping"}


@pytest.mark.parametrize("status", [404, 410])
async def test_a_subscription_the_push_service_calls_gone_is_removed(
    client: TestClient, push_endpoint: PushEndpoint, status: int
) -> None:
    grant = await verified_user(client)
    browser = push_endpoint.browser(answer=status)
    await subscribe(client, grant, browser)

    assert await client.app[push_key].notify(grant["user"]["id"], {"type": "ping"}) == 0
    assert len(push_endpoint.to(browser)) == 1
    assert await stored_count(client) == 0
    assert await client.app[push_key].notify(grant["user"]["id"], {"type": "ping"}) == 0
    assert len(push_endpoint.to(browser)) == 1  # not tried again


async def test_a_failing_push_service_keeps_the_subscription_and_logs_no_token(
    client: TestClient, push_endpoint: PushEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    grant = await verified_user(client)
    broken, working = push_endpoint.browser(answer=500), push_endpoint.browser()
    await subscribe(client, grant, broken)
    second = await login(client, grant["user"]["email"])
    await subscribe(client, second, working)
    caplog.set_level(logging.DEBUG)
    # As run.py sets them: the libraries that would log parameters or addresses are quieted (the access log
    # here would be the test push service's own).
    for name, level in (("aiohttp.access", logging.WARNING), ("aiosqlite", logging.INFO), ("asyncpg", logging.INFO)):
        caplog.set_level(level, logger=name)

    assert await client.app[push_key].notify(grant["user"]["id"], {"type": "ping"}) == 1
    assert await stored_count(client) == 2
    assert "answered 500" in caplog.text
    for browser in (broken, working):
        sub = browser.subscription()
        for secret in (sub["endpoint"], sub["endpoint"].rsplit("/", 1)[1], sub["keys"]["p256dh"], sub["keys"]["auth"]):
            assert secret not in caplog.text


async def test_a_slow_or_unreachable_push_service_does_not_hold_up_the_others(
    client: TestClient, push_endpoint: PushEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    grant = await verified_user(client)
    slow, fast = push_endpoint.browser(delay=5), push_endpoint.browser()
    closed = Browser(f"http://127.0.0.1:{free_port()}/wpush/nobody-listens")
    for browser in (slow, fast, closed):
        await subscribe(client, await login(client, grant["user"]["email"]), browser)
    app_service = client.app[push_key]
    async with push_client_session(allow_loopback=True) as session:
        service = PushService(
            app_service.repo,
            session,
            vapid_private_key=new_vapid_key_bytes(),
            subject="mailto:ops@example.test",
            ttl_seconds=60,
            allow_loopback=True,
            timeout=0.5,
        )
        assert await service.notify(grant["user"]["id"], {"type": "ping"}) == 1
    assert len(push_endpoint.to(fast)) == 1
    assert await stored_count(client) == 3  # a timeout or a refused connection is no reason to forget a device
    assert "did not answer" in caplog.text
    assert "sending failed (ClientConnectorError)" in caplog.text


async def test_a_redirect_is_not_a_delivery_and_keeps_the_subscription(
    client: TestClient, push_endpoint: PushEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    grant = await verified_user(client)
    moved = push_endpoint.browser(answer=307)
    await subscribe(client, grant, moved)
    assert await client.app[push_key].notify(grant["user"]["id"], {"type": "ping"}) == 0
    assert len(push_endpoint.to(moved)) == 1
    assert await stored_count(client) == 1
    assert "answered 307, a redirect" in caplog.text


async def test_a_push_service_answering_a_huge_body_is_read_only_up_to_the_cap(
    client: TestClient, aiohttp_server: Any
) -> None:
    grant = await verified_user(client)
    huge = HugeAnswer(status=201)
    await subscribe(client, grant, Browser(await huge_server(aiohttp_server, huge)))
    assert await client.app[push_key].notify(grant["user"]["id"], {"type": "ping"}) == 1
    await huge.wait()
    assert huge.hung_up  # the connection was closed, not drained
    assert huge.sent < huge.total // 2


def new_vapid_key_bytes() -> bytes:
    return unb64url(new_vapid_key())


async def test_notify_refuses_what_no_push_service_would_take(client: TestClient) -> None:
    grant = await verified_user(client)
    service = client.app[push_key]
    with pytest.raises(ValueError, match="at most"):
        await service.notify(grant["user"]["id"], {"preview": "x" * MAX_PAYLOAD_BYTES})
    with pytest.raises(ValueError, match="urgency"):
        await service.notify(grant["user"]["id"], {"type": "ping"}, urgency="urgent")
    assert await service.notify("no-such-user", {"type": "ping"}) == 0


async def test_the_largest_payload_still_fits_one_push(client: TestClient, push_endpoint: PushEndpoint) -> None:
    grant = await verified_user(client)
    browser = push_endpoint.browser()
    await subscribe(client, grant, browser)
    payload = {"preview": "x" * (MAX_PAYLOAD_BYTES - len(b'{"preview":""}'))}
    assert await client.app[push_key].notify(grant["user"]["id"], payload) == 1
    [push] = push_endpoint.to(browser)
    assert len(push.body) <= 4096
    assert browser.decrypt(push.body) == payload


# -- subscriptions --------------------------------------------------------------------------------------


async def test_the_vapid_public_key_is_public(client: TestClient, push_settings: Settings) -> None:
    resp = await client.get("/api/push/vapid-public-key")
    assert resp.status == 200
    key = unb64url((await resp.json())["public_key"])
    assert len(key) == 65
    assert key[0] == 4
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key)


async def test_subscriptions_are_stored_as_ciphertext(client: TestClient, push_endpoint: PushEndpoint) -> None:
    grant = await verified_user(client)
    browser = push_endpoint.browser()
    created = await subscribe(client, grant, browser)
    assert set(created) == {"id", "created_at", "expires_at"}

    row = await client.app[database_key].fetchrow("SELECT * FROM push_subscriptions")
    assert row is not None
    sub = browser.subscription()
    plain = {"endpoint": sub["endpoint"], "p256dh": sub["keys"]["p256dh"], "auth": sub["keys"]["auth"]}
    keyring = client.app[keyring_key]
    for column, value in plain.items():
        stored = bytes(row[column])
        for form in (value.encode(), unb64url(value) if column != "endpoint" else b"/wpush/"):
            assert form not in stored, f"{column} is readable in the database"
        assert keyring.decrypt(stored, table="push_subscriptions", column=column, row_id=row["id"]) == value
    assert sub["endpoint"].encode() not in bytes(row["endpoint_index"])


async def test_subscriptions_survive_key_rotation(
    aiohttp_client: Any, make_settings: Callable[..., Settings], push_endpoint: PushEndpoint
) -> None:
    old_key, new_key = os.urandom(32), os.urandom(32)
    first = await aiohttp_client(
        create_app(make_settings(push_allow_loopback=True, encryption_keys=(("old", old_key),)))
    )
    grant = await verified_user(first)
    browser = push_endpoint.browser()
    await subscribe(first, grant, browser)
    await first.close()

    both = make_settings(push_allow_loopback=True, encryption_keys=(("new", new_key), ("old", old_key)))
    second = await aiohttp_client(create_app(both))
    done = await rotate(second.app[database_key], Keyring(both.encryption_keys), ENCRYPTED_COLUMNS)
    assert done["push_subscriptions"] == 3  # endpoint, p256dh, auth
    await second.close()

    only_new = make_settings(push_allow_loopback=True, encryption_keys=(("new", new_key),))
    third = await aiohttp_client(create_app(only_new))
    assert await third.app[push_key].notify(grant["user"]["id"], {"n": 1}) == 1
    assert [browser.decrypt(r.body) for r in push_endpoint.to(browser)] == [{"n": 1}]


async def test_a_device_has_one_subscription_and_an_endpoint_one_device(
    client: TestClient, push_endpoint: PushEndpoint
) -> None:
    ada = await verified_user(client)
    first, second = push_endpoint.browser(), push_endpoint.browser()
    await subscribe(client, ada, first)
    await subscribe(client, ada, second)  # the browser subscribed again: the newest wins
    assert await stored_count(client) == 1
    assert await client.app[push_key].notify(ada["user"]["id"], {"n": 1}) == 1
    assert (len(push_endpoint.to(first)), len(push_endpoint.to(second))) == (0, 1)

    # Ada signs out; Bob signs in in the same browser, which hands over the same subscription.
    assert (await client.post("/api/auth/logout", headers=bearer(ada))).status == 204
    bob = await verified_user(client)
    await subscribe(client, bob, second)
    assert await stored_count(client) == 1
    assert await client.app[push_key].notify(ada["user"]["id"], {"n": 2}) == 0
    assert await client.app[push_key].notify(bob["user"]["id"], {"n": 3}) == 1
    assert [second.decrypt(r.body) for r in push_endpoint.to(second)] == [{"n": 1}, {"n": 3}]


async def test_delete_forgets_this_device_only(client: TestClient, push_endpoint: PushEndpoint) -> None:
    grant = await verified_user(client)
    other = await login(client, grant["user"]["email"])
    mine, theirs = push_endpoint.browser(), push_endpoint.browser()
    await subscribe(client, grant, mine)
    await subscribe(client, other, theirs)

    assert (await client.delete("/api/push/subscriptions", headers=bearer(grant))).status == 204
    assert (await client.delete("/api/push/subscriptions", headers=bearer(grant))).status == 204  # again: fine
    assert await client.app[push_key].notify(grant["user"]["id"], {"type": "ping"}) == 1
    assert (len(push_endpoint.to(mine)), len(push_endpoint.to(theirs))) == (0, 1)


async def test_an_ended_session_gets_no_push_and_its_subscription_goes(
    client: TestClient, push_endpoint: PushEndpoint
) -> None:
    grant = await verified_user(client)
    browser = push_endpoint.browser()
    await subscribe(client, grant, browser)
    assert (await client.post("/api/auth/logout", headers=bearer(grant))).status == 204

    assert await client.app[push_key].notify(grant["user"]["id"], {"type": "ping"}) == 0
    assert push_endpoint.to(browser) == []
    assert await stored_count(client) == 0


async def test_an_expired_subscription_is_not_used(client: TestClient, push_endpoint: PushEndpoint) -> None:
    grant = await verified_user(client)
    browser = push_endpoint.browser()
    later = (time.time() + 3600) * 1000
    resp = await client.post(
        "/api/push/subscriptions", json=browser.subscription(expirationTime=later), headers=bearer(grant)
    )
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["expires_at"] == pytest.approx(later / 1000)
    await client.app[database_key].execute("UPDATE push_subscriptions SET expires_at = 1")  # long past
    assert await client.app[push_key].notify(grant["user"]["id"], {"type": "ping"}) == 0
    assert await stored_count(client) == 0


async def test_subscribing_needs_a_signed_in_device(client: TestClient, push_endpoint: PushEndpoint) -> None:
    resp = await client.post("/api/push/subscriptions", json=push_endpoint.browser().subscription())
    assert resp.status == 401
    assert (await client.delete("/api/push/subscriptions")).status == 401


BAD_SUBSCRIPTIONS: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("not an object", lambda s: [s], ""),
    ("no endpoint", lambda s: {k: v for k, v in s.items() if k != "endpoint"}, "endpoint"),
    ("endpoint not a string", lambda s: {**s, "endpoint": 5}, "endpoint"),
    ("plain http", lambda s: {**s, "endpoint": "http://push.example.com/x"}, "endpoint"),
    ("other scheme", lambda s: {**s, "endpoint": "ftp://push.example.com/x"}, "endpoint"),
    ("private address", lambda s: {**s, "endpoint": "https://10.1.2.3/x"}, "endpoint"),
    ("link-local address", lambda s: {**s, "endpoint": "https://[fe80::1]/x"}, "endpoint"),
    ("user info", lambda s: {**s, "endpoint": "https://me:pw@push.example.com/x"}, "endpoint"),
    ("no host", lambda s: {**s, "endpoint": "https:///x"}, "endpoint"),
    ("too long", lambda s: {**s, "endpoint": "https://push.example.com/" + "x" * 2100}, "endpoint"),
    ("control character", lambda s: {**s, "endpoint": "https://push.example.com/\nx"}, "endpoint"),
    ("no keys", lambda s: {k: v for k, v in s.items() if k != "keys"}, "keys"),
    ("keys not an object", lambda s: {**s, "keys": "k"}, "keys"),
    ("no p256dh", lambda s: {**s, "keys": {"auth": s["keys"]["auth"]}}, "keys.p256dh"),
    ("p256dh not base64url", lambda s: {**s, "keys": {**s["keys"], "p256dh": "!!!"}}, "keys.p256dh"),
    (
        "p256dh not a point",
        lambda s: {**s, "keys": {**s["keys"], "p256dh": b64url(b"\x04" + b"\x01" * 64)}},
        "keys.p256dh",
    ),
    ("p256dh too long", lambda s: {**s, "keys": {**s["keys"], "p256dh": "A" * 300}}, "keys.p256dh"),
    ("auth too short", lambda s: {**s, "keys": {**s["keys"], "auth": b64url(b"x" * 8)}}, "keys.auth"),
    ("auth not a string", lambda s: {**s, "keys": {**s["keys"], "auth": None}}, "keys.auth"),
    ("unknown key", lambda s: {**s, "keys": {**s["keys"], "extra": "x"}}, "keys.extra"),
    ("unknown field", lambda s: {**s, "topic": "x"}, "topic"),
    ("expiration in the past", lambda s: {**s, "expirationTime": 1000}, "expirationTime"),
    ("expiration not a number", lambda s: {**s, "expirationTime": "soon"}, "expirationTime"),
    ("expiration a boolean", lambda s: {**s, "expirationTime": True}, "expirationTime"),
]


@pytest.mark.parametrize(
    ("change", "field_name"), [(c, f) for _, c, f in BAD_SUBSCRIPTIONS], ids=[n for n, _, _ in BAD_SUBSCRIPTIONS]
)
async def test_a_bad_subscription_is_refused_naming_the_field(
    client: TestClient,
    push_endpoint: PushEndpoint,
    change: Callable[[dict[str, Any]], Any],
    field_name: str,
) -> None:
    grant = await verified_user(client)
    subscription = push_endpoint.browser().subscription()
    resp = await client.post("/api/push/subscriptions", json=change(subscription), headers=bearer(grant))
    assert resp.status == 400, await resp.text()
    error = (await resp.json())["error"]
    assert error.get("field", "") == field_name
    assert await stored_count(client) == 0


async def test_malformed_or_oversized_bodies_are_refused(client: TestClient) -> None:
    grant = await verified_user(client)
    resp = await client.post("/api/push/subscriptions", data=b"{not json", headers=bearer(grant))
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "malformed_json"
    resp = await client.post("/api/push/subscriptions", data=b" " * 10_000, headers=bearer(grant))
    assert resp.status == 413


async def test_loopback_endpoints_only_when_allowed(
    aiohttp_client: Any, make_settings: Callable[..., Settings], push_endpoint: PushEndpoint
) -> None:
    settings = make_settings()  # APP_ENV=test: loopback is off unless asked for
    assert not settings.push_allow_loopback
    client = await aiohttp_client(create_app(settings))
    grant = await verified_user(client)
    for endpoint in (push_endpoint.origin + "/wpush/x", "https://localhost/x", "https://[::1]/x"):
        resp = await client.post(
            "/api/push/subscriptions", json=Browser(endpoint).subscription(), headers=bearer(grant)
        )
        assert resp.status == 400, endpoint
        assert (await resp.json())["error"]["field"] == "endpoint"


async def test_a_host_name_resolving_to_loopback_is_not_called_unless_allowed(push_endpoint: PushEndpoint) -> None:
    # "localhost" is a name, so this is the resolver's check (a literal address never reaches a resolver).
    url = push_endpoint.origin.replace("127.0.0.1", "localhost") + "/wpush/x"
    async with push_client_session(allow_loopback=False) as session:
        with pytest.raises(aiohttp.ClientConnectorError):
            await session.post(url, data=b"x")
    async with push_client_session(allow_loopback=True) as session, session.post(url, data=b"x") as response:
        assert response.status == 201
    assert len(push_endpoint.received) == 1


# -- settings -------------------------------------------------------------------------------------------


def test_development_generates_a_vapid_key_once_and_production_requires_one(tmp_path: Path) -> None:
    first = Settings.from_env({"DATA_DIR": str(tmp_path)})
    assert "VAPID_PRIVATE_KEY" in first.generated_secrets
    assert len(first.vapid_private_key) == 32
    assert first.push_allow_loopback  # development
    assert first.push_ttl_seconds == 86400
    assert Settings.from_env({"DATA_DIR": str(tmp_path)}).vapid_private_key == first.vapid_private_key
    with pytest.raises(ConfigError, match="VAPID_PRIVATE_KEY"):
        Settings.from_env({"DATA_DIR": str(tmp_path), "APP_ENV": "production"})
    key = new_vapid_key()
    given = Settings.from_env(
        {"DATA_DIR": str(tmp_path), "VAPID_PRIVATE_KEY": key, "VAPID_SUBJECT": "mailto:ops@example.org"}
    )
    assert given.vapid_private_key == unb64url(key)
    assert given.vapid_subject == "mailto:ops@example.org"
    assert "VAPID_PRIVATE_KEY" not in given.generated_secrets


def test_an_older_secrets_file_gets_a_vapid_key_added(tmp_path: Path) -> None:
    first = Settings.from_env({"DATA_DIR": str(tmp_path)})
    path = tmp_path / SECRETS_FILE
    stored = orjson.loads(path.read_bytes())
    del stored["VAPID_PRIVATE_KEY"]
    path.write_bytes(orjson.dumps(stored))
    again = Settings.from_env({"DATA_DIR": str(tmp_path)})
    assert again.jwt_secret == first.jwt_secret
    assert len(again.vapid_private_key) == 32
    assert "VAPID_PRIVATE_KEY" in orjson.loads(path.read_bytes())
    assert Settings.from_env({"DATA_DIR": str(tmp_path)}).vapid_private_key == again.vapid_private_key


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VAPID_PRIVATE_KEY": "short"}, "VAPID_PRIVATE_KEY must be a P-256 private key"),
        ({"VAPID_PRIVATE_KEY": "A" * 43}, "VAPID_PRIVATE_KEY must be a P-256 private key"),  # zero is no key
        ({"VAPID_SUBJECT": "http://example.org"}, "VAPID_SUBJECT must be a mailto: address or an https:// URL"),
        ({"VAPID_SUBJECT": "ops@example.org"}, "VAPID_SUBJECT must be"),
        ({"PUSH_TTL_SECONDS": "-1"}, "PUSH_TTL_SECONDS must be between"),
        ({"PUSH_ALLOW_LOOPBACK": "maybe"}, "PUSH_ALLOW_LOOPBACK must be one of"),
    ],
)
def test_bad_push_settings_fail_with_a_message_naming_them(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"DATA_DIR": str(tmp_path), **env})


def test_the_vapid_subject_defaults_to_a_contact(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path)}
    assert Settings.from_env(env).vapid_subject == "mailto:noreply@localhost"
    assert Settings.from_env({**env, "SMTP_FROM": "chat@example.org"}).vapid_subject == "mailto:chat@example.org"
    assert (
        Settings.from_env({**env, "PUBLIC_URL": "https://chat.example.org"}).vapid_subject == "https://chat.example.org"
    )
    assert not Settings.from_env({**env, "APP_ENV": "test"}).push_allow_loopback
