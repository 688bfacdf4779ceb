"""What the admin console needs from the server: finding accounts, seeing and ending an account's sessions, and
the status figures. (Every admin route refusing nobody and plain users is in test_roles.py.)"""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from server.auth.appkeys import accounts_key
from server.ops.metrics import Metrics
from server.ops.status import WINDOW_SECONDS, WriteRate
from server.storage.batch import BatchWriter
from tests.helpers import PASSWORD, bearer, login, new_channel, new_email, verified_user


async def _admin(client: TestClient) -> dict[str, Any]:
    email = new_email()
    await client.app[accounts_key].ensure_admin(email=email, password=PASSWORD, display_name="Root")
    return await login(client, email)


async def _users(client: TestClient, admin: dict[str, Any], query: str) -> dict[str, Any]:
    resp = await client.get("/api/admin/users", params=query and {"q": query}, headers=bearer(admin))
    assert resp.status == 200, await resp.text()
    page: dict[str, Any] = await resp.json()
    return page


async def test_admins_find_accounts_by_name_address_or_id(client: TestClient) -> None:
    admin = await _admin(client)
    grace = await verified_user(client, name="Grace Hopper")
    ada = await verified_user(client, name="Ada Lovelace")
    grace_id, grace_email = grace["user"]["id"], grace["user"]["email"]

    by_name = await _users(client, admin, "hopp")  # any part of the name, in any case
    assert [u["id"] for u in by_name["users"]] == [grace_id]
    assert by_name["next"] is None
    by_address = await _users(client, admin, grace_email.upper())  # exact address, through its blind index
    assert [u["id"] for u in by_address["users"]] == [grace_id]
    by_part_of_address = await _users(client, admin, grace_email.split("@")[0])
    assert [u["id"] for u in by_part_of_address["users"]] == [grace_id]
    assert [u["id"] for u in (await _users(client, admin, ada["user"]["id"]))["users"]] == [ada["user"]["id"]]
    assert (await _users(client, admin, "nobody by this name"))["users"] == []
    everyone = await _users(client, admin, "   ")  # blank: the whole list
    assert {u["id"] for u in everyone["users"]} >= {grace_id, ada["user"]["id"], admin["user"]["id"]}

    # Pages of a search: each page's cursor carries the scan on.
    await verified_user(client, name="Grace Kelly")
    first = await (await client.get("/api/admin/users?q=grace&limit=1", headers=bearer(admin))).json()
    assert len(first["users"]) == 1
    assert first["next"]
    second = await client.get("/api/admin/users", params={"q": "grace", "cursor": first["next"]}, headers=bearer(admin))
    names = {u["display_name"] for u in first["users"] + (await second.json())["users"]}
    assert names == {"Grace Hopper", "Grace Kelly"}


async def test_a_bad_search_is_refused_clearly(client: TestClient) -> None:
    admin = await _admin(client)
    too_long = await client.get("/api/admin/users", params={"q": "x" * 255}, headers=bearer(admin))
    assert too_long.status == 400
    error = (await too_long.json())["error"]
    assert (error["field"], error["code"]) == ("q", "too_long")
    assert error["message"][0].isupper()
    bad_cursor = await client.get("/api/admin/users", params={"q": "a", "cursor": "!!"}, headers=bearer(admin))
    assert bad_cursor.status == 400
    assert (await bad_cursor.json())["error"]["field"] == "cursor"


