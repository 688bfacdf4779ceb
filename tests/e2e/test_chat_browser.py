"""The chat screens in a real browser: two people, two browser contexts, one real server process.

Alice and Bob register through the API and confirm through the real e-mail, then do everything else in the
web app: sign in, share an id, start a direct chat, talk live (typing, presence, read marks), and Bob comes
back after being offline to exactly the messages he missed. The other tests: a channel's live chart rides on
the same WebSocket, the service worker turns a Web Push message into a notification, and a message written
while the server restarts goes out once after the reconnect.
Any page error or console error fails a test. Chromium is Debian's (/usr/bin/chromium), driven by Playwright.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from server.web import static
from tests.conftest import Mailbox
from tests.e2e.server_process import ServerProcess, running_server
from tests.e2e.webapp import (
    BROWSER_MARKS,
    PASSWORD,
    STEP_TIMEOUT_MS,
    Problems,
    push_until,
    sign_in,
)
from tests.e2e.webapp import call as _call
from tests.e2e.webapp import verified_account as _verified_account

pytestmark = BROWSER_MARKS


def open_chats(page: Page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile(r"^Chats")).click()
    expect(page.get_by_role("heading", name="Chats", level=1)).to_be_visible()


def texts(page: Page) -> list[str]:
    return page.locator(".chat-log .message .text").all_inner_texts()


def test_two_people_chat_live_and_catch_up_after_being_offline(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, _ = smtp
    alice_email = _verified_account(server, mailbox, "Alice")
    bob_username = f"bob_{os.urandom(4).hex()}"
    bob_email = _verified_account(server, mailbox, "Bob", bob_username)
    problems = Problems()

    desk = browser.new_context(viewport={"width": 1280, "height": 800})
    phone = browser.new_context(viewport={"width": 390, "height": 780}, is_mobile=True, has_touch=True)
    for context in (desk, phone):
        context.set_default_timeout(STEP_TIMEOUT_MS)
    alice = problems.watch(desk.new_page(), "alice")
    bob = problems.watch(phone.new_page(), "bob")

    sign_in(alice, server, alice_email)
    sign_in(bob, server, bob_email)

    # Bob gives Alice his username; she finds him by it and starts a direct chat.
    open_chats(bob)
    open_chats(alice)
    alice.get_by_role("link", name="New chat").click()
    alice.get_by_label("Username or e-mail").fill(f"@{bob_username}")
    alice.get_by_role("button", name="Find", exact=True).click()
    alice.get_by_role("button", name="Message Bob").click()
    expect(alice.get_by_role("heading", name="Bob", level=1)).to_be_visible()
    chat_id = alice.url.split("id=", 1)[1]

    composer = alice.get_by_role("textbox", name="Message")
    composer.fill("Hello Bob")
    composer.press("Enter")
    mine = alice.locator(".message.mine", has_text="Hello Bob")
    expect(mine.locator(".receipt")).to_have_text("✓Sent")

    # Bob's chat list shows it live: no reload.
    row = bob.locator(f'a[data-chat-id="{chat_id}"]')
    expect(row).to_contain_text("Hello Bob")
    expect(row.locator(".unread-badge")).to_contain_text("1")
    expect(row).to_contain_text("Alice")  # the name Alice chose, from the server: Bob never named her
    row.click()
    expect(bob.locator(".message.theirs", has_text="Hello Bob")).to_be_visible()

    # Alice sees Bob online, his typing, his reply and her message marked read.
    expect(alice.locator(".chat-subtitle")).to_have_text("online")
    bob_composer = bob.get_by_role("textbox", name="Message")
    bob_composer.fill("Hi Alice")
    expect(alice.locator(".typing")).to_have_text("Bob is typing…")
    bob_composer.press("Enter")
    expect(alice.locator(".message.theirs", has_text="Hi Alice")).to_be_visible()
    expect(alice.locator(".typing")).to_have_text("")
    expect(mine.locator(".receipt.read")).to_have_text("✓✓Read")

    # Bob goes offline; Alice sends two more.
    bob.close()
    expect(alice.locator(".chat-subtitle")).to_contain_text("last seen")
    for text in ("One", "Two"):
        composer.fill(text)
        composer.press("Enter")
        expect(alice.locator(".message.mine", has_text=text).locator(".receipt")).to_have_text("✓Sent")

    # Bob opens the app again: the two he missed, each exactly once.
    bob = problems.watch(phone.new_page(), "bob again")
    bob.goto(f"{server.url}/")
    expect(bob.get_by_role("heading", name="Your account", level=1)).to_be_visible()
    expect(bob.locator("#nav-unread")).to_have_text("2")
    open_chats(bob)
    row = bob.locator(f'a[data-chat-id="{chat_id}"]')
    expect(row).to_contain_text("Two")
    row.click()
    expect(bob.locator(".message", has_text="Two")).to_be_visible()
    assert texts(bob) == ["Hello Bob", "Hi Alice", "One", "Two"]
    ids = bob.locator(".chat-log [data-message-id]").evaluate_all("els => els.map(e => e.dataset.messageId)")
    assert ids == ["1", "2", "3", "4"]
    assert bob.locator(".pending-list .message").count() == 0

    # And the conversation carries on live; Alice's last messages are read now.
    expect(alice.locator(".message.mine", has_text="Two").locator(".receipt.read")).to_be_visible()
    composer.fill("Welcome back")
    composer.press("Enter")
    expect(bob.locator(".message.theirs", has_text="Welcome back")).to_be_visible()
    assert texts(bob) == ["Hello Bob", "Hi Alice", "One", "Two", "Welcome back"]

    desk.close()
    phone.close()
    assert problems.seen == []
    # One WebSocket per page for everything: chat events, presence, typing.
    assert {who: len(urls) for who, urls in problems.sockets.items()} == {"alice": 1, "bob": 1, "bob again": 1}


@pytest.mark.skipif(
    not all((static.NODE_MODULES / path).is_file() for path in static.VENDOR.values()) and not os.environ.get("CI"),
    reason="node_modules/uplot is missing (the channel charts need it): run `npm ci`",
)
def test_one_socket_carries_a_live_channel_too_and_pushes_become_notifications(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, _ = smtp
    email = _verified_account(server, mailbox, "Carol")
    grant = _call(f"{server.url}/api/auth/login", {"email": email, "password": PASSWORD})
    user_key = _call(f"{server.url}/api/me/api-key", token=grant["access_token"])["api_key"]
    channel = _call(f"{server.url}/channels.json", {"api_key": user_key, "name": "Weather", "field1": "Temperature"})
    write_key = next(k["api_key"] for k in channel["api_keys"] if k["write_flag"])
    problems = Problems()
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    context.set_default_timeout(STEP_TIMEOUT_MS)
    context.grant_permissions(["notifications"], origin=server.url)
    page = problems.watch(context.new_page(), "carol")
    sign_in(page, server, email)
    open_chats(page)

    # The channel screen follows its entries over the app's socket, not a second one.
    page.goto(f"{server.url}/#/channel?id={channel['id']}")
    expect(page.locator(".live-status")).to_have_text("Live: new points appear as they arrive.")
    with urllib.request.urlopen(f"{server.url}/update?api_key={write_key}&field1=21.5", timeout=30) as response:  # noqa: S310
        assert response.status == 200
    expect(page.locator(".chart-latest")).to_contain_text("21.5")
    open_chats(page)
    assert len(problems.sockets["carol"]) == 1

    # A Web Push message (delivered through DevTools: no push service here) becomes a notification.
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    cdp = context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda event: registrations.extend(event["registrations"]))
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + 10
    while not registrations:
        assert time.monotonic() < deadline, "the service worker registration was not reported"
        page.wait_for_timeout(50)
    shown = """navigator.serviceWorker.ready
        .then((r) => r.getNotifications())
        .then((ns) => ns.map((n) => [n.title, n.body, n.data.hash]))"""
    # One push at a time, each notification seen before the next: DevTools' pushes at once lost one in CI.
    for count, payload in enumerate(
        (
            {"type": "message", "chat_id": "c1", "message_id": 3, "seq": 7, "preview": "Lunch?", "chat_name": "Team"},
            {"type": "message", "chat_id": "c2", "message_id": 1, "seq": 8},  # an end-to-end chat: no content
        ),
        start=1,
    ):
        push = {"origin": server.url, "registrationId": registrations[0]["registrationId"], "data": json.dumps(payload)}
        push_until(page, cdp, push, lambda count=count: len(page.evaluate(shown)) >= count)
    assert sorted(page.evaluate(shown)) == [
        ["New message", "New message", "#/chat?id=c2"],
        ["Team", "Lunch?", "#/chat?id=c1"],
    ]
    context.close()
    assert problems.seen == []


def test_a_message_written_while_the_server_restarts_goes_out_once_after_the_reconnect(
    tmp_path: Path, browser: Browser, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, smtp_port = smtp
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port), "SMTP_FROM": "server@example.test"}
    problems = Problems()
    context = browser.new_context(viewport={"width": 800, "height": 700})
    context.set_default_timeout(STEP_TIMEOUT_MS)
    page = problems.watch(context.new_page(), "dave")
    with running_server(tmp_path, env=env) as server:
        email = _verified_account(server, mailbox, "Dave")
        port = server.port
        sign_in(page, server, email)
        open_chats(page)
        page.get_by_role("link", name="New chat").click()
        page.get_by_role("link", name="Create a group").click()
        page.get_by_label("Group name").fill("Notes")
        page.get_by_role("button", name="Create group").click()
        expect(page.get_by_role("heading", name="Notes", level=1)).to_be_visible()
        chat_id = page.url.split("id=", 1)[1]
        composer = page.get_by_role("textbox", name="Message")
        composer.fill("before")
        composer.press("Enter")
        expect(page.locator(".message.mine", has_text="before").locator(".receipt")).to_have_text("✓Sent")

    # The server is gone: the message waits in the outbox, and the app says why.
    expect(page.locator(".conn-status")).to_contain_text("Connection lost")
    composer.fill("while away")
    composer.press("Enter")
    expect(page.locator(".pending-list .message", has_text="while away")).to_contain_text("Sending")

    with running_server(tmp_path, env=env, port=port) as server:
        expect(page.locator(".message.mine", has_text="while away").locator(".receipt")).to_have_text(
            "✓Sent", timeout=30_000
        )
        expect(page.locator(".conn-status")).to_have_text("")
        assert texts(page) == ["before", "while away"]
        grant = _call(f"{server.url}/api/auth/login", {"email": email, "password": PASSWORD})
        stored = _call(f"{server.url}/api/chats/{chat_id}/messages", token=grant["access_token"])
        assert [m["text"] for m in stored["messages"]] == ["before", "while away"]
        context.close()
    # While the server was down, Chromium logs each refused connection attempt; nothing else is allowed.
    assert [p for p in problems.seen if "ERR_CONNECTION_REFUSED" not in p] == []
    assert len(problems.sockets["dave"]) >= 2
