"""Offline reading (issue 13, point 3) in a real browser, at both sizes: two people chat; one goes offline and
reloads the app, which opens from the service worker and shows the chat list and the messages kept in IndexedDB,
with one offline banner, nobody shown online, and a message written offline marked pending. Back online the app
resumes from its seq without a reload: the pending message goes out once, what the other wrote meanwhile arrives,
the banner goes. Signing out leaves no trace of the kept chats for the next account on the same browser.
Screenshots go to /tmp for a person to look at.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import Mailbox
from tests.e2e.server_process import ServerProcess
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

# What the app keeps in IndexedDB, read without creating the database when it is not there (an empty database
# of the same name and version would leave the app with no stores). Every request goes out at once, in one
# transaction, before anything is awaited.
READ_CACHE = """async () => {
  const names = (await indexedDB.databases()).map((d) => d.name);
  if (!names.includes('realtime-chats')) return null;
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open('realtime-chats');
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  try {
    if (!db.objectStoreNames.contains('meta')) return {owner: null, chats: [], kept: {}};
    const tx = db.transaction(['meta', 'chats'], 'readonly');
    const requests = [tx.objectStore('meta').get('state'), tx.objectStore('chats').getAllKeys(),
      tx.objectStore('chats').getAll()];
    const [state, keys, values] = await Promise.all(requests.map((r) => new Promise((resolve, reject) => {
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    })));
    return {
      owner: state ? state.owner : null,
      seq: state ? state.seq : null,
      chats: state ? state.list.map((chat) => chat.id) : [],
      kept: Object.fromEntries(keys.map((key, i) => [key, values[i].messages.map((m) => m.text)])),
      read: Object.fromEntries(keys.map((key, i) => [key, (values[i].pointers || {}).read || {}])),
    };
  } finally {
    db.close();
  }
}"""


@dataclass
class Person:
    name: str
    email: str
    id: str
    token: str


def person(server: ServerProcess, mailbox: Mailbox, name: str) -> Person:
    email = verified_account(server, mailbox, name)
    grant = call(f"{server.url}/api/auth/login", {"email": email, "password": PASSWORD})
    return Person(name, email, grant["user"]["id"], grant["access_token"])


def say(server: ServerProcess, who: Person, chat_id: str, text: str) -> None:
    body = {"client_id": str(uuid.uuid4()), "text": text}
    call(f"{server.url}/api/chats/{chat_id}/messages", body, token=who.token)


def texts_on_server(server: ServerProcess, who: Person, chat_id: str) -> list[str]:
    page = call(f"{server.url}/api/chats/{chat_id}/messages?limit=50", token=who.token)
    return [m["text"] for m in sorted(page["messages"], key=lambda m: m["id"])]


def eventually(page: Page, script: str, ok: Callable[[Any], bool], what: str, timeout: float = 15) -> Any:
    """Poll `script` in the page until `ok(value)` (the page's CSP refuses wait_for_function's strings)."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(script)
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {value!r}")
        page.wait_for_timeout(200)


