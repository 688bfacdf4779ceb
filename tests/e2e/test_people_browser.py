"""Finding people in a real browser, at both screen sizes: a new user picks a username at sign-up (checked as it
is typed) and changes it on the account page; Bob lets people find him by his e-mail address; the new user finds
people by e-mail only when they allow it, and by @username, from "New chat", and picks them again from the contacts
list; the "message me" link opens the person, and a button opens the direct chat (the existing one when there is
one). Every new screen gets an axe-core check and a screenshot (SCREENSHOT_DIR).
Any page or console error fails the test.
"""

from __future__ import annotations

import os
import re
import urllib.request

import pytest
from playwright.sync_api import APIResponse, Browser, Page, Route, expect

from tests.conftest import Mailbox, link_in
from tests.e2e.e2e_kit import poll
from tests.e2e.server_process import ServerProcess
from tests.e2e.webapp import (
    BROWSER_MARKS,
    PASSWORD,
    Problems,
    assert_accessible,
    new_context,
    open_account,
    shot,
    sign_in,
    verified_account,
)

pytestmark = BROWSER_MARKS


def _name(prefix: str) -> str:
    return f"{prefix}_{os.urandom(3).hex()}"


def _chat_id(page: Page) -> str:
    expect(page).to_have_url(re.compile(r"#/chat\?id="))
    return page.url.split("id=", 1)[1]


def _sign_up(page: Page, server: ServerProcess, mailbox: Mailbox, size: str, taken: str) -> tuple[str, str]:
    """Sign up in the app with a username; the live check first refuses a taken one. Returns (e-mail, username)."""
    email = f"alice-{os.urandom(4).hex()}@example.test"
    username = _name("Alice")
    page.goto(f"{server.url}/#/register")
    page.get_by_label("Display name").fill("Alice")
    field = page.get_by_label("Username")
    field.fill(taken.upper())  # taken whatever its case
    expect(page.locator(".field.has-error")).to_contain_text(f"@{taken.upper()} is taken")
    field.fill("9lives")
    expect(page.locator(".field.has-error")).to_contain_text("starts with a Latin letter")
    field.fill(username)
    expect(page.locator(".field-status")).to_have_text(f"@{username} is available.")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    assert_accessible(page, f"sign-up with a username ({size})")
    shot(page, "register", size)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your e-mail", level=1)).to_be_visible()
    message = mailbox.wait_for_blocking(email, timeout=20)
    with urllib.request.urlopen(server.url + link_in(message, "/verify-email"), timeout=30) as response:  # noqa: S310
        assert response.status == 200
    return email, username


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_usernames_finding_people_and_message_me_links(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], size: str
) -> None:
    mailbox, _ = smtp
    problems = Problems()
    bob_username = _name("bob")
    bob_email = verified_account(server, mailbox, "Bob", bob_username)
    carol_email = verified_account(server, mailbox, "Carol")
    contexts = [new_context(browser, size) for _ in range(3)]
    names = ("alice", "bob", "carol")
    alice, bob, carol = (problems.watch(c.new_page(), n) for c, n in zip(contexts, names, strict=True))

    # Alice signs up with a username, then changes it on her account page; her link follows.
    alice_email, first_name = _sign_up(alice, server, mailbox, size, bob_username)
    sign_in(alice, server, alice_email)
    open_account(alice)
    card = alice.locator("section.card", has=alice.get_by_role("heading", name="Username", exact=True))
    username = card.get_by_label("Username")
    expect(username).to_have_value(first_name)
    new_name = _name("Ally")
    username.fill(new_name)
    expect(card.locator(".field-status")).to_have_text(f"@{new_name} is available.")
    card.get_by_role("button", name="Save username").click()
    expect(card.locator(".field-status")).to_have_text("Saved.")
    link = card.get_by_label("Your “message me” link")
    expect(link).to_have_value(f"{server.url}/#/u/{new_name}")
    card.get_by_role("button", name="Copy your link").click()
    expect(card.locator(".copy-status")).not_to_be_empty()
    discoverable = card.get_by_role("switch", name="Find me by my e-mail address")
    expect(discoverable).to_have_attribute("aria-checked", "false")  # off by default
    card.scroll_into_view_if_needed()
    assert_accessible(alice, f"account page with the username card ({size})")
    shot(alice, "account", size)
    link_url = link.input_value()

    # Bob lets people find him by his e-mail address; Carol does not.
    sign_in(bob, server, bob_email)
    open_account(bob)
    bob_switch = bob.get_by_role("switch", name="Find me by my e-mail address")
    bob_switch.click()
    expect(bob_switch).to_have_attribute("aria-checked", "true")
    expect(bob.get_by_text("On: people who type your exact address can find you.")).to_be_visible()

    # Alice: New chat is "find a person". Carol's address finds nobody, Bob's finds Bob.
    alice.goto(f"{server.url}/#/chats")
    alice.get_by_role("link", name="New chat").click()
    expect(alice.get_by_role("heading", name="New chat", level=1)).to_be_visible()
    expect(alice.get_by_text("No contacts yet.")).to_be_visible()
    query = alice.get_by_label("Username or e-mail")
    find = alice.get_by_role("button", name="Find", exact=True)
    query.fill(carol_email)
    find.click()
    expect(alice.locator(".field.has-error")).to_contain_text("No one can be found by this address")
    query.fill(bob_email.upper())
    find.click()
    expect(alice.locator(".find-result")).to_contain_text(f"@{bob_username}")
    assert_accessible(alice, f"find a person, with a result ({size})")
    shot(alice, "find", size)
    alice.get_by_role("button", name="Message Bob").click()
    expect(alice.get_by_role("heading", name="Bob", level=1)).to_be_visible()
    chat_with_bob = _chat_id(alice)
    composer = alice.get_by_role("textbox", name="Message")
    composer.fill("Found you")
    composer.press("Enter")
    expect(alice.locator(".message.mine", has_text="Found you").locator(".receipt")).to_have_text("✓Sent")

    # By @username (any case) too; and Bob is now among her contacts, who open the same chat.
    alice.goto(f"{server.url}/#/chats/new")
    alice.get_by_label("Username or e-mail").fill(f"@{bob_username.upper()}")
    alice.get_by_role("button", name="Find", exact=True).click()
    expect(alice.locator(".find-result")).to_contain_text("Bob")
    contacts = alice.get_by_role("list", name="Contacts")
    expect(contacts.get_by_role("listitem")).to_have_count(1)
    expect(contacts).to_contain_text(f"@{bob_username}")
    shot(alice, "contacts", size)
    contacts.get_by_role("button", name="Message Bob").click()
    assert _chat_id(alice) == chat_with_bob

    # Carol opens Alice's link: Alice, and a button that starts the chat.
    carol.goto(link_url)  # signed out first: she is asked to sign in
    expect(carol.get_by_text(f"Sign in or create an account to write to @{new_name}")).to_be_visible()
    assert_accessible(carol, f"message-me link, signed out ({size})")
    sign_in(carol, server, carol_email)
    carol.goto(link_url)
    expect(carol.get_by_role("heading", name=f"@{new_name}", level=1)).to_be_visible()
    expect(carol.locator(".person")).to_contain_text("Alice")
    assert_accessible(carol, f"message-me link ({size})")
    shot(carol, "message-me", size)
    carol.get_by_role("button", name="Send a message").click()
    expect(carol.get_by_role("heading", name="Alice", level=1)).to_be_visible()
    _chat_id(carol)

    # Bob already has a chat with Alice: her link opens it.
    bob.goto(link_url)
    bob.get_by_role("button", name="Open your chat").click()
    assert _chat_id(bob) == chat_with_bob
    # Her old name no longer leads to her.
    bob.goto(f"{server.url}/#/u/{first_name}")
    expect(bob.get_by_text(f"No one has the username @{first_name}.")).to_be_visible()

    for context in contexts:
        context.close()
    # Chromium logs every 4xx answer as a console error; the lookups that found nobody answered 404 on purpose.
    expected = "status of 404 (Not Found) at {'url': '" + server.url + "/api/people/lookup'"
    assert [p for p in problems.seen if expected not in p] == []
    assert len(problems.seen) == 2  # Carol's hidden address, and Alice's old username


