"""A channel (a broadcast group) in a real browser, at both sizes: Alice makes one on the New chat screen with
"Channel: only admins post"; the header says it is a channel; she posts; Bob, a member, reads it and has no
composer, only a line saying that only admins post. Screenshots go to SCREENSHOT_DIR for a person to look at."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import Mailbox
from tests.e2e.e2e_kit import send, shows, user_id
from tests.e2e.server_process import ServerProcess
from tests.e2e.webapp import (
    BROWSER_MARKS,
    Problems,
    assert_accessible,
    new_context,
    shot,
    sign_in,
    verified_account,
)

pytestmark = BROWSER_MARKS


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_channel_member_reads_and_has_no_composer(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], size: str
) -> None:
    mailbox, _ = smtp
    problems = Problems()
    alice_email, bob_email = verified_account(server, mailbox, "Alice"), verified_account(server, mailbox, "Bob")
    alice = problems.watch(new_context(browser, size).new_page(), "alice")
    sign_in(alice, server, alice_email)
    bob = problems.watch(new_context(browser, size).new_page(), "bob")
    sign_in(bob, server, bob_email)
    bob_id = user_id(bob)

    alice.goto(f"{server.url}/#/chats/new-group")
    form = alice.locator("form").filter(has=alice.get_by_label("Group name"))
    form.get_by_label("Group name").fill("News")
    form.get_by_label("Members").fill(bob_id)
    form.get_by_label("Channel: only admins post").check()
    shot(alice, "channel-new", size)
    assert_accessible(alice, f"new group with the channel choice ({size})")
    form.get_by_role("button", name="Create group").click()
    expect(alice.get_by_role("heading", name="News", level=1)).to_be_visible()
    expect(alice.locator(".chat-subtitle")).to_have_text("Channel · 2 members")
    channel = alice.url.split("id=", 1)[1]
    send(alice, "The first post")  # the owner has a composer

    bob.goto(f"{server.url}/#/chat?id={channel}")
    expect(bob.get_by_role("heading", name="News", level=1)).to_be_visible()
    shows(bob, "The first post")
    expect(bob.get_by_text("Only the channel’s admins post here. You can read and react.")).to_be_visible()
    expect(bob.locator("form.composer")).to_be_hidden()
    shot(bob, "channel-member", size)
    assert_accessible(bob, f"a channel as its member sees it ({size})")
    assert problems.seen == []
