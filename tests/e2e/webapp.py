"""The browser kit of the web app's end-to-end tests: Debian's Chromium through Playwright, a real server
process, accounts confirmed through the real e-mail, a watch for page and console errors, the two screen sizes
every flow is tried at, and an accessibility check with axe-core (npm, a dev dependency).

A test module uses it as `from tests.e2e.webapp import BROWSER_MARKS, ...` and sets `pytestmark = BROWSER_MARKS`;
its `server` and `browser` fixtures come to every module here through tests/e2e/conftest.py.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect, sync_playwright

from tests.conftest import Mailbox, link_in
from tests.e2e.server_process import REPO_ROOT, ServerProcess, running_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PASSWORD = "correct horse battery staple"
STEP_TIMEOUT_MS = 15_000  # any one wait in the browser
AXE = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"

# The two sizes every screen is tried at: a desktop window and a phone.
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
PHONE: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
SIZES = {"desktop": DESKTOP, "phone": PHONE}

BROWSER_MARKS = [
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason="Chromium is not installed (apt-get install chromium); CI installs it",
    ),
]


def call(url: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
    """One JSON request to the server under test (POST when there is a body); returns the decoded answer."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - http://127.0.0.1 only
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        assert response.status in (200, 201, 202), response.status
        return json.loads(response.read() or b"null")


def verified_account(server: ServerProcess, mailbox: Mailbox, name: str, username: str | None = None) -> str:
    """Register through the API (with `username`, if given) and open the link in the real confirmation e-mail;
    returns the address."""
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.test"
    body = {"email": email, "password": PASSWORD, "display_name": name}
    if username:
        body["username"] = username
    call(f"{server.url}/api/auth/register", body)
    message = mailbox.wait_for_blocking(email, timeout=20)
    with urllib.request.urlopen(server.url + link_in(message, "/verify-email"), timeout=30) as response:  # noqa: S310
        assert response.status == 200
    return email


class Problems:
    """Page errors and console errors of every page, collected so the test can fail on any of them; and the
    WebSockets each page opened (the app keeps one for everything)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.sockets: dict[str, list[str]] = {}

    def watch(self, page: Page, who: str) -> Page:
        page.on("pageerror", lambda error: self.seen.append(f"{who}: page error: {error}"))
        opened = self.sockets.setdefault(who, [])
        page.on("websocket", lambda ws: opened.append(ws.url))

        def console(message: ConsoleMessage) -> None:
            if message.type in ("error", "assert"):
                self.seen.append(f"{who}: console {message.type}: {message.text} at {message.location}")

        page.on("console", console)
        return page


def new_context(browser: Browser, size: str = "desktop", **options: Any) -> BrowserContext:
    """A browser context at one of SIZES, with the kit's step timeout."""
    context = browser.new_context(**SIZES[size], **options)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    return context


@pytest.fixture(name="server")
def server_fixture(tmp_path: Path, smtp: tuple[Mailbox, int]) -> Iterator[ServerProcess]:
    _, smtp_port = smtp
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port), "SMTP_FROM": "server@example.test"}
    with running_server(tmp_path, env=env) as server:
        yield server


@pytest.fixture(name="browser", scope="module")
def browser_fixture() -> Iterator[Browser]:
    yield from launched_chromium()


def launched_chromium(*extra_args: str) -> Iterator[Browser]:
    """Debian's Chromium with the kit's flags (and `extra_args`), closed when the generator ends."""
    if not CHROMIUM.exists():
        pytest.fail("CI is set but /usr/bin/chromium is missing: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra_args], timeout=30_000
        )
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page: Page, server: ServerProcess, email: str) -> None:
    page.goto(f"{server.url}/#/signin")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    # Sign-in runs argon2 with its real cost: on a busy machine it takes longer than expect()'s 5 s default.
    expect(page.get_by_role("heading", name="Chats", level=1)).to_be_visible(timeout=STEP_TIMEOUT_MS)  # their chats
    # The device keeps the server's device token, so its next sign-in counts as a known device's.
    token = page.evaluate("localStorage.getItem('realtime.device_token')")
    assert isinstance(token, str), "the sign-in did not keep a device token"
    assert token


def shot(page: Page, name: str, size: str = "") -> None:
    """Save the page as `SCREENSHOT_DIR/<name>[-<size>].png` when SCREENSHOT_DIR is set (to look at a screen at both
    sizes and in both languages); nothing otherwise, so CI writes no pictures."""
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / (f"{name}-{size}.png" if size else f"{name}.png")), full_page=True)


def push_until(page: Page, cdp: Any, push: dict[str, Any], shown: Callable[[], bool], timeout: float = 15) -> None:
    """Deliver a Web Push message through DevTools (`push`: origin, registrationId, data) and wait until
    `shown()`. DevTools drops a push that reaches a service worker still starting (seen under load in CI), so it
    is delivered once more after 5 s; notifications carry tags, so a second delivery replaces, never adds."""
    cdp.send("ServiceWorker.deliverPushMessage", push)
    again: float | None = time.monotonic() + 5
    deadline = time.monotonic() + timeout
    while not shown():
        assert time.monotonic() < deadline, f"no notification for {push['data']}"
        if again is not None and time.monotonic() > again:
            cdp.send("ServiceWorker.deliverPushMessage", push)
            again = None
        page.wait_for_timeout(50)


def open_account(page: Page) -> None:
    """The account screen, through the main navigation (sign-in lands on the chats)."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Account").click()
    expect(page.get_by_role("heading", name="Your account", level=1)).to_be_visible()


def accessibility_problems(page: Page, *, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core's violations of the page as it is now, of the given impacts, one line each (rule, impact, the
    first offending elements). Run it once a screen has settled; an empty list is a pass."""
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run `npm ci` (axe-core is a dev dependency)")
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text())  # evaluated through the DevTools protocol: the page's CSP does not apply
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    lines = []
    for violation in result:
        if violation["impact"] in impacts:
            targets = ", ".join(str(node["target"]) for node in violation["nodes"][:3])
            lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} at {targets}")
    return lines


def assert_accessible(page: Page, screen: str) -> None:
    """No serious or critical axe-core violation on the page; `screen` names it in the failure."""
    problems = accessibility_problems(page)
    assert problems == [], f"{screen}: " + "; ".join(problems)