def log_texts(page: Page) -> list[str]:
    return page.locator(".chat-log .messages:not(.pending-list) .message .text").all_inner_texts()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_chats_read_offline_from_the_device_and_the_app_resumes_when_the_connection_returns(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], size: str
) -> None:
    mailbox, _ = smtp
    alice, bob, carol = (person(server, mailbox, name) for name in ("Alice", "Bob", "Carol"))
    problems = Problems()
    chat = call(f"{server.url}/api/chats", {"kind": "direct", "user_id": bob.id}, token=alice.token)
    chat_id = chat["id"]
    say(server, alice, chat_id, "Hello Bob")
    group = call(f"{server.url}/api/chats", {"kind": "group", "name": "Team", "members": [bob.id]}, token=alice.token)
    say(server, alice, group["id"], "Team news")
    team_row = f'a[data-chat-id="{group["id"]}"]'

    alice_context = new_context(browser, "desktop")
    alice_page = problems.watch(alice_context.new_page(), "alice")
    sign_in(alice_page, server, alice.email)
    bob_context = new_context(browser, size)
    bob_page = problems.watch(bob_context.new_page(), "bob")
    sign_in(bob_page, server, bob.email)

    # They chat; Bob sees Alice online.
    bob_page.locator(f'a[data-chat-id="{chat_id}"]').click()
    expect(bob_page.get_by_role("heading", name="Alice", level=1)).to_be_visible()
    expect(bob_page.locator(".chat-subtitle")).to_have_text("online")
    composer = bob_page.get_by_role("textbox", name="Message")
    composer.fill("Hi Alice")
    composer.press("Enter")
    expect(bob_page.locator(".message.mine", has_text="Hi Alice")).to_be_visible()
    expect(bob_page.locator(".pending-list .message")).to_have_count(0)
    alice_page.locator(f'a[data-chat-id="{chat_id}"]').click()
    expect(alice_page.locator(".message.theirs", has_text="Hi Alice")).to_be_visible()
    expect(bob_page.locator(".message.mine", has_text="Hi Alice").locator(".receipt.read")).to_be_visible()

    # The chat and its messages are kept on Bob's device, and the service worker has the app shell.
    eventually(
        bob_page,
        READ_CACHE,
        lambda c: (
            c
            and c["owner"] == bob.id
            and c["kept"].get(chat_id) == ["Hello Bob", "Hi Alice"]
            and c["read"].get(chat_id, {}).get(alice.id)
        ),
        "the kept chats",
    )
    eventually(bob_page, "Boolean(navigator.serviceWorker.controller)", bool, "a controlling service worker")

    # Offline, the app opens again from the device: the list and the messages, one banner, nobody online.
    bob_context.set_offline(True)
    bob_page.reload()
    expect(bob_page.get_by_role("heading", name="Alice", level=1)).to_be_visible()
    expect(bob_page.locator(".message.theirs", has_text="Hello Bob")).to_be_visible()
    assert log_texts(bob_page) == ["Hello Bob", "Hi Alice"]
    expect(bob_page.locator(".message.mine", has_text="Hi Alice").locator(".receipt.read")).to_be_visible()
    banners = bob_page.locator("#banner .banner")
    expect(banners).to_have_count(1)
    expect(banners).to_contain_text("You are offline")
    expect(bob_page.locator(".conn-status")).to_have_text("")
    expect(bob_page.locator(".chat-subtitle")).not_to_have_text("online")
    assert bob_page.locator(".notice.error").count() == 0

    # A message written offline waits, marked pending.
    composer = bob_page.get_by_role("textbox", name="Message")
    composer.fill("Written offline")
    composer.press("Enter")
    pending = bob_page.locator(".pending-list .message.pending", has_text="Written offline")
    expect(pending).to_be_visible()
    expect(pending.locator(".receipt.sending")).to_be_visible()
    assert_accessible(bob_page, f"conversation offline ({size})")
    shot(bob_page, "conversation", size)

    # The chat list, from the device too (on a phone, behind the back button).
    if size == "phone":
        bob_page.get_by_role("link", name="Back to chats").click()
        expect(bob_page.get_by_role("heading", name="Chats", level=1)).to_be_visible()
    row = bob_page.locator(f'a[data-chat-id="{chat_id}"]')
    expect(row).to_contain_text("Alice")
    expect(row).to_contain_text("Hi Alice")
    expect(bob_page.locator("#banner .banner")).to_have_count(1)
    assert_accessible(bob_page, f"chat list offline ({size})")
    shot(bob_page, "list", size)
    expect(bob_page.locator(team_row)).to_contain_text("Team news")

    # A chat whose messages were never loaded here: its name, and no error, only the wait for the connection.
    bob_page.locator(team_row).click()
    expect(bob_page.get_by_role("heading", name="Team", level=1)).to_be_visible()
    expect(bob_page.locator(".chat-log")).to_have_attribute("aria-busy", "true")
    bob_page.wait_for_timeout(500)
    assert bob_page.locator(".notice.error").count() == 0
    if size == "phone":
        bob_page.get_by_role("link", name="Back to chats").click()
    row.click()
    expect(bob_page.get_by_role("heading", name="Alice", level=1)).to_be_visible()
    expect(pending).to_be_visible()

    # Meanwhile Alice writes.
    alice_composer = alice_page.get_by_role("textbox", name="Message")
    alice_composer.fill("While you were away")
    alice_composer.press("Enter")
    expect(alice_page.locator(".message.mine", has_text="While you were away").locator(".receipt")).to_have_text(
        "✓Sent"
    )

    # Back online: no reload; the sync brings Alice's message, the pending one goes out once, the banner goes.
    bob_page.evaluate("window.stillThisPage = true")
    bob_context.set_offline(False)
    expect(bob_page.locator(".message.theirs", has_text="While you were away")).to_be_visible()
    expect(bob_page.locator(".message.mine", has_text="Written offline")).to_be_visible()
    expect(bob_page.locator(".pending-list .message")).to_have_count(0)
    expect(bob_page.locator("#banner .banner")).to_have_count(0)
    expect(bob_page.locator(".chat-subtitle")).to_have_text("online")
    assert bob_page.evaluate("window.stillThisPage === true"), "the app reloaded"
    expect(alice_page.locator(".message.theirs", has_text="Written offline")).to_have_count(1)
    expected = ["Hello Bob", "Hi Alice", "While you were away", "Written offline"]
    assert texts_on_server(server, alice, chat_id) == expected
    assert log_texts(bob_page) == expected
    eventually(bob_page, READ_CACHE, lambda c: c and c["kept"].get(chat_id) == expected, "the kept chats, updated")
    if size == "phone":
        bob_page.get_by_role("link", name="Back to chats").click()
    bob_page.locator(team_row).click()
    expect(bob_page.locator(".message.theirs", has_text="Team news")).to_be_visible()

    # Bob signs out: nothing of his stays. Carol signs in on the same browser and sees none of it, online or off.
    bob_page.goto(f"{server.url}/#/")
    bob_page.get_by_role("button", name="Sign out", exact=True).click()
    expect(bob_page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    eventually(bob_page, READ_CACHE, lambda c: c is None, "the kept chats after signing out")
    assert bob_page.evaluate("localStorage.getItem('realtime.chat.owner')") is None
    sign_in(bob_page, server, carol.email)
    expect(bob_page.get_by_text("No chats yet.")).to_be_visible()
    cache = eventually(bob_page, READ_CACHE, lambda c: c and c["owner"] == carol.id, "Carol's kept chats")
    assert cache["chats"] == []
    assert cache["kept"] == {}
    bob_context.set_offline(True)
    bob_page.reload()
    expect(bob_page.get_by_text("No chats yet.")).to_be_visible()
    expect(bob_page.locator(f'a[data-chat-id="{chat_id}"]')).to_have_count(0)
    expect(bob_page.locator("#banner .banner")).to_have_count(1)
    bob_context.set_offline(False)

    alice_context.close()
    bob_context.close()
    assert problems.seen == []
