"""A member removed from an end-to-end group cannot read what is sent after it (issue 15, point 5), in Chromium
against the real server: Alice (the admin), Bob and Carol read each other in an end-to-end group; Alice removes
Carol; the next message is read by Alice's and Bob's devices, while Carol's device — still open, still holding the
group key it had — gets no new key: the library starts a new group session when a member is gone, and the message
does not decrypt on her device (it would show the undecryptable placeholder), though the older one still does."""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from typing import Any

from playwright.sync_api import Browser, Page

from tests.conftest import Mailbox
from tests.e2e.server_process import ServerProcess
from tests.e2e.test_e2e_chats_browser import devices_published, send, shows, token_of
from tests.e2e.webapp import BROWSER_MARKS, Problems, browser_fixture, new_context, server_fixture, sign_in
from tests.e2e.webapp import call as _call
from tests.e2e.webapp import verified_account as _verified_account

__all__ = ["browser_fixture", "server_fixture"]  # the fixtures this module uses

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


def test_a_removed_member_cannot_read_what_follows(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int]
) -> None:
    started = time.monotonic()
    mailbox, _ = smtp
    emails = {name: _verified_account(server, mailbox, name) for name in ("Alice", "Bob", "Carol")}
    problems = Problems()

    def device(who: str) -> Page:
        page = problems.watch(new_context(browser).new_page(), who)
        sign_in(page, server, emails[who])
        return page

    alice, bob, carol = device("Alice"), device("Bob"), device("Carol")
    user_of = "async () => (await import('/js/core/api.js')).getUser().id"
    ids = {name: page.evaluate(user_of) for name, page in (("alice", alice), ("bob", bob), ("carol", carol))}
    token = token_of(alice)
    group = {"kind": "group", "name": "Gates", "members": [ids["bob"], ids["carol"]], "e2e": True}
    chat_id = _call(f"{server.url}/api/chats", group, token=token)["id"]
    for page in (alice, bob, carol):
        page.goto(f"{server.url}/#/chat?id={chat_id}")
    for user in ids.values():
        devices_published(server, token, user, 1)

    send(alice, BEFORE)
    for page in (alice, bob, carol):
        shows(page, BEFORE)

    # Alice, the group's admin, removes Carol; Carol's page stays open with the group key she was given.
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
        f"{server.url}/api/chats/{chat_id}/members/{ids['carol']}",
        method="DELETE",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        assert response.status == 204
    send(alice, AFTER)
    for page in (alice, bob):
        shows(page, AFTER)

    old, new = history(server, token, chat_id)[-2:]
    assert session_of(old) != session_of(new)  # a new group session once Carol was gone
    carol.wait_for_timeout(1500)  # time for any to-device message to reach her device (none should)
    assert carol.evaluate(DECRYPT, [chat_id, old]) == {"body": BEFORE}
    refused = carol.evaluate(DECRYPT, [chat_id, new])
    assert refused.get("code") == "waiting", refused  # no key for it: the placeholder "Waiting for this message's key"
    assert "body" not in refused
    assert AFTER not in carol.content()
    assert problems.seen == []
    assert time.monotonic() - started < 60
