"""What the end-to-end browser tests share: the access token a page's app holds, writing and finding messages in
the conversation, and waiting for a user's devices in the key directory."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from tests.e2e.server_process import ServerProcess
from tests.e2e.webapp import call as _call


def token_of(page: Page) -> str:
    token = page.evaluate("async () => (await import('/js/core/api.js')).accessTokenForSocket()")
    assert isinstance(token, str)
    return token


def send(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")


def shows(page: Page, text: str) -> None:
    expect(page.locator("ol.messages .text").filter(has_text=text)).to_be_visible()


def message_actions(page: Page, text: str) -> None:
    message = page.locator("ol.messages li.message").filter(has_text=text).first  # (a reply quoting it follows)
    message.get_by_role("button", name="Actions for this message").click()


def devices_published(server: ServerProcess, token: str, user_id: str, count: int) -> None:
    deadline = time.monotonic() + 15
    while len(_call(f"{server.url}/api/keys/users/{user_id}", token=token)["devices"]) < count:
        assert time.monotonic() < deadline, f"{user_id} has not published {count} devices"
        time.sleep(0.1)
