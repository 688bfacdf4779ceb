"""The server knows as little as it can: personal data never appears in the clear in the database files,
a pg_dump, or the logs."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.auth.appkeys import outbox_key
from server.config import Settings
from server.crypto.keyring import Keyring
from server.crypto.rotate import rotate
from server.keys import database_key
from server.ops.logs import JsonFormatter, quiet_revealing_loggers
from server.storage.encrypted import ENCRYPTED_COLUMNS
from tests.conftest import Mailbox, free_port
from tests.helpers import PASSWORD, bearer, login, verified_user


@pytest.fixture(name="log_output")
def log_output_fixture() -> Iterator[io.StringIO]:
    """Everything the server logs, as it would be written."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    # aiosmtpd's "mail.log" belongs to the test's mail server, which is meant to see the address.
    handler.addFilter(lambda record: not record.name.startswith("mail.log"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    quiet_revealing_loggers()  # as run.py's setup_logging does
    yield out
    root.removeHandler(handler)
    root.setLevel(old_level)


def canaries() -> dict[str, str]:
    tag = uuid.uuid4().hex[:12]
    return {
        "email": f"canary-mail-{tag}@example.test",
        "name": f"Canary Name {tag}",
        "phone": f"+99 {int(tag, 16) % 10**12:012d}",
        "ip": f"2001:db8::{tag[:4]}:{tag[4:8]}:{tag[8:12]}",
        "agent": f"CanaryAgent/{tag}",
        "message": f"canary message text {tag}",
        "edited": f"canary edited text {tag}",
        "group": f"Canary Group {tag}",
        "renamed": f"Canary Renamed {tag}",
        "about": f"canary description {tag}",
        "reason": f"canary report reason {tag}",
        "file": f"canary-file-{tag}.txt",
        "username": f"Canary_{tag}",
    }


def _database_bytes(settings: Settings, database_url: str) -> bytes:
    if settings.database_backend == "sqlite":
        path = settings.sqlite_path
        return b"".join(
            Path(f"{path}{suffix}").read_bytes() for suffix in ("", "-wal", "-shm") if Path(f"{path}{suffix}").exists()
        )
    dump = subprocess.run(["pg_dump", "--no-owner", database_url], capture_output=True, check=True, timeout=60)
    return dump.stdout


def _forms(value: str) -> list[bytes]:
    return [value.encode(), value.lower().encode(), value.encode("utf-16-le")]


async def test_canaries_appear_nowhere(
    client: TestClient, mail: Mailbox, settings: Settings, database_url: str, log_output: io.StringIO
) -> None:
    c = canaries()
    headers = {"User-Agent": c["agent"], "X-Forwarded-For": c["ip"]}
    resp = await client.post(
        "/api/auth/register",
        json={"email": c["email"], "password": PASSWORD, "display_name": c["name"]},
        headers=headers,
    )
    assert resp.status == 202
    message = await mail.wait_for(c["email"])
    from tests.conftest import link_in

    assert (await client.get(link_in(message, "/verify-email"), headers=headers)).status == 200
    grant = await login(client, c["email"], **headers)
    resp = await client.patch(
        "/api/me", json={"phone": c["phone"], "username": c["username"]}, headers={**bearer(grant), **headers}
    )
    assert resp.status == 200
    refreshed = await client.post("/api/auth/refresh", json={"refresh_token": grant["refresh_token"]}, headers=headers)
    assert refreshed.status == 200
    sessions = await (await client.get("/api/me/sessions", headers=bearer(await refreshed.json()))).json()
    # The server can still read it all back for the owner...
    assert sessions["sessions"][0]["ip"] == c["ip"]
    assert sessions["sessions"][0]["user_agent"] == c["agent"]
    # A failed sign-in is logged too; still no address in the log.
    await client.post("/api/auth/login", json={"email": c["email"], "password": "wrong password"}, headers=headers)
    invite_code = await _chat_canaries(client, await refreshed.json(), c)

    raw_check_extra = [invite_code]

    raw = _database_bytes(settings, database_url)
    assert len(raw) > 1000
    logs = log_output.getvalue()
    assert "POST /api/auth/login 401" in logs  # the log was captured
    for name, value in c.items():
        for form in _forms(value):
            assert form not in raw, f"{name} found in the database"
        assert value not in logs, f"{name} found in the log"
        assert value.lower() not in logs, f"{name} found in the log"
    for secret in raw_check_extra:
        assert secret.encode() not in raw, "an invite code found in the database"
        assert secret not in logs, "an invite code found in the log"
    # Nor the tokens.
    assert grant["refresh_token"] not in logs
    assert grant["refresh_token"].encode() not in raw
    assert grant["access_token"] not in logs


async def _chat_canaries(client: TestClient, grant: dict[str, Any], c: dict[str, str]) -> str:
    """Chat names, descriptions, message text (sent, edited, replayed), invite codes and report reasons."""
    friend = await verified_user(client)
    made = await client.post(
        "/api/chats",
        json={"kind": "group", "name": c["group"], "description": c["about"], "members": [friend["user"]["id"]]},
        headers=bearer(grant),
    )
    assert made.status == 201
    chat_id = (await made.json())["id"]
    sent = await client.post(
        f"/api/chats/{chat_id}/messages",
        json={"client_id": str(uuid.uuid4()), "text": c["message"]},
        headers=bearer(grant),
    )
    assert sent.status == 201
    message_id = (await sent.json())["id"]
    resp = await client.patch(
        f"/api/chats/{chat_id}/messages/{message_id}", json={"text": c["edited"]}, headers=bearer(grant)
    )
    assert resp.status == 200
    resp = await client.patch(f"/api/chats/{chat_id}", json={"name": c["renamed"]}, headers=bearer(grant))
    assert resp.status == 200
    resp = await client.post(
        f"/api/chats/{chat_id}/messages/{message_id}/report", json={"reason": c["reason"]}, headers=bearer(friend)
    )
    assert resp.status == 201
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("file", b"plain notes\n", filename=c["file"], content_type="text/plain")
    uploaded = await client.post(f"/api/chats/{chat_id}/attachments", data=form, headers=bearer(grant))
    assert uploaded.status == 201, await uploaded.text()
    upload = await uploaded.json()
    with_file = await client.post(
        f"/api/chats/{chat_id}/messages",
        json={"client_id": str(uuid.uuid4()), "attachments": [upload["id"]]},
        headers=bearer(grant),
    )
    assert with_file.status == 201
    served = await client.get(f"/api/attachments/{upload['id']}", headers=bearer(friend))
    assert c["file"] in served.headers["Content-Disposition"]  # members get the name back
    invite = await (await client.post(f"/api/chats/{chat_id}/invites", json={}, headers=bearer(grant))).json()
    # The members still read it all back.
    page = await (await client.get(f"/api/chats/{chat_id}/messages", headers=bearer(friend))).json()
    assert page["messages"][0]["text"] == c["edited"]
    view = await (await client.get(f"/api/chats/{chat_id}", headers=bearer(friend))).json()
    assert (view["name"], view["description"]) == (c["renamed"], c["about"])
    code: str = invite["code"]
    return code


async def test_rotate_keys_while_serving(aiohttp_client: Any, make_settings: Any) -> None:
    old_key, new_key = os.urandom(32), os.urandom(32)
    old = make_settings(encryption_keys=(("old", old_key),))
    first = await aiohttp_client(create_app(old))
    grants = [await verified_user(first) for _ in range(6)]
    # Chat rows too: messages and events have two-column keys, which rotation pages over.
    made = await first.post(
        "/api/chats",
        json={"kind": "group", "name": "Rotating", "members": [g["user"]["id"] for g in grants[1:3]]},
        headers=bearer(grants[0]),
    )
    chat_id = (await made.json())["id"]
    for n in range(5):
        resp = await first.post(
            f"/api/chats/{chat_id}/messages",
            json={"client_id": str(uuid.uuid4()), "text": f"t{n}"},
            headers=bearer(grants[0]),
        )
        assert resp.status == 201
    await first.close()

    # Restart with a new primary key; the old one still decrypts.
    both = make_settings(encryption_keys=(("new", new_key), ("old", old_key)))
    client = await aiohttp_client(create_app(both))
    db = client.app[database_key]
    keyring = Keyring(both.encryption_keys)
    assert any(keyring.needs_rotation(r["email"]) for r in await db.fetch("SELECT email FROM users"))

    async def keep_serving() -> int:
        served = 0
        for grant in grants * 3:
            fresh = await login(client, grant["user"]["email"])
            resp = await client.patch("/api/me", json={"display_name": f"n{served}"}, headers=bearer(fresh))
            assert resp.status == 200
            served += 1
        return served

    done, served = await asyncio.gather(rotate(db, keyring, ENCRYPTED_COLUMNS, batch=2), keep_serving())
    assert served == 18
    assert done["users"] >= 1
    again = await rotate(db, keyring, ENCRYPTED_COLUMNS)
    assert set(again.values()) == {0}
    for table, (_, columns) in ENCRYPTED_COLUMNS.items():
        for row in await db.fetch(f"SELECT {', '.join(columns)} FROM {table}"):
            for column in columns:
                assert row[column] is None or keyring.key_id_of(row[column]) == "new"
    await client.close()

    # The old key can now be retired.
    only_new = await aiohttp_client(create_app(make_settings(encryption_keys=(("new", new_key),))))
    page = await (
        await only_new.get(
            f"/api/chats/{chat_id}/messages", headers=bearer(await login(only_new, grants[1]["user"]["email"]))
        )
    ).json()
    assert [m["text"] for m in page["messages"]] == [f"t{n}" for n in range(5)]
    for grant in grants:
        fresh = await login(only_new, grant["user"]["email"])
        me = await (await only_new.get("/api/me", headers=bearer(fresh))).json()
        assert me["email"] == grant["user"]["email"]


async def test_queued_mail_is_sealed_and_rotates(
    aiohttp_client: Any, make_settings: Any, settings: Settings, database_url: str, log_output: io.StringIO
) -> None:
    """Mail waiting in the outbox (here: kept after its one attempt failed) holds the address, the name and the
    link only as ciphertext; the log names none of them; rotate-keys re-encrypts it."""
    c = canaries()
    old_key, new_key = os.urandom(32), os.urandom(32)
    dead = make_settings(encryption_keys=(("old", old_key),), smtp_port=free_port(), mail_max_attempts=1)
    client = await aiohttp_client(create_app(dead))
    resp = await client.post(
        "/api/auth/register", json={"email": c["email"], "password": PASSWORD, "display_name": c["name"]}
    )
    assert resp.status == 202
    outbox = client.app[outbox_key]
    await asyncio.wait_for(outbox.drained(), 10)
    assert await outbox.repo.counts() == {"failed": 1}
    db = client.app[database_key]
    row = await db.fetchrow("SELECT id, recipient, subject, body FROM mail_outbox")
    assert row is not None

    raw = _database_bytes(settings, database_url)
    logs = log_output.getvalue()
    assert "given up" in logs  # the log was captured
    for name in ("email", "name"):
        for form in _forms(c[name]):
            assert form not in raw, f"{name} found in the database"
        assert c[name] not in logs, f"{name} found in the log"
        assert c[name].lower() not in logs, f"{name} found in the log"
    assert b"verify-email?token=" not in raw

    keyring = Keyring((("new", new_key), ("old", old_key)))
    done = await rotate(db, keyring, {"mail_outbox": ENCRYPTED_COLUMNS["mail_outbox"]})
    assert done == {"mail_outbox": 3}
    rotated = await db.fetchrow("SELECT recipient, body FROM mail_outbox")
    assert rotated is not None
    assert keyring.key_id_of(rotated["recipient"]) == "new"
    opened = keyring.decrypt(rotated["body"], table="mail_outbox", column="body", row_id=row["id"])
    assert c["name"] in opened
    assert "/verify-email?token=" in opened
