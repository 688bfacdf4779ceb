"""End-to-end chats in the web app, through its screens, in Chromium against the real server: Carol makes an
end-to-end group with Alice and Bob (Bob on two devices: two browser contexts) and every device reads what the
others write; Alice starts an end-to-end direct chat with Bob from "New chat", and they exchange texts both ways,
a reply (its quote inside the ciphertext) and an edit; a device Bob adds afterwards says it cannot read what came
before it. Neither the server's database file, read raw, nor any WebSocket frame the server sent holds a text."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Browser, Route, expect

from tests.conftest import Mailbox
from tests.e2e.e2e_kit import Devices, devices_published, message_actions, send, shows, token_of, user_id
from tests.e2e.server_process import ServerProcess
from tests.e2e.webapp import (
    BROWSER_MARKS,
    PASSWORD,
    Problems,
    assert_accessible,
    shot,
)
from tests.e2e.webapp import call as _call
from tests.e2e.webapp import verified_account as _verified_account

pytestmark = BROWSER_MARKS

TEXTS = {
    "trio": "the trio meets under the old clock",
    "trio_reply": "alice brings the blue lantern",
    "hello": "bob, the parcel is at locker 17",
    "answer": "thanks, picking it up at noon",
    "edited": "bob, the parcel is at locker 18",
    "offline": "written in the tunnel, sent on the bridge",
    "late_key": "the key to this one comes late",
}


def test_end_to_end_direct_chat_and_group_through_the_screens(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], tmp_path: Path
) -> None:
    mailbox, _ = smtp
    bob_username = f"bob_{os.urandom(4).hex()}"
    names = {"Alice": None, "Bob": bob_username, "Carol": None, "Dave": None}  # Dave never opens the app
    emails = {name: _verified_account(server, mailbox, name, username) for name, username in names.items()}
    problems = Problems()
    devices = Devices(browser, server, problems, emails)
    alice, bob1, bob2 = devices.open("Alice"), devices.open("Bob", "bob1"), devices.open("Bob", "bob2")
    carol = devices.open("Carol")
    ids = {name: user_id(page) for name, page in (("alice", alice), ("bob", bob1), ("carol", carol))}

    # Carol makes an end-to-end group with Alice and Bob; everyone opens it (which starts their devices).
    carol.goto(f"{server.url}/#/chats/new-group")
    group_form = carol.locator("form").filter(has=carol.get_by_label("Group name"))
    group_form.get_by_label("Group name").fill("Trio")
    dave = _call(f"{server.url}/api/auth/login", {"email": emails["Dave"], "password": PASSWORD})["user"]["id"]
    group_form.get_by_label("Members").fill(f"{ids['alice']} {ids['bob']} {dave}")
    group_form.get_by_label("End-to-end encrypted").check()
    shot(carol, "e2e-new-group")
    assert_accessible(carol, "new group with the end-to-end choice")
    group_form.get_by_role("button", name="Create group").click()
    expect(carol.get_by_role("heading", name="Trio", level=1)).to_be_visible()
    trio = carol.url.split("id=", 1)[1]
    for page in (alice, bob1, bob2):
        page.goto(f"{server.url}/#/chat?id={trio}")
        expect(page.get_by_role("heading", name="Trio", level=1)).to_be_visible()
    token = token_of(carol)
    for user, count in ((ids["alice"], 1), (ids["bob"], 2), (ids["carol"], 1)):
        devices_published(server, token, user, count)

    send(carol, TEXTS["trio"])
    expect(carol.get_by_role("status").filter(has_text="Dave cannot read it")).to_be_visible()  # no device of his
    for page in (alice, bob1, bob2, carol):
        shows(page, TEXTS["trio"])
    send(alice, TEXTS["trio_reply"])
    for page in (bob1, bob2, carol):
        shows(page, TEXTS["trio_reply"])

    # A message whose key has not come yet says so, and shows once the key arrives: Bob writes in the group from his
    # first device (a new group key) while his second cannot read its to-device inbox, where that key waits.
    def no_inbox(route: Route) -> None:
        if route.request.method == "GET":
            route.abort()
        else:
            route.continue_()

    bob2.route("**/api/todevice?*", no_inbox)
    send(bob1, TEXTS["late_key"])
    expect(bob2.get_by_text("Waiting for this message’s key").first).to_be_visible()
    bob2.unroute("**/api/todevice?*", no_inbox)
    shows(bob2, TEXTS["late_key"])

    # Alice starts an end-to-end direct chat with Bob from "New chat", finding him by his username.
    alice.goto(f"{server.url}/#/chats/new")
    alice.get_by_label("Username or e-mail").fill(f"@{bob_username}")
    alice.get_by_label("End-to-end encrypted").check()
    alice.get_by_role("button", name="Find", exact=True).click()
    alice.locator(".find-result").get_by_role("button", name="Message Bob").click()  # not his contact row's
    expect(alice.get_by_role("heading", name="Bob", level=1)).to_be_visible()
    direct = alice.url.split("id=", 1)[1]
    assert _call(f"{server.url}/api/chats/{direct}", token=token_of(alice))["e2e"] is True
    send(alice, TEXTS["hello"])
    for page in (bob1, bob2):
        page.goto(f"{server.url}/#/chat?id={direct}")
        shows(page, TEXTS["hello"])

    # Bob answers from his first device with a reply; the quote travels inside the ciphertext.
    message_actions(bob1, TEXTS["hello"])
    bob1.get_by_role("button", name="Reply", exact=True).click()
    send(bob1, TEXTS["answer"])
    for page in (alice, bob2):
        shows(page, TEXTS["answer"])
        reply = page.locator("ol.messages li.message").filter(has_text=TEXTS["answer"])
        expect(reply.locator("blockquote.reply-quote")).to_contain_text(TEXTS["hello"])

    # Alice edits her message: a new ciphertext, which both of Bob's devices read.
    message_actions(alice, TEXTS["hello"])
    alice.get_by_role("button", name="Edit", exact=True).click()
    send(alice, TEXTS["edited"])
    for page in (alice, bob1, bob2):
        shows(page, TEXTS["edited"])
        expect(page.locator("ol.messages li.message").filter(has_text=TEXTS["edited"]).first).to_contain_text("edited")

    # Written offline, a message waits in the outbox (as text, on the device) and is encrypted when it goes.
    bob1.context.set_offline(True)
    expect(bob1.locator("#banner .banner")).to_contain_text("You are offline")
    send(bob1, TEXTS["offline"])
    pending = bob1.locator(".pending-list .message.pending", has_text=TEXTS["offline"])
    expect(pending).to_be_visible()
    bob1.context.set_offline(False)
    expect(pending).to_have_count(0)
    for page in (alice, bob1, bob2):
        shows(page, TEXTS["offline"])

    # The chat list shows the decrypted last message; the search on the device finds decrypted messages.
    bob2.goto(f"{server.url}/#/chats")
    expect(bob2.locator(f'a[data-chat-id="{direct}"]')).to_contain_text(TEXTS["offline"])
    bob2.get_by_label("Search chats and messages").fill("locker 18")
    expect(bob2.locator(".results .result-text")).to_contain_text(TEXTS["edited"])
    shot(bob2, "e2e-search")

    # A device Bob adds now was not there when the keys went out: it says so rather than showing nothing.
    bob3 = devices.open("Bob", "bob3")
    bob3.goto(f"{server.url}/#/chat?id={direct}")
    expect(bob3.get_by_text("Sent before this device joined").first).to_be_visible()
    shot(bob3, "e2e-new-device")
    assert_accessible(bob3, "end-to-end messages this device cannot read")
    # A second tab of Bob's first browser: the device runs in the first one only, and this tab says so.
    second_tab = problems.watch(bob1.context.new_page(), "bob1, second tab")
    second_tab.goto(f"{server.url}/#/chat?id={direct}")
    expect(second_tab.get_by_text("reads end-to-end chats in another of its tabs").first).to_be_visible()
    expect(second_tab.get_by_role("textbox", name="Message")).to_be_disabled()
    second_tab.close()

    bob1.goto(f"{server.url}/#/chat?id={direct}")
    shows(bob1, TEXTS["offline"])
    shot(bob1, "e2e-direct")

    # None of the texts reached the database file or any frame the server sent.
    stored = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("app.db*"))
    assert len(stored) > 100_000
    assert len(devices.frames) > 20
    heard = devices.heard_text()
    for text in TEXTS.values():
        assert text.encode() not in stored, text
        assert text not in heard, text
    blocked = [seen for seen in problems.seen if "/api/todevice?" in seen and "net::ERR_FAILED" in seen]  # routed
    assert [seen for seen in problems.seen if seen not in blocked] == []
