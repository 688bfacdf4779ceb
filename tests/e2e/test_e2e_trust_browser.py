"""Trust in end-to-end chats (pwa/js/e2e/trust.js, verify.js, trust-ui.js) in Chromium against the real server:
Alice and Bob share an end-to-end chat; Alice asks to verify Bob's security keys from his person dialog, Bob accepts
in his own browser, both see the same seven emoji (the crypto library's SAS, over the to-device inbox) and confirm,
and Alice's chat header shows Bob verified. Then Bob signs in on a new device, which publishes a new identity key:
the server's `keys.changed` reaches Alice's page, her chat shows "Bob's security key changed" and the badge is gone."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from tests.conftest import Mailbox
from tests.e2e.e2e_kit import new_e2e_chat, open_device, user_id
from tests.e2e.server_process import ServerProcess
from tests.e2e.webapp import (
    BROWSER_MARKS,
    Problems,
    assert_accessible,
    new_context,
    shot,
    sign_in,
)
from tests.e2e.webapp import verified_account as _verified_account

pytestmark = BROWSER_MARKS


def emoji_of(page: Page) -> list[str]:
    pictures = page.get_by_role("list", name="Emoji to compare")
    expect(pictures).to_be_visible(timeout=20_000)
    return [item.inner_text().replace("\n", " ") for item in pictures.get_by_role("listitem").all()]


def test_alice_verifies_bob_and_sees_his_new_device_as_a_key_change(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, _ = smtp
    emails = {name: _verified_account(server, mailbox, name) for name in ("Alice", "Bob")}
    problems = Problems()
    alice = problems.watch(new_context(browser).new_page(), "alice")
    bob = problems.watch(new_context(browser, "phone").new_page(), "bob")  # Bob on a phone: both sizes tried
    sign_in(alice, server, emails["Alice"])
    sign_in(bob, server, emails["Bob"])
    bob_id = user_id(bob)
    for page in (alice, bob):
        assert open_device(page)["directoryId"]  # each has published a device
    chat_id = new_e2e_chat(alice, bob_id)

    for page in (alice, bob):
        page.goto(f"{server.url}/#/chat?id={chat_id}")
        expect(page.get_by_role("button", name="Security", exact=True)).to_be_visible()
    expect(alice.get_by_text("✓ Verified")).to_have_count(0)

    # Alice opens Bob's details and asks to verify; Bob's page shows the request, and he accepts.
    alice.get_by_role("button", name="Profile").click()
    person = alice.get_by_role("dialog", name="Bob")
    expect(person.get_by_text("You have not verified the security keys of Bob.")).to_be_visible(timeout=20_000)
    person.get_by_role("button", name="Verify security keys").click()
    asking = alice.get_by_role("dialog", name="Verify Bob")
    expect(asking.get_by_text("Waiting for Bob to accept")).to_be_visible()
    asked = bob.get_by_role("dialog", name="Verify Alice")
    expect(asked.get_by_text("Alice wants to verify security keys with you.")).to_be_visible(timeout=20_000)
    asked.get_by_role("button", name="Accept").click()

    # Both see the same seven emoji, and both say they match.
    seen_by_alice, seen_by_bob = emoji_of(alice), emoji_of(bob)
    assert len(seen_by_alice) == 7
    assert seen_by_alice == seen_by_bob
    shot(alice, "e2e-verify")
    shot(bob, "e2e-verify", "phone")
    assert_accessible(alice, "the verification dialog")
    asking.get_by_role("button", name="They match").click()
    expect(asking.get_by_text("Waiting for Bob to confirm")).to_be_visible()
    asked.get_by_role("button", name="They match").click()
    expect(asking.get_by_text("Bob is verified.")).to_be_visible(timeout=20_000)
    expect(asked.get_by_text("Alice is verified.")).to_be_visible(timeout=20_000)
    asking.get_by_role("button", name="Done").click()
    expect(person.get_by_text("✓ Verified")).to_be_visible()
    person.get_by_role("button", name="Close").click()
    header_badge = alice.locator(".chat-trust").get_by_text("✓ Verified")
    expect(header_badge).to_be_visible()
    expect(bob.locator(".chat-trust").get_by_text("✓ Verified")).to_be_visible()
    shot(bob, "e2e-verified", "phone")

    # Bob signs in on a new device, which publishes its keys: Alice's chat says so, and Bob is no longer verified.
    bob2 = problems.watch(new_context(browser).new_page(), "bob, new device")
    sign_in(bob2, server, emails["Bob"])
    assert open_device(bob2)["directoryId"]
    notice = alice.get_by_text("Bob’s security key changed — verify again.")
    expect(notice).to_be_visible(timeout=20_000)
    expect(header_badge).to_have_count(0)
    shot(alice, "e2e-key-changed")
    assert_accessible(alice, "an end-to-end chat with a key-change notice")
    # The notice is kept on Alice's device: it is still there after a reload, until she puts it away.
    alice.reload()
    expect(notice).to_be_visible(timeout=20_000)
    alice.get_by_role("button", name="Dismiss").click()
    expect(notice).to_have_count(0)

    # A second tab of Alice's browser does not run the device (the first one has it): it says so, in words.
    second_tab = problems.watch(alice.context.new_page(), "alice, second tab")
    second_tab.goto(f"{server.url}/#/chat?id={chat_id}")
    expect(second_tab.get_by_text("Encryption is open in another tab of this browser")).to_be_visible()
    second_tab.close()

    # What a new device cannot read is explained from the chat.
    bob2.goto(f"{server.url}/#/chat?id={chat_id}")
    bob2.get_by_role("button", name="Security", exact=True).click()
    bob2.get_by_role("button", name="Older messages on a new device").click()
    expect(bob2.get_by_text("cannot read messages that were sent before it existed")).to_be_visible()

    assert problems.seen == []
