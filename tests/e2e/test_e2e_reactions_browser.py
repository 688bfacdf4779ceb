"""Reactions in an end-to-end group, and a member removed from one who cannot read what is sent after (issue 15,
points 3 and 5), in Chromium against the real server. Alice (the admin), Bob (two devices) and Carol: Bob and Alice
react to a message, every device shows the counts and who, Bob takes his back from his other device; a reaction is
an encrypted silent message (no unread, not the list's last message), so neither the server's reactions table nor
any frame it sent holds an emoji. Then Alice removes Carol; the next message is read by Alice's and Bob's devices,
while Carol's device — still open, still holding the group key it had — gets no new key: the library starts a new
group session when a member is gone, and the message does not decrypt there (it would show the placeholder for a
key that has not come), though the older one still does."""

from __future__ import annotations

import base64
import json
import sqlite3
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.conftest import Mailbox
from tests.e2e.e2e_kit import Devices, devices_published, message_actions, send, shows, token_of, user_id
from tests.e2e.server_process import ServerProcess
from tests.e2e.webapp import BROWSER_MARKS, Problems
from tests.e2e.webapp import call as _call
from tests.e2e.webapp import verified_account as _verified_account

pytestmark = BROWSER_MARKS

BEFORE = "the lantern hangs by the north gate"
AFTER = "we meet at the south gate instead"

# Carol's device tries a message of the chat itself: the content, or why not (the glue's code, the library's text).
DECRYPT = """async ([chatId, message]) => {
  const device = await (await import('/js/e2e/device.js')).openDevice();
  try {
    return { body: (await device.decryptMessage(chatId, message)).body };
  } catch (err) {
    return { code: err.code, why: err.message };
  }
}"""


def history(server: ServerProcess, token: str, chat_id: str) -> list[dict[str, Any]]:
    messages = _call(f"{server.url}/api/chats/{chat_id}/messages", token=token)["messages"]
    assert isinstance(messages, list)
    return messages


def session_of(message: dict[str, Any]) -> str:
    """The Megolm session a message was encrypted with (the ciphertext is base64 of the library's JSON)."""
    content = json.loads(base64.b64decode(message["ciphertext"] + "=" * (-len(message["ciphertext"]) % 4)))
    return str(content["session_id"])


def reaction(page: Page, emoji: str) -> Any:
    return (
        page.locator("ol.messages li.message")
        .filter(has_text=BEFORE)
        .locator("ul.reactions button.reaction", has_text=emoji)
    )


def test_reactions_and_a_removed_member_in_an_end_to_end_group(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], tmp_path: Path
) -> None:
    mailbox, _ = smtp
    emails = {name: _verified_account(server, mailbox, name) for name in ("Alice", "Bob", "Carol")}
    problems = Problems()
    devices = Devices(browser, server, problems, emails)
    alice, bob, bob2, carol = devices.open("Alice"), devices.open("Bob"), devices.open("Bob"), devices.open("Carol")
    ids = {name: user_id(page) for name, page in (("alice", alice), ("bob", bob), ("carol", carol))}
    token = token_of(alice)
    group = {"kind": "group", "name": "Gates", "members": [ids["bob"], ids["carol"]], "e2e": True}
    chat_id = _call(f"{server.url}/api/chats", group, token=token)["id"]
    for page in (alice, bob, bob2, carol):
        page.goto(f"{server.url}/#/chat?id={chat_id}")
    for user, count in ((ids["alice"], 1), (ids["bob"], 2), (ids["carol"], 1)):
        devices_published(server, token, user, count)

    send(alice, BEFORE)
    for page in (alice, bob, bob2, carol):
        shows(page, BEFORE)

    # Bob and Alice react with a thumbs up: every device shows it twice, and whose; Bob's other device as his own.
    for page in (bob, alice):
        message_actions(page, BEFORE)
        page.get_by_role("button", name="React with 👍").click()
        expect(reaction(page, "👍")).to_have_attribute("aria-pressed", "true")
    for page in (alice, bob, bob2, carol):
        expect(reaction(page, "👍")).to_have_text("👍 2")
    expect(reaction(carol, "👍")).to_have_attribute("title", "Bob, Alice")  # who, in the order they reacted
    expect(reaction(bob2, "👍")).to_have_attribute("aria-pressed", "true")
    expect(reaction(carol, "👍")).to_have_attribute("aria-pressed", "false")
    expect(alice.locator("ol.messages li.message")).to_have_count(1)  # the reactions are not messages on screen
    reaction(bob2, "👍").click()  # Bob takes his back from his second device
    for page in (alice, bob, bob2, carol):
        expect(reaction(page, "👍")).to_have_text("👍 1")
    expect(reaction(carol, "👍")).to_have_attribute("title", "Alice")
    expect(reaction(bob, "👍")).to_have_attribute("aria-pressed", "false")
    carol_chats = _call(f"{server.url}/api/chats", token=token_of(carol))["chats"]
    (listed,) = [c for c in carol_chats if c["id"] == chat_id]
    assert listed["unread"] == 0  # three reactions came after Carol read the message
    assert listed["last_message"]["id"] == 1
    with sqlite3.connect(tmp_path / "data" / "app.db") as db:
        assert db.execute("SELECT COUNT(*) FROM reactions WHERE chat_id = ?", (chat_id,)).fetchone() == (0,)
        assert db.execute("SELECT COUNT(*) FROM messages WHERE chat_id = ? AND silent = 1", (chat_id,)).fetchone() == (
            3,
        )
    heard = devices.heard_text()
    assert '"silent":true' in heard
    assert "👍" not in heard
    assert "\\ud83d" not in heard.lower()

    # Alice, the group's admin, removes Carol; Carol's page stays open with the group key she was given.
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
        f"{server.url}/api/chats/{chat_id}/members/{ids['carol']}",
        method="DELETE",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        assert response.status == 204
    send(alice, AFTER)
    for page in (alice, bob, bob2):
        shows(page, AFTER)

    old, new = [m for m in history(server, token, chat_id) if not m.get("silent")][-2:]
    assert session_of(old) != session_of(new)  # a new group session once Carol was gone
    carol.wait_for_timeout(1500)  # time for any to-device message to reach her device (none should)
    assert carol.evaluate(DECRYPT, [chat_id, old]) == {"body": BEFORE}
    refused = carol.evaluate(DECRYPT, [chat_id, new])
    assert refused.get("code") == "waiting", refused  # no key for it: the placeholder "Waiting for this message's key"
    assert "body" not in refused
    assert AFTER not in carol.content()
    assert AFTER not in devices.heard_text()
    assert problems.seen == []
