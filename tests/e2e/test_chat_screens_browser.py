"""The chat screens of issue 13 in a real browser, each flow at both sizes (a desktop window and a phone): the
layout (land on the chats, two panes or one, the quiet new direct chat), the features the server has (receipts,
group management, forward, readers, mute, invite links, report and block), and the polish (links, day
separators, emoji picker, search, one Tab stop per message list with arrow keys, a skip link, a growing
composer). Each screen touched is checked with axe-core; screenshots go to /tmp for a person to look at.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import pytest
from playwright.sync_api import APIResponse, Browser, BrowserContext, Page, Route, expect

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

SIZES = ["desktop", "phone"]


@dataclass
class Person:
    name: str
    email: str
    id: str
    token: str
    username: str


def person(server: ServerProcess, mailbox: Mailbox, name: str) -> Person:
    username = f"{name.lower()}_{uuid.uuid4().hex[:6]}"
    email = verified_account(server, mailbox, name, username=username)
    grant = call(f"{server.url}/api/auth/login", {"email": email, "password": PASSWORD})
    return Person(name, email, grant["user"]["id"], grant["access_token"], username)


def say(server: ServerProcess, who: Person, chat_id: str, text: str) -> dict[str, object]:
    body = {"client_id": str(uuid.uuid4()), "text": text}
    answer: dict[str, object] = call(f"{server.url}/api/chats/{chat_id}/messages", body, token=who.token)
    return answer


def open_page(browser: Browser, server: ServerProcess, problems: Problems, who: Person, size: str) -> Page:
    context: BrowserContext = new_context(browser, size)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = problems.watch(context.new_page(), who.name.lower())
    sign_in(page, server, who.email)
    return page


def open_chat(page: Page, chat_id: str, title: str) -> None:
    page.locator(f'a[data-chat-id="{chat_id}"]').click()
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()


@pytest.mark.parametrize("size", SIZES)
def test_sign_in_lands_on_the_chats_and_a_new_direct_chat_stays_quiet_until_its_first_message(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], size: str
) -> None:
    mailbox, _ = smtp
    alice, bob = person(server, mailbox, "Alice"), person(server, mailbox, "Bob")
    problems = Problems()
    bob_page = open_page(browser, server, problems, bob, size)
    chat = call(f"{server.url}/api/chats", {"kind": "direct", "user_id": bob.id}, token=alice.token)
    alice_page = open_page(browser, server, problems, alice, size)
    expect(alice_page.locator(f'a[data-chat-id="{chat["id"]}"]')).to_contain_text("No messages yet")
    assert_accessible(alice_page, f"chat list ({size})")
    shot(alice_page, "list", size)
    bob_page.wait_for_timeout(500)
    expect(bob_page.locator(f'a[data-chat-id="{chat["id"]}"]')).to_have_count(0)
    expect(bob_page.get_by_text("No chats yet.")).to_be_visible()

    # The first message brings the chat to Bob, live; a link in it is a safe link, a javascript: one is not.
    say(server, alice, chat["id"], "See https://example.com/a_(b). Not javascript:alert(1)")
    row = bob_page.locator(f'a[data-chat-id="{chat["id"]}"]')
    expect(row).to_contain_text("example.com")
    open_chat(bob_page, chat["id"], "Alice")
    link = bob_page.locator(".message.theirs a.message-link")
    expect(link).to_have_count(1)
    expect(link).to_have_attribute("href", "https://example.com/a_(b)")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(bob_page.locator(".messages .day-separator").first).to_have_text("Today")

    # Phone: the conversation has the whole screen (no app bar) and a back button; desktop: the list beside it.
    header, back = bob_page.locator(".app-header"), bob_page.get_by_role("link", name="Back to chats")
    pane = bob_page.locator(".chat-list-pane")
    if size == "phone":
        expect(header).to_be_hidden()
        expect(pane).to_be_hidden()
        expect(back).to_be_visible()
    else:
        expect(header).to_be_visible()
        expect(pane).to_be_visible()
        expect(pane.locator('a[aria-current="page"]')).to_have_attribute("data-chat-id", chat["id"])
        expect(back).to_be_hidden()
    assert_accessible(bob_page, f"conversation ({size})")
    shot(bob_page, "conversation", size)

    # Alice's ✓ becomes a coloured ✓✓ once Bob has read it (it reached his device before: ✓✓ delivered).
    open_chat(alice_page, chat["id"], "Bob")
    expect(alice_page.locator(".message.mine .receipt.read")).to_have_text("✓✓Read")
    bob_page.close()
    alice_page.get_by_role("textbox", name="Message").fill("Are you there?")
    alice_page.get_by_role("textbox", name="Message").press("Enter")
    expect(alice_page.locator(".message.mine", has_text="there?").locator(".receipt")).to_have_text("✓Sent")
    if size == "phone":
        alice_page.get_by_role("link", name="Back to chats").click()
        expect(alice_page.get_by_role("heading", name="Chats", level=1)).to_be_visible()
        expect(alice_page.locator(".app-header")).to_be_visible()
    assert problems.seen == []


def _group(server: ServerProcess, owner: Person, members: list[Person], name: str = "Team") -> str:
    made = call(
        f"{server.url}/api/chats",
        {"kind": "group", "name": name, "members": [m.id for m in members]},
        token=owner.token,
    )
    chat_id: str = made["id"]
    return chat_id


@pytest.mark.parametrize("size", SIZES)
def test_group_management_forward_readers_mute_invite_report_and_block(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], size: str
) -> None:
    mailbox, _ = smtp
    alice, bob, carol = (person(server, mailbox, n) for n in ("Alice", "Bob", "Carol"))
    team = _group(server, alice, [bob, carol])
    other = _group(server, alice, [bob], "Other")
    said = say(server, bob, team, "Lunch at noon?")
    problems = Problems()
    page = open_page(browser, server, problems, alice, size)
    open_chat(page, team, "Team")
    expect(page.locator(".message.theirs", has_text="Lunch")).to_be_visible()

    # Group details: rename, describe, make Bob admin, remove Carol, hand ownership to Bob.
    page.get_by_role("button", name="Group", exact=True).click()
    dialog = page.get_by_role("dialog", name="Group details")
    expect(dialog.get_by_role("heading", name="3 members")).to_be_visible()
    assert_accessible(page, f"group details ({size})")
    shot(page, "group", size)
    dialog.get_by_label("Name", exact=True).fill("Crew")
    dialog.get_by_label("Description").fill("Plans and lunches")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.get_by_role("status")).to_have_text("Saved.")
    expect(page.get_by_role("heading", name="Crew", level=1)).to_be_visible()
    bob_row = dialog.locator(".member", has_text="Bob")
    bob_row.get_by_role("button", name="Make admin").click()
    expect(bob_row.locator(".badge")).to_have_text("admin")  # the row's badge, not its "Make admin" button
    dialog.locator(".member", has_text="Carol").get_by_role("button", name="Remove").click()
    expect(dialog.get_by_role("heading", name="2 members")).to_be_visible()
    # Members are added by @username (or user id); a name nobody has is said so, and nothing changes.
    adding = dialog.get_by_label("Add members")
    adding.fill("@nobody_by_that_name")
    dialog.get_by_role("button", name="Add", exact=True).click()
    expect(dialog.get_by_role("status")).to_have_text("No one is called @nobody_by_that_name.")
    adding.fill(f"@{carol.username}")
    dialog.get_by_role("button", name="Add", exact=True).click()
    expect(dialog.get_by_role("heading", name="3 members")).to_be_visible()
    dialog.locator(".member", has_text="Carol").get_by_role("button", name="Remove").click()
    expect(dialog.get_by_role("heading", name="2 members")).to_be_visible()
    dialog.locator(".member", has_text="Bob").get_by_role("button", name="Make owner").click()
    expect(dialog.locator(".member", has_text="Bob").locator(".badge")).to_have_text("owner")
    view = call(f"{server.url}/api/chats/{team}", token=alice.token)
    assert {m["user_id"]: m["role"] for m in view["members"]} == {alice.id: "admin", bob.id: "owner"}
    assert (view["name"], view["description"]) == ("Crew", "Plans and lunches")
    dialog.get_by_role("button", name="Close").click()

    # Forward Bob's message to two chats at once.
    message = page.locator(".message.theirs", has_text="Lunch")
    message.get_by_role("button", name="Actions for this message").click()
    message.get_by_role("button", name="Forward").click()
    forward = page.get_by_role("dialog", name="Forward")
    forward.get_by_label("Other").check()
    forward.get_by_label("Crew").check()
    assert_accessible(page, f"forward ({size})")
    forward.get_by_role("button", name="Forward to 2 chats").click()
    expect(page.locator(".chat-screen .status")).to_have_text("Forwarded to 2 chats.")
    stored = call(f"{server.url}/api/chats/{other}/messages", token=alice.token)["messages"]
    assert [(m["text"], m["forward"]["sender_id"]) for m in stored] == [("Lunch at noon?", bob.id)]

    # Who read my message in the group.
    page.get_by_role("textbox", name="Message").fill("Yes!")
    page.get_by_role("textbox", name="Message").press("Enter")
    mine = page.locator(".message.mine", has_text="Yes!")
    expect(mine.locator(".receipt")).to_have_text("✓Sent")
    last = call(f"{server.url}/api/chats/{team}/messages", token=alice.token)["messages"][-1]
    call(f"{server.url}/api/chats/{team}/read", {"message_id": last["id"]}, token=bob.token)
    expect(mine.locator(".receipt.read")).to_have_text("✓✓Read")
    mine.get_by_role("button", name="Actions for this message").click()
    mine.get_by_role("button", name="Who read it").click()
    readers = page.get_by_role("dialog", name="Who read it")
    expect(readers.get_by_role("heading", name="Read by 1")).to_be_visible()
    expect(readers.get_by_role("listitem")).to_have_text(["Bob"])
    readers.get_by_role("button", name="Close").click()

    # Mute for 1 hour; an invite link to copy.
    page.get_by_role("button", name="Options").click()
    page.get_by_role("button", name="1 hour").click()
    expect(page.locator(".chat-screen .status")).to_contain_text("Muted until")
    settings = call(f"{server.url}/api/chats", token=alice.token)["chats"]
    muted = next(c for c in settings if c["id"] == team)["me"]["muted_until"]
    assert 3000 < muted - view["created_at"] < 3700
    page.get_by_role("button", name="Options").click()
    page.get_by_role("button", name="Invite link").click()
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("Copied.")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert re.search(r"#join/", copied), copied
    assert_accessible(page, f"options ({size})")

    # Report Bob's message, then block him from it.
    message.get_by_role("button", name="Actions for this message").click()
    message.get_by_role("button", name="Report").click()
    report = page.get_by_role("dialog", name="Report this message")
    report.get_by_label("What is wrong with it?").fill("spam")
    report.get_by_role("button", name="Report").click()
    expect(page.locator(".chat-screen .status")).to_contain_text("Reported.")
    message.get_by_role("button", name="Actions for this message").click()
    message.get_by_role("button", name="Block sender").click()
    page.get_by_role("dialog", name="Block Bob?").get_by_role("button", name="Block").click()
    expect(page.locator(".chat-screen .status")).to_have_text("Bob is blocked.")
    assert [b["user_id"] for b in call(f"{server.url}/api/blocks", token=alice.token)["blocks"]] == [bob.id]
    assert said["text"] == "Lunch at noon?"
    # Chromium logs every 4xx answer as a console error; the one lookup that found nobody answered 404 on purpose.
    expected = "status of 404 (Not Found) at {'url': '" + server.url + "/api/people/lookup'"
    assert [p for p in problems.seen if expected not in p] == []
    assert len(problems.seen) == 1


def test_what_is_typed_in_the_group_details_stays_while_the_group_loads(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, _ = smtp
    alice, bob = (person(server, mailbox, n) for n in ("Alice", "Bob"))
    team = _group(server, alice, [bob])
    problems = Problems()
    page = open_page(browser, server, problems, alice, "desktop")
    open_chat(page, team, "Team")
    # The group's loads are read from the server at once but answered only later, saying a description was set
    # meanwhile (by another admin, say): the field not edited follows it, the name being typed stays.
    held: list[tuple[Route, APIResponse]] = []
    released = False

    def hold_group(route: Route) -> None:
        if route.request.method == "GET" and not released:
            held.append((route, route.fetch()))
        else:
            route.continue_()

    page.route(f"**/api/chats/{team}", hold_group)
    page.get_by_role("button", name="Group", exact=True).click()
    dialog = page.get_by_role("dialog", name="Group details")
    name = dialog.get_by_label("Name", exact=True)
    name.fill("Crew")
    for _ in range(200):  # the dialog's load reaches the route in its own time (at most 10 s)
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the group details did not load the group"
    released = True
    for route, response in held:
        route.fulfill(response=response, json={**response.json(), "description": "Said elsewhere"})
    expect(dialog.locator(".group-head")).to_contain_text("Said elsewhere")  # the answer has been taken
    expect(dialog.get_by_label("Description")).to_have_value("Said elsewhere")
    expect(name).to_have_value("Crew")
    page.unroute(f"**/api/chats/{team}")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.get_by_role("status")).to_have_text("Saved.")
    expect(page.get_by_role("heading", name="Crew", level=1)).to_be_visible()
    view = call(f"{server.url}/api/chats/{team}", token=alice.token)
    assert (view["name"], view["description"]) == ("Crew", None)  # the field not edited was not sent
    page.context.close()
    assert problems.seen == []


def test_a_chat_pressed_while_the_list_is_redrawn_still_opens(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int]
) -> None:
    """The list is redrawn on every chat's news; a row that looks the same must stay the same element, or a press
    before the news and its release after it would land on two elements and open nothing."""
    mailbox, _ = smtp
    alice, bob = (person(server, mailbox, n) for n in ("Alice", "Bob"))
    team = _group(server, alice, [bob])
    other = _group(server, alice, [bob], "Other")
    say(server, alice, team, "First")
    say(server, alice, other, "Hello")  # the other chat is on top, the pressed one under it
    problems = Problems()
    page = open_page(browser, server, problems, bob, "desktop")
    expect(page.locator(f'a[data-chat-id="{other}"]')).to_contain_text("Hello")
    box = page.locator(f'a[data-chat-id="{team}"]').bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    say(server, alice, other, "News elsewhere")  # the list is redrawn; the order stays
    expect(page.locator(f'a[data-chat-id="{other}"]')).to_contain_text("News elsewhere")
    page.mouse.up()
    expect(page.get_by_role("heading", name="Team", level=1)).to_be_visible()
    page.context.close()
    assert problems.seen == []


@pytest.mark.parametrize("size", SIZES)
def test_emoji_search_keyboard_skip_link_and_a_growing_composer(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], size: str
) -> None:
    mailbox, _ = smtp
    alice, bob = person(server, mailbox, "Alice"), person(server, mailbox, "Bob")
    chat = call(f"{server.url}/api/chats", {"kind": "direct", "user_id": bob.id}, token=alice.token)
    for text in ("first banana", "second", "third"):
        say(server, bob, chat["id"], text)
    problems = Problems()
    page = open_page(browser, server, problems, alice, size)

    # The skip link is the first Tab stop of the page and leads to the chat list's search.
    page.reload()
    expect(page.get_by_role("heading", name="Chats", level=1)).to_be_visible()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to your chats")
    expect(skip).to_be_focused()
    skip.press("Enter")
    search = page.get_by_role("searchbox", name="Search chats and messages")
    expect(search).to_be_focused()

    open_chat(page, chat["id"], "Bob")
    # One Tab stop for the messages: arrow keys move between them.
    items = page.locator(".chat-log li.message")
    expect(items).to_have_count(3)
    assert page.locator(".chat-log li.message[tabindex='0']").count() == 1
    page.get_by_role("textbox", name="Message").focus()
    page.keyboard.press("Shift+Tab")  # the emoji button
    page.keyboard.press("Shift+Tab")  # the attach button
    page.keyboard.press("Shift+Tab")  # the current (last) message's own button
    expect(items.nth(2).get_by_role("button", name="Actions for this message")).to_be_focused()
    page.keyboard.press("Shift+Tab")  # the current message itself: the list's one Tab stop
    expect(items.nth(2)).to_be_focused()
    page.keyboard.press("Shift+Tab")  # out of the list at once: the header's buttons come before it
    expect(page.get_by_role("button", name="Options")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("ArrowUp")
    expect(items.nth(1)).to_be_focused()
    page.keyboard.press("Home")
    expect(items.nth(0)).to_be_focused()
    page.keyboard.press("End")
    expect(items.nth(2)).to_be_focused()

    # The emoji picker, by keyboard.
    page.get_by_role("button", name="Emoji").click()
    first = page.locator(".emoji-cell").first
    expect(first).to_be_focused()
    assert_accessible(page, f"emoji picker ({size})")
    shot(page, "emoji", size)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    box = page.get_by_role("textbox", name="Message")
    expect(box).to_have_value("😃")
    expect(page.get_by_role("button", name="Emoji")).to_be_focused()

    # The composer grows with its lines.
    before = box.bounding_box()
    box.fill("one\ntwo\nthree\nfour")
    box.dispatch_event("input")
    after = box.bounding_box()
    assert before
    assert after
    assert after["height"] > before["height"] * 1.8, (before, after)
    box.fill("")

    # Search: chat names, and the messages this device has loaded (it says the search is local).
    if size == "phone":
        page.get_by_role("link", name="Back to chats").click()
    search = page.get_by_role("searchbox", name="Search chats and messages")
    search.fill("banana")
    expect(page.get_by_text("Only messages this device has loaded are searched")).to_be_visible()
    result = page.locator(".result-link", has_text="first banana")
    expect(result).to_be_visible()
    assert_accessible(page, f"search ({size})")
    shot(page, "search", size)
    page.emulate_media(color_scheme="dark")
    page.wait_for_timeout(500)  # the buttons' colour transitions end (axe measures colours as they are)
    assert_accessible(page, f"search, dark ({size})")
    shot(page, "search-dark", size)
    result.click()
    expect(page.locator(".message.found", has_text="first banana")).to_be_focused()
    assert problems.seen == []
