"""Calls in a real browser: people in separate browser contexts, one real server process, Chromium's fake camera
and microphone.

Everyone registers through the API and confirms through the real e-mail, and the chats are made through the API;
the calls themselves are made in the web app: Alice calls Bob, Bob's page rings and he answers with video, each
sees the other's video advancing (the in-call screen's `data-frames-decoded`, read from getStats()), Alice mutes
and Bob sees it, Alice hangs up and both see the call end, and the chat shows the call. Bob declining shows
"Declined" on both sides. Three people in a group call through the SFU each see two others' video advancing.
Any page error or console error fails a test. Chromium is Debian's (/usr/bin/chromium), driven by Playwright.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, WebSocketRoute, expect

from server.calls import ws as calls_ws
from tests.conftest import Mailbox
from tests.e2e.server_process import ServerProcess
from tests.e2e.webapp import CHROMIUM, PASSWORD, Problems, launched_chromium, push_until, sign_in
from tests.e2e.webapp import call as _call
from tests.e2e.webapp import verified_account as _verified_account

FAKE_MEDIA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
STEP_TIMEOUT_MS = 15_000  # any one wait in the browser
MEDIA_TIMEOUT_MS = 30_000  # ICE, DTLS and the first decoded frames


pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason="Chromium is not installed (apt-get install chromium); CI installs it",
    ),
]


@dataclass
class Person:
    name: str
    email: str
    user_id: str
    token: str
    page: Page = field(init=False)  # set when they open the app


@pytest.fixture(name="browser", scope="module")
def calls_browser_fixture() -> Iterator[Browser]:
    yield from launched_chromium(*FAKE_MEDIA)  # a fake camera and microphone


def person(server: ServerProcess, mailbox: Mailbox, name: str) -> Person:
    email = _verified_account(server, mailbox, name)
    grant = _call(f"{server.url}/api/auth/login", {"email": email, "password": PASSWORD})
    me = _call(f"{server.url}/api/me", token=grant["access_token"])
    return Person(name, email, me["id"], grant["access_token"])


def open_in_browser(
    browser: Browser, server: ServerProcess, problems: Problems, who: Person, **context_args: object
) -> BrowserContext:
    context = browser.new_context(**context_args)  # type: ignore[arg-type]
    context.set_default_timeout(STEP_TIMEOUT_MS)
    context.grant_permissions(["camera", "microphone"], origin=server.url)
    who.page = problems.watch(context.new_page(), who.name.lower())
    sign_in(who.page, server, who.email)
    return context


def open_chat(page: Page, server: ServerProcess, chat_id: str, title: str) -> None:
    page.goto(f"{server.url}/#/chat?id={chat_id}")
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()


def frames(video: Locator) -> int:
    return int(video.get_attribute("data-frames-decoded") or 0)


def wait_for_frames(video: Locator, more_than: int = 0, timeout_s: float = MEDIA_TIMEOUT_MS / 1000) -> int:
    """Until `video` (a remote <video> of the in-call screen) has decoded more than `more_than` frames."""
    deadline = time.monotonic() + timeout_s
    while (seen := frames(video)) <= more_than:
        assert time.monotonic() < deadline, f"no video frames decoded beyond {more_than}"
        video.page.wait_for_timeout(200)
    return seen


def video_advances(video: Locator) -> None:
    """The remote video is decoding: frames now, and more a moment later."""
    first = wait_for_frames(video)
    wait_for_frames(video, more_than=first)


def test_a_video_call_between_two_people(server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int]) -> None:
    mailbox, _ = smtp
    alice, bob = person(server, mailbox, "Alice"), person(server, mailbox, "Bob")
    chat = _call(f"{server.url}/api/chats", {"kind": "direct", "user_id": bob.user_id}, token=alice.token)
    problems = Problems()
    desk = open_in_browser(browser, server, problems, alice, viewport={"width": 1280, "height": 800})
    phone = open_in_browser(
        browser, server, problems, bob, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    open_chat(alice.page, server, chat["id"], "Bob")
    bob.page.goto(f"{server.url}/#/chats")

    alice.page.get_by_role("button", name="Video call").click()
    alice_call = alice.page.locator(".call-screen.in-call")
    expect(alice_call.locator(".call-state")).to_have_text("Ringing…")

    # Bob's page rings wherever he is; he answers with video.
    ringing = bob.page.get_by_role("dialog", name="Alice")
    expect(ringing.get_by_role("status")).to_have_text("Incoming video call…")
    expect(ringing.get_by_role("button", name="Answer with video")).to_be_focused()
    ringing.get_by_role("button", name="Answer with video").click()
    bob_call = bob.page.locator(".call-screen.in-call")
    expect(bob_call).to_have_attribute("data-call-state", "connected", timeout=MEDIA_TIMEOUT_MS)
    expect(alice_call).to_have_attribute("data-call-state", "connected", timeout=MEDIA_TIMEOUT_MS)

    # Each sees the other's video advancing.
    video_advances(alice_call.locator(".tile:not(.self) video"))
    video_advances(bob_call.locator(".tile:not(.self) video"))
    expect(bob_call.locator(".call-duration")).to_have_text(re.compile(r"^0:\d\d$"))

    # Alice mutes: Bob sees it.
    alice.page.get_by_role("button", name="Mute").click()
    expect(alice.page.get_by_role("button", name="Mute")).to_have_attribute("aria-pressed", "true")
    expect(bob_call).to_have_attribute("data-remote-muted", "true")
    expect(bob_call.locator(".tile:not(.self) .tile-muted")).to_be_visible()
    expect(bob_call.locator(".call-state")).to_contain_text("Alice is muted")

    # Alice hangs up: it ends on both sides, and the chat shows the answered call with its length.
    alice.page.get_by_role("button", name="Hang up").click()
    expect(bob.page.get_by_role("dialog").get_by_role("heading", name="Call ended")).to_be_visible()
    expect(alice.page.locator(".call-dialog")).not_to_be_visible()
    expect(alice.page.get_by_role("button", name="Video call")).to_be_focused()
    for page in (alice.page, bob.page):
        open_chat(page, server, chat["id"], "Bob" if page is alice.page else "Alice")
        entry = page.locator(".call-entry")
        expect(entry).to_have_attribute("data-outcome", "answered")
        expect(entry).to_contain_text(re.compile(r"Video call · 0:\d\d"))

    desk.close()
    phone.close()
    assert problems.seen == []


def test_a_call_goes_on_after_the_socket_drops(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, _ = smtp
    alice, bob = person(server, mailbox, "Alice"), person(server, mailbox, "Bob")
    chat = _call(f"{server.url}/api/chats", {"kind": "direct", "user_id": bob.user_id}, token=alice.token)
    problems = Problems()
    sockets: list[WebSocketRoute] = []

    def through(route: WebSocketRoute) -> None:  # Alice's socket passes through a route the test can cut
        route.connect_to_server()
        sockets.append(route)

    desk = browser.new_context(viewport={"width": 1024, "height": 768})
    desk.route_web_socket(re.compile(r"/ws(\?[^/]*)?$"), through)  # /ws?lang=…
    desk.set_default_timeout(STEP_TIMEOUT_MS)
    desk.grant_permissions(["camera", "microphone"], origin=server.url)
    alice.page = problems.watch(desk.new_page(), "alice")
    sign_in(alice.page, server, alice.email)
    phone = open_in_browser(browser, server, problems, bob, viewport={"width": 390, "height": 844})
    open_chat(alice.page, server, chat["id"], "Bob")

    alice.page.get_by_role("button", name="Video call").click()
    bob.page.get_by_role("button", name="Answer with video").click()
    alice_call, bob_call = (p.locator(".call-screen.in-call") for p in (alice.page, bob.page))
    expect(alice_call).to_have_attribute("data-call-state", "connected", timeout=MEDIA_TIMEOUT_MS)
    video_advances(bob_call.locator(".tile:not(.self) video"))

    # Alice's socket drops: Bob is told, Alice's app reconnects and resumes the call (ICE restarted).
    sockets[-1].close()
    expect(bob_call.locator(".call-state")).to_contain_text("Reconnecting")
    expect(bob_call.locator(".call-state")).to_have_text("Connected", timeout=MEDIA_TIMEOUT_MS)
    assert len(sockets) == 2
    video_advances(bob_call.locator(".tile:not(.self) video"))
    video_advances(alice_call.locator(".tile:not(.self) video"))
    alice.page.get_by_role("button", name="Mute").click()
    expect(bob_call).to_have_attribute("data-remote-muted", "true")  # signalling works on the new socket
    bob.page.get_by_role("button", name="Hang up").click()
    expect(alice.page.get_by_role("dialog").get_by_role("heading", name="Call ended")).to_be_visible()
    desk.close()
    phone.close()
    assert problems.seen == []


def test_a_declined_call(server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int]) -> None:
    mailbox, _ = smtp
    alice, bob = person(server, mailbox, "Alice"), person(server, mailbox, "Bob")
    chat = _call(f"{server.url}/api/chats", {"kind": "direct", "user_id": bob.user_id}, token=alice.token)
    problems = Problems()
    desk = open_in_browser(browser, server, problems, alice, viewport={"width": 1024, "height": 768})
    phone = open_in_browser(browser, server, problems, bob, viewport={"width": 390, "height": 844})
    open_chat(alice.page, server, chat["id"], "Bob")
    open_chat(bob.page, server, chat["id"], "Alice")

    alice.page.get_by_role("button", name="Audio call").click()
    ringing = bob.page.get_by_role("dialog", name="Alice")
    expect(ringing.get_by_role("status")).to_have_text("Incoming audio call…")
    ringing.get_by_role("button", name="Decline").click()
    expect(bob.page.locator(".call-dialog")).not_to_be_visible()
    expect(alice.page.get_by_role("dialog").get_by_role("heading", name="Declined")).to_be_visible()

    expect(alice.page.locator(".call-entry")).to_contain_text("Audio call · Declined")
    expect(bob.page.locator(".call-entry")).to_contain_text("Declined audio call")
    desk.close()
    phone.close()
    assert problems.seen == []


def _server_has_group_calls() -> bool:
    return any(command.name == "call.join" for command in calls_ws.commands)


@pytest.mark.skipif(not _server_has_group_calls(), reason="the server has no call.join yet (the SFU is not merged)")
def test_three_people_in_a_group_call(server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int]) -> None:
    mailbox, _ = smtp
    people = [person(server, mailbox, name) for name in ("Alice", "Bob", "Carol")]
    alice = people[0]
    group = _call(
        f"{server.url}/api/chats",
        {"kind": "group", "name": "Team", "members": [p.user_id for p in people[1:]]},
        token=alice.token,
    )
    problems = Problems()
    contexts = [open_in_browser(browser, server, problems, p, viewport={"width": 1024, "height": 700}) for p in people]
    for p in people:
        open_chat(p.page, server, group["id"], "Team")

    alice.page.get_by_role("button", name="Video call").click()
    expect(alice.page.locator(".call-screen.in-call")).to_have_attribute(
        "data-call-state", "connected", timeout=MEDIA_TIMEOUT_MS
    )
    for p in people[1:]:
        banner = p.page.locator(".call-banner")
        expect(banner).to_contain_text("A call is on")
        banner.get_by_role("button", name="Join", exact=True).click()

    for p in people:
        tiles = p.page.locator(".call-stage.grid .tile:not(.self) video")
        expect(tiles).to_have_count(2, timeout=MEDIA_TIMEOUT_MS)
        for i in range(2):
            video_advances(tiles.nth(i))

    for p in people:
        p.page.get_by_role("button", name="Leave").click()
    for context in contexts:
        context.close()
    assert problems.seen == []


def test_call_pushes_become_notifications_with_answer_and_decline(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, _ = smtp
    carol = person(server, mailbox, "Carol")
    problems = Problems()
    context = open_in_browser(browser, server, problems, carol, viewport={"width": 800, "height": 700})
    context.grant_permissions(["notifications"], origin=server.url)
    page = carol.page
    # The worker must be active (its precache done) before a push can reach it.
    # Activated: it took this page. Polled from here: the page's CSP forbids the string eval wait_for_function uses.
    deadline = time.monotonic() + 15
    while not page.evaluate("navigator.serviceWorker.controller !== null"):
        assert time.monotonic() < deadline, "the service worker did not take the page"
        page.wait_for_timeout(50)
    cdp = context.new_cdp_session(page)
    registrations: list[dict[str, object]] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda event: registrations.extend(event["registrations"]))
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + 10
    while not registrations:
        assert time.monotonic() < deadline, "the service worker registration was not reported"
        page.wait_for_timeout(50)
    ringing = {
        "type": "call", "call_id": "k1", "chat_id": "c1", "caller_id": "u1", "caller_name": "Dave", "media": "video",
        "expires_at": time.time() + 60, "decline_url": "/api/calls/k1/decline?token=t",
    }  # fmt: skip
    # A decline_url that leaves the origin is dropped; a push after the call stopped ringing is a missed call.
    elsewhere = {**ringing, "call_id": "k2", "decline_url": "/\\evil.example/x"}
    late = {**ringing, "call_id": "k3", "expires_at": time.time() - 5}
    missed = {"type": "call.missed", "call_id": "k0", "chat_id": "c1", "caller_id": "u1", "media": "audio"}
    message = {"type": "message", "chat_id": "c2", "message_id": 1, "seq": 3, "preview": "Hi", "chat_name": "Team"}
    shown = """navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((ns) => ns.map((n) => ({
        title: n.title, body: n.body, tag: n.tag, sticky: n.requireInteraction,
        actions: n.actions.map((a) => a.title), data: n.data})))"""
    expected = {"k1": "call-k1", "k2": "call-k2", "k3": "call-missed-k3", "k0": "call-missed-k0"}
    notes: list[dict[str, Any]] = []
    for payload in (ringing, elsewhere, late, missed, message):
        # One at a time: each push's notification is shown before the next push is sent.
        tag = expected.get(str(payload.get("call_id")), "chat-c2")
        push = {"origin": server.url, "registrationId": registrations[0]["registrationId"], "data": json.dumps(payload)}
        push_until(page, cdp, push, lambda tag=tag: tag in {note["tag"] for note in page.evaluate(shown)})
    notes = page.evaluate(shown)
    by_tag = {note["tag"]: note for note in notes}
    call = by_tag["call-k1"]
    assert (call["title"], call["body"], call["sticky"], call["actions"]) == (
        "Dave",
        "Incoming video call",
        True,
        ["Answer", "Decline"],
    )
    assert call["data"]["answer"] == "#/call?id=k1"
    assert call["data"]["decline"] == server.url.rstrip("/") + "/api/calls/k1/decline?token=t"
    assert by_tag["call-k2"]["data"]["decline"] is None
    assert (by_tag["call-missed-k3"]["title"], by_tag["call-missed-k3"]["body"]) == ("Missed call", "Missed video call")
    assert (by_tag["call-missed-k0"]["title"], by_tag["call-missed-k0"]["body"]) == ("Missed call", "Missed audio call")
    assert (by_tag["chat-c2"]["title"], by_tag["chat-c2"]["body"]) == ("Team", "Hi")
    context.close()
    assert problems.seen == []
