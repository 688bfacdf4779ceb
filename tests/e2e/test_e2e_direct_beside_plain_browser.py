"""An end-to-end direct chat beside a plain one with the same person, in Chromium against the real server: Alice
has a plain chat with Bob, then picks "End-to-end encrypted" on New chat and gets a second chat with him (not the
plain one again). Both users' lists hold both, the end-to-end one marked with a lock; a message in it reaches Bob
there and not in the plain chat, and its text is in no database file and no frame the server sent. Bob's "message
me" link still opens the plain chat."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Browser, Locator, Page, expect

from tests.conftest import Mailbox
from tests.e2e.e2e_kit import Devices, devices_published, send, shows, token_of, user_id
from tests.e2e.server_process import ServerProcess
from tests.e2e.webapp import (
    BROWSER_MARKS,
    PHONE,
    Problems,
    assert_accessible,
    shot,
)
from tests.e2e.webapp import call as _call
from tests.e2e.webapp import verified_account as _verified_account

pytestmark = BROWSER_MARKS

PLAIN = "the plain chat keeps its grocery list"
SECRET = "the spare key hides under the third stone"


def find_and_message(page: Page, server: ServerProcess, username: str, *, e2e: bool) -> str:
    """New chat: find the person by username and press Message (end-to-end if `e2e`); the chat id it opened."""
    page.goto(f"{server.url}/#/chats/new")
    page.get_by_label("Username or e-mail").fill(f"@{username}")
    if e2e:
        page.get_by_label("End-to-end encrypted").check()
    page.get_by_role("button", name="Find", exact=True).click()
    page.locator(".find-result").get_by_role("button", name="Message Bob").click()
    page.wait_for_url("**/#/chat?id=*")
    expect(page.get_by_role("heading", name="Bob", level=1)).to_be_visible()
    return page.url.split("id=", 1)[1]


def chat_link(page: Page, chat_id: str) -> Locator:
    return page.locator(f'a[data-chat-id="{chat_id}"]')


def test_an_end_to_end_direct_chat_beside_the_plain_one(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], tmp_path: Path
) -> None:
    mailbox, _ = smtp
    bob_username = f"bob_{os.urandom(4).hex()}"
    emails = {
        name: _verified_account(server, mailbox, name, username)
        for name, username in (("Alice", None), ("Bob", bob_username))
    }
    problems = Problems()
    devices = Devices(browser, server, problems, emails)
    alice, bob = devices.open("Alice"), devices.open("Bob")
    bob_id = user_id(bob)

    # A plain chat first, with a message in it.
    plain = find_and_message(alice, server, bob_username, e2e=False)
    send(alice, PLAIN)
    shows(alice, PLAIN)
    assert _call(f"{server.url}/api/chats/{plain}", token=token_of(alice))["e2e"] is False

    # Now the end-to-end choice: a second chat, not the plain one again.
    sealed = find_and_message(alice, server, bob_username, e2e=True)
    assert sealed != plain
    assert _call(f"{server.url}/api/chats/{sealed}", token=token_of(alice))["e2e"] is True
    # Bob opens it (from a link, say), which publishes his device's keys; then Alice writes.
    bob.goto(f"{server.url}/#/chat?id={sealed}")
    expect(bob.get_by_role("heading", name="Alice", level=1)).to_be_visible()
    devices_published(server, token_of(alice), bob_id, 1)
    send(alice, SECRET)
    shows(alice, SECRET)
    shows(bob, SECRET)
    expect(bob.get_by_role("button", name="Security")).to_be_visible()  # the e2e chat's header
    shot(bob, "e2e-beside-plain-sealed")

    # Both lists hold both chats, told apart by the lock (with its words for a screen reader).
    for page, other in ((alice, "Bob"), (bob, "Alice")):
        page.goto(f"{server.url}/#/chats")
        for chat_id in (plain, sealed):
            expect(chat_link(page, chat_id)).to_contain_text(other)
        expect(chat_link(page, sealed).locator(".chat-flag")).to_have_attribute("title", "end-to-end encrypted")
        expect(chat_link(page, sealed)).to_contain_text("end-to-end encrypted")  # its visually hidden words
        expect(chat_link(page, plain)).not_to_contain_text("end-to-end encrypted")
        expect(chat_link(page, plain)).to_contain_text(PLAIN)
    expect(chat_link(bob, sealed)).to_contain_text(SECRET)  # the last message, decrypted on Bob's device
    shot(bob, "e2e-beside-plain-list", "desktop")
    assert_accessible(bob, "the chat list with a plain and an end-to-end chat with one person")
    bob.set_viewport_size(PHONE["viewport"])
    shot(bob, "e2e-beside-plain-list", "phone")

    # The plain chat holds only the plain message.
    bob.goto(f"{server.url}/#/chat?id={plain}")
    shows(bob, PLAIN)
    expect(bob.locator("ol.messages .text").filter(has_text=SECRET)).to_have_count(0)
    expect(bob.get_by_role("button", name="Security")).to_have_count(0)
    shot(bob, "e2e-beside-plain-plain", "phone")
    bob.goto(f"{server.url}/#/chat?id={sealed}")
    shows(bob, SECRET)
    shot(bob, "e2e-beside-plain-sealed", "phone")

    # Asked again, each choice finds its own chat; Bob's "message me" link opens the plain one.
    assert find_and_message(alice, server, bob_username, e2e=True) == sealed
    assert find_and_message(alice, server, bob_username, e2e=False) == plain
    alice.goto(f"{server.url}/#/u/{bob_username}")
    alice.get_by_role("button", name="Open your chat").click()
    alice.wait_for_url(f"**/#/chat?id={plain}")

    # The secret reached neither the database file nor any frame the server sent.
    stored = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("app.db*"))
    assert len(stored) > 50_000
    assert PLAIN in devices.heard_text()  # the frames were heard: the plain text went through them
    assert SECRET.encode() not in stored
    assert SECRET not in devices.heard_text()
    assert problems.seen == []
