"""What the end-to-end browser tests share: the access token a page's app holds, writing and finding messages in
the conversation, waiting for a user's devices in the key directory, and polling a script in a page."""

from __future__ import annotations

import time
from typing import Any

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


def poll(page: Page, script: str, arg: Any, done: Any, timeout: float = 15) -> Any:
    """Evaluate `script(arg)` until `done(result)`; returns the result. (Not wait_for_function: the app's CSP
    forbids the eval it uses.)"""
    deadline = time.monotonic() + timeout
    while True:
        result = page.evaluate(script, arg)
        if done(result):
            return result
        assert time.monotonic() < deadline, f"still {result!r}"
        page.wait_for_timeout(100)