async def test_admins_see_and_end_an_accounts_sessions(client: TestClient) -> None:
    admin = await _admin(client)
    email = new_email()
    phone = await verified_user(client, email=email, **{"User-Agent": "Mozilla/5.0 (iPhone) Safari/605.1"})
    laptop = await login(client, email, **{"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"})
    uid = phone["user"]["id"]

    listing = await client.get(f"/api/admin/users/{uid}/sessions", headers=bearer(admin))
    assert listing.status == 200
    sessions = (await listing.json())["sessions"]
    assert sorted(s["device"] for s in sessions) == ["Firefox on Linux", "Safari on iOS"]
    assert not any(s["current"] for s in sessions)
    laptop_session = next(s["id"] for s in sessions if s["device"] == "Firefox on Linux")

    # A session id of another account is no session of this one: 404, nothing ends.
    other = await verified_user(client)
    other_session = (await (await client.get("/api/me/sessions", headers=bearer(other))).json())["sessions"][0]
    wrong = await client.delete(f"/api/admin/users/{uid}/sessions/{other_session['id']}", headers=bearer(admin))
    assert wrong.status == 404
    assert (await wrong.json())["error"]["code"] == "session_not_found"
    assert (await client.get("/api/me", headers=bearer(other))).status == 200

    ended = await client.delete(f"/api/admin/users/{uid}/sessions/{laptop_session}", headers=bearer(admin))
    assert ended.status == 204
    assert (await client.get("/api/me", headers=bearer(laptop))).status == 401
    assert (await client.get("/api/me", headers=bearer(phone))).status == 200
    again = await client.delete(f"/api/admin/users/{uid}/sessions/{laptop_session}", headers=bearer(admin))
    assert again.status == 404

    everything = await client.delete(f"/api/admin/users/{uid}/sessions", headers=bearer(admin))
    assert everything.status == 204
    assert (await client.get("/api/me", headers=bearer(phone))).status == 401
    left = await (await client.get(f"/api/admin/users/{uid}/sessions", headers=bearer(admin))).json()
    assert left == {"sessions": [], "next": None}


async def test_an_admin_ending_their_own_sessions_stays_signed_in_here(client: TestClient) -> None:
    admin = await _admin(client)
    elsewhere = await login(client, admin["user"]["email"])
    uid = admin["user"]["id"]
    mine = await (await client.get(f"/api/admin/users/{uid}/sessions", headers=bearer(admin))).json()
    assert sum(s["current"] for s in mine["sessions"]) == 1
    assert (await client.delete(f"/api/admin/users/{uid}/sessions", headers=bearer(admin))).status == 204
    assert (await client.get("/api/me", headers=bearer(admin))).status == 200
    assert (await client.get("/api/me", headers=bearer(elsewhere))).status == 401


async def test_sessions_of_an_unknown_account_are_a_404(client: TestClient) -> None:
    admin = await _admin(client)
    for method, path in (
        ("GET", "/api/admin/users/nobody/sessions"),
        ("DELETE", "/api/admin/users/nobody/sessions"),
        ("DELETE", "/api/admin/users/nobody/sessions/none"),
    ):
        resp = await client.request(method, path, headers=bearer(admin))
        assert resp.status == 404, (method, path)
        assert (await resp.json())["error"]["message"][0].isupper()
    bad = await client.get(f"/api/admin/users/{admin['user']['id']}/sessions?limit=0", headers=bearer(admin))
    assert bad.status == 400


async def test_the_status_route_reads_the_live_figures(client: TestClient, backend: str) -> None:
    admin = await _admin(client)
    channel = await new_channel(client)
    for value in range(3):
        assert (await client.get(f"/update?api_key={channel['write_key']}&field1={value}")).status == 200
    socket = await client.ws_connect("/ws")
    try:
        resp = await client.get("/api/admin/status", headers=bearer(admin))
        assert resp.status == 200
        assert resp.headers["Cache-Control"] == "no-store"
        status = await resp.json()
    finally:
        await socket.close()
    assert status["websockets"] >= 1
    assert status["database"]["backend"] == backend
    assert status["database"]["size_bytes"] > 0
    assert status["version"]
    assert status["uptime_seconds"] >= 0
    assert status["now"] >= status["started_at"]
    writers = {w["name"]: w for w in status["writers"]}
    assert sum(w["rows"] for w in writers.values()) >= 3
    assert all(w["batches"] >= 0 for w in writers.values())
    assert status["writes_per_second"] >= 0


def test_writes_per_second_are_over_the_last_minute() -> None:
    now = [1000.0]
    metrics = Metrics()

    async def write(rows: list[int]) -> list[int]:
        return rows

    writer: BatchWriter[int, int] = BatchWriter(None, write, name="points")  # type: ignore[arg-type]
    metrics.writers.append(writer)
    rate = WriteRate(metrics, clock=lambda: now[0])
    assert rate.per_second() == (0.0, 0.0)
    rate.sample()
    for _ in range(12):  # a minute and more: 600 rows in each 5 s
        now[0] += 5
        writer.stats.rows += 600
        rate.sample()
    per_second, span = rate.per_second()
    assert span == WINDOW_SECONDS
    assert per_second == 120.0
    now[0] += 5  # no writes for the last 5 s: the minute's rate drops a little
    rate.sample()
    assert rate.per_second()[0] == 110.0
