"""What the end-to-end browser tests share: signed-in pages whose WebSocket frames are recorded, the user id and
access token a page's app holds, writing and finding messages in the conversation, waiting for a user's devices
in the key directory, and polling a script in a page."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import Browser, Page, WebSocket, expect

from tests.e2e.server_process import ServerProcess
from tests.e2e.webapp import Problems, new_context, sign_in
from tests.e2e.webapp import call as _call

# The signed-in user's id, once the app knows it: a page can show its screen before it has loaded who is signed in
# (after a reload, say), so this waits up to 15 s for that first.
USER_ID = """async () => {
  const api = await import('/js/core/api.js');
  for (let n = 0; n < 150 && !api.getUser(); n += 1) await new Promise((done) => setTimeout(done, 100));
  return api.getUser() ? api.getUser().id : null;
}"""

# This browser's end-to-end device, opened (made and published the first time): kept in window.e2eDevice, its
# to-device events collected in window.e2eReceived.
OPEN_DEVICE = """async () => {
  const { openDevice } = await import('/js/e2e/device.js');
  const device = await openDevice();
  window.e2eDevice = device;
  window.e2eReceived = [];
  device.onToDevice((event) => window.e2eReceived.push(event));
  return { directoryId: device.directoryId, deviceId: device.deviceId };
}"""

NEW_E2E_CHAT = """async (other) => {
  const { api } = await import('/js/core/api.js');
  return (await api.post('/api/chats', { kind: 'direct', user_id: other, e2e: true })).id;
}"""


class Devices:
    """The test's people's devices: each a page in a context of its own, signed in, watched for errors, and every
    WebSocket frame the server sent it (and, with `both_ways`, that it sent) recorded for the privacy checks."""

    def __init__(
        self,
        browser: Browser,
        server: ServerProcess,
        problems: Problems,
        emails: dict[str, str],
        *,
        both_ways: bool = False,
        **context: Any,
    ) -> None:
        self._browser, self._server, self._problems, self._emails = browser, server, problems, emails
        self._both_ways, self._context = both_ways, context
        self.frames: list[bytes] = []

    def _on_socket(self, socket: WebSocket) -> None:
        def heard(payload: str | bytes) -> None:
            self.frames.append(payload if isinstance(payload, bytes) else payload.encode())

        socket.on("framereceived", heard)
        if self._both_ways:
            socket.on("framesent", heard)

    def open(self, who: str, name: str | None = None) -> Page:
        """A new device of `who` (a key of the e-mails), signed in; `name` labels its errors (default: who)."""
        page = self._problems.watch(new_context(self._browser, **self._context).new_page(), name or who)
        page.on("websocket", self._on_socket)
        sign_in(page, self._server, self._emails[who])
        return page

    def heard(self) -> bytes:
        return b"\n".join(self.frames)

    def heard_text(self) -> str:
        return self.heard().decode("utf-8", "replace")


def user_id(page: Page) -> str:
    value = page.evaluate(USER_ID)
    assert isinstance(value, str), "the app never learned who is signed in"
    return value


def open_device(page: Page) -> dict[str, str]:
    """Open the page's end-to-end device once the app knows who is signed in: {directoryId, deviceId}."""
    user_id(page)
    device: dict[str, str] = page.evaluate(OPEN_DEVICE)
    return device


def new_e2e_chat(page: Page, other: str) -> str:
    """An end-to-end direct chat with user `other`, made by the page's user; its id."""
    chat_id: str = page.evaluate(NEW_E2E_CHAT, other)
    return chat_id


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