def test_a_switch_flipped_while_the_profile_loads_stays_flipped(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, _ = smtp
    problems = Problems()
    page = problems.watch(new_context(browser, "desktop").new_page(), "dora")
    sign_in(page, server, verified_account(server, mailbox, "Dora"))
    # The account screen's profile loads are read from the server at once but answered only later: the answer
    # then says what the profile was before the switch was flipped.
    held: list[tuple[Route, APIResponse]] = []

    def hold_profile(route: Route) -> None:
        if route.request.method == "GET":
            held.append((route, route.fetch()))
        else:
            route.continue_()

    page.route("**/api/me", hold_profile)
    open_account(page)
    switch = page.get_by_role("switch", name="Find me by my e-mail address")
    switch.click()  # on the card made from what the app knew at sign-in
    expect(page.get_by_text("On: people who type your exact address can find you.")).to_be_visible()
    assert held, "the account screen did not load the profile"
    for route, response in held:
        route.fulfill(response=response)
    stale = "async () => (await import('/js/core/api.js')).getUser().email_discoverable"
    poll(page, stale, None, lambda value: value is False)  # the old answers have arrived and been taken
    expect(switch).to_have_attribute("aria-checked", "true")  # the switch still shows what was saved
    page.unroute("**/api/me")
    page.reload()
    open_account(page)
    expect(switch).to_have_attribute("aria-checked", "true")
    page.context.close()
    assert problems.seen == []
