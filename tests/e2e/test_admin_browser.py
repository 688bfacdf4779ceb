"""The admin console in Debian's Chromium, at both screen sizes: people (search, role, suspension, sessions), the
report queue (dismiss, delete the message, suspend its sender) and the live status figures; the Admin link and the
console are for admins only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import Mailbox
from tests.e2e.server_process import REPO_ROOT, ServerProcess
from tests.e2e.webapp import (
    BROWSER_MARKS,
    PASSWORD,
    Problems,
    assert_accessible,
    call,
    new_context,
    shot,
    sign_in,
    verified_account,
)

pytestmark = BROWSER_MARKS


def send(method: str, url: str, token: str | None = None, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """One JSON request of any method; returns (status, decoded body or None), 4xx included."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 - loopback only
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def make_admin(tmp_path: Path, email: str) -> None:
    """`python -m server create-admin` on the server's own data directory: the account becomes an admin."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "MQTT_URL")}
    env.update({"DATA_DIR": str(tmp_path / "data"), "APP_ENV": "development", "LOG_LEVEL": "WARNING"})
    done = subprocess.run(
        [sys.executable, "-m", "server", "create-admin", "--email", email],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def login(server: ServerProcess, email: str, agent: str = "e2e") -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - loopback only
        f"{server.url}/api/auth/login",
        data=json.dumps({"email": email, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json", "User-Agent": agent},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        grant: dict[str, Any] = json.loads(response.read())
    return grant


def open_admin(browser: Browser, server: ServerProcess, email: str, size: str, problems: Problems) -> Page:
    page = problems.watch(new_context(browser, size).new_page(), "admin")
    sign_in(page, server, email)
    link = page.get_by_role("link", name="Admin", exact=True)
    expect(link).to_be_visible()
    link.click()
    expect(page.get_by_role("heading", name="Administration", level=1)).to_be_visible()
    return page


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_admin_finds_people_changes_role_suspends_and_ends_sessions(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], tmp_path: Path, size: str
) -> None:
    mailbox, _ = smtp
    admin_email = verified_account(server, mailbox, "Root")
    make_admin(tmp_path, admin_email)
    bella_email = verified_account(server, mailbox, "Bella")
    verified_account(server, mailbox, "Carl")
    bella = login(server, bella_email, "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0")
    problems = Problems()
    page = open_admin(browser, server, admin_email, size, problems)

    page.get_by_label("Name, e-mail address or user id").fill("bell")
    page.get_by_role("button", name="Search").click()
    item = page.locator(".admin-item")
    expect(item).to_have_count(1)
    expect(item).to_contain_text(bella_email)
    assert_accessible(page, f"admin users ({size})")

    item.get_by_role("button", name="Make admin").click()
    expect(item.get_by_text("Bella is an admin now.")).to_be_visible()
    expect(item.locator(".badge", has_text="Admin")).to_be_visible()
    item.get_by_role("button", name="Remove admin role").click()
    expect(item.get_by_text("Bella is no longer an admin.")).to_be_visible()

    item.get_by_role("button", name="Suspend").click()
    expect(item.locator(".badge", has_text="Suspended")).to_be_visible()
    assert send("GET", f"{server.url}/api/me", bella["access_token"])[0] == 401
    item.get_by_role("button", name="Lift suspension").click()
    expect(item.get_by_text("Bella can sign in again.")).to_be_visible()

    login(server, bella_email, "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0")
    phone = login(server, bella_email, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Safari/605.1")
    item.get_by_role("button", name="Sessions").click()
    sessions = item.locator(".sessions > li")
    expect(sessions).to_have_count(2)
    shot(page, "admin-users", size)
    assert_accessible(page, f"admin user sessions ({size})")
    item.get_by_role("button", name="End the session on Safari on iOS").click()
    expect(sessions).to_have_count(1)
    assert send("GET", f"{server.url}/api/me", phone["access_token"])[0] == 401
    item.get_by_role("button", name="End all sessions").click()
    expect(item.get_by_text("Every session of Bella has ended.")).to_be_visible()
    expect(sessions).to_have_text(["No live sessions."])

    # The search can be cleared; the admin's own entry has no role or suspension buttons.
    page.get_by_role("button", name="Show everyone").click()
    expect(page.locator(".admin-item")).to_have_count(3)
    mine = page.locator(".admin-item", has_text=admin_email)
    expect(mine.locator(".badge", has_text="You")).to_be_visible()
    expect(mine.get_by_role("button", name="Suspend")).to_have_count(0)
    assert problems.seen == []


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_admin_works_through_the_report_queue(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], tmp_path: Path, size: str
) -> None:
    mailbox, _ = smtp
    admin_email = verified_account(server, mailbox, "Root")
    make_admin(tmp_path, admin_email)
    alice = login(server, verified_account(server, mailbox, "Alice"))
    bob = login(server, verified_account(server, mailbox, "Bob"))
    chat = call(
        f"{server.url}/api/chats",
        {"kind": "group", "name": "Garden club", "members": [bob["user"]["id"]]},
        alice["access_token"],
    )
    ids = []
    for text in ("first bad message", "second bad message", "third bad message"):
        sent = call(
            f"{server.url}/api/chats/{chat['id']}/messages",
            {"client_id": str(uuid.uuid4()), "text": text},
            bob["access_token"],
        )
        ids.append(sent["id"])
        report = f"{server.url}/api/chats/{chat['id']}/messages/{sent['id']}/report"
        call(report, {"reason": "spam"}, alice["access_token"])
    problems = Problems()
    page = open_admin(browser, server, admin_email, size, problems)
    page.locator(".admin-tabs").get_by_role("link", name="Reports").click()
    reports = page.locator(".admin-item.report")
    expect(reports).to_have_count(3)
    expect(reports.first).to_contain_text("Sent by Bob in chat")
    expect(reports.first).to_contain_text("Reported by Alice")
    shot(page, "admin-reports", size)
    assert_accessible(page, f"admin reports ({size})")

    by_text = {word: reports.filter(has_text=f"{word} bad message") for word in ("first", "second", "third")}
    by_text["first"].get_by_role("button", name="Dismiss").click()
    expect(by_text["first"]).to_contain_text("Resolved: dismissed.")
    by_text["second"].get_by_role("button", name="Delete message").click()
    expect(by_text["second"]).to_contain_text("Resolved: message deleted.")
    history = call(f"{server.url}/api/chats/{chat['id']}/messages", token=alice["access_token"])
    deleted = {m["id"]: m["deleted"] for m in history["messages"]}
    assert (deleted[ids[0]], deleted[ids[1]]) == (False, True)
    by_text["third"].get_by_role("button", name="Suspend sender").click()
    expect(by_text["third"]).to_contain_text("Resolved: sender suspended.")
    assert send("GET", f"{server.url}/api/me", bob["access_token"])[0] == 401
    assert_accessible(page, f"admin reports resolved ({size})")

    page.reload()
    expect(page.get_by_text("No reports to look at.")).to_be_visible()
    page.get_by_label("Show").select_option("all")
    expect(reports).to_have_count(3)
    assert problems.seen == []


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_status_page_follows_the_server_live(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], tmp_path: Path, size: str
) -> None:
    mailbox, _ = smtp
    admin_email = verified_account(server, mailbox, "Root")
    make_admin(tmp_path, admin_email)
    owner = login(server, verified_account(server, mailbox, "Owner"))
    user_key = call(f"{server.url}/api/me/api-key", token=owner["access_token"])["api_key"]
    channel = call(f"{server.url}/channels.json", {"api_key": user_key, "name": "Garden"})
    write_key = next(k["api_key"] for k in channel["api_keys"] if k["write_flag"])
    problems = Problems()
    page = open_admin(browser, server, admin_email, size, problems)
    page.locator(".admin-tabs").get_by_role("link", name="Status").click()
    figures = page.locator(".status-figure")
    expect(figures).to_have_count(5)
    expect(page.locator("[data-figure=websockets] .status-value")).not_to_have_text("0")  # this page's own
    expect(page.locator("[data-figure=database] .status-detail")).to_have_text("SQLite")
    expect(page.locator("[data-figure=version] .status-value")).to_have_text("0.1.0")
    rows = page.locator("[data-writer=feeds] [data-column=rows]")
    expect(rows).to_have_text("0")
    before = float(page.locator(".status-updated").get_attribute("data-now") or 0)

    call(f"{server.url}/update.json", {"api_key": write_key, "field1": "21.5"})
    expect(rows).to_have_text("1", timeout=15_000)  # the next poll shows it, with no reload
    after = float(page.locator(".status-updated").get_attribute("data-now") or 0)
    assert after > before
    expect(page.locator("[data-figure=writes] .status-value")).not_to_have_text("0", timeout=15_000)
    uptime = page.locator("[data-figure=uptime] .status-value")
    first = uptime.inner_text()
    deadline = time.monotonic() + 15
    while uptime.inner_text() == first and time.monotonic() < deadline:
        page.wait_for_timeout(500)
    assert uptime.inner_text() != first
    shot(page, "admin-status", size)
    assert_accessible(page, f"admin status ({size})")
    assert problems.seen == []


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_console_is_for_admins_only(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], size: str
) -> None:
    mailbox, _ = smtp
    email = verified_account(server, mailbox, "Plain")
    problems = Problems()
    page = problems.watch(new_context(browser, size).new_page(), "plain")
    sign_in(page, server, email)
    expect(page.get_by_role("link", name="Account", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Admin", exact=True)).to_be_hidden()
    page.goto(f"{server.url}/#/admin/status")
    expect(page.get_by_role("alert")).to_have_text("This screen is for server admins.")
    assert_accessible(page, f"admin refused ({size})")
    assert problems.seen == []
