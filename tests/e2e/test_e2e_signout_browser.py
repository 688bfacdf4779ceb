"""A device that signs out stops getting end-to-end keys, in real browsers against the real server: Alice and Bob
(Bob on two devices) share an end-to-end chat and Alice's app shares its group key with both of Bob's devices; Bob
signs out on his second device through the app; Alice's app hears `keys.changed`, drops that device, and shares the
key of her next message (a new one: a device left) with Bob's first device only, who reads it. The signed-out
browser forgot its device, and the server lists Bob's first device alone."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, Page, Request

from tests.conftest import Mailbox
from tests.e2e.e2e_kit import new_e2e_chat, open_device, poll, token_of, user_id
from tests.e2e.server_process import ServerProcess
from tests.e2e.webapp import BROWSER_MARKS, Problems, new_context, sign_in
from tests.e2e.webapp import call as _call
from tests.e2e.webapp import verified_account as _verified_account

pytestmark = BROWSER_MARKS


# What the app does to send in an end-to-end chat: the members asked of the server, the chat's key shared with
# their devices, the text encrypted (pwa/js/e2e/chats.js), then the message posted.
SEND = """async ([chatId, text]) => {
  const { api } = await import('/js/core/api.js');
  const { encrypt } = await import('/js/e2e/chats.js');
  const { ciphertext } = await encrypt(chatId, { msgtype: 'm.text', body: text });
  await api.post(`/api/chats/${chatId}/messages`, { client_id: crypto.randomUUID(), ciphertext });
}"""

READ = """async ([chatId, text]) => {
  const { api } = await import('/js/core/api.js');
  const { messages } = await api.get(`/api/chats/${chatId}/messages`);
  for (const message of messages.filter((m) => m.ciphertext)) {
    try {
      if ((await window.e2eDevice.decryptMessage(chatId, message)).body === text) return true;
    } catch (err) {
      // its key has not come yet
    }
  }
  return false;
}"""

KNOWN_DEVICES = """async (userId) => (await window.e2eDevice.devicesOf(userId)).length"""

SIGN_OUT = """async () => (await import('/js/account/auth.js')).signOut()"""

# The device's stores in this browser (the library's, named after the user; store-key.js keeps their passphrases).
STORED_DEVICES = """async (userId) => (await indexedDB.databases())
  .map((d) => d.name)
  .filter((name) => name.startsWith(`e2e-${userId}`))"""


def test_a_signed_out_device_gets_no_more_keys(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, _ = smtp
    emails = {name: _verified_account(server, mailbox, name) for name in ("Alice", "Bob")}
    problems = Problems()
    pages: dict[str, Page] = {}
    for name in ("alice", "bob1", "bob2"):
        page = problems.watch(new_context(browser).new_page(), name)
        sign_in(page, server, emails["Alice" if name == "alice" else "Bob"])
        pages[name] = page
    bob = user_id(pages["bob1"])
    directory = {name: open_device(page)["directoryId"] for name, page in pages.items()}

    # Alice's to-device requests: to which of the directory's devices each payload went.
    targets: list[set[str]] = []

    def on_request(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/api/todevice"):
            body: dict[str, Any] = request.post_data_json
            targets.append({device for devices in body["messages"].values() for device in devices})

    pages["alice"].on("request", on_request)
    chat_id = new_e2e_chat(pages["alice"], bob)
    pages["alice"].evaluate(SEND, [chat_id, "first, for both of Bob's devices"])
    assert {directory["bob1"], directory["bob2"]} <= set().union(*targets)
    for name in ("bob1", "bob2"):
        poll(pages[name], READ, [chat_id, "first, for both of Bob's devices"], bool)
    assert pages["bob2"].evaluate(STORED_DEVICES, bob) != []

    # Bob signs out on his second device: it leaves the directory, and his browser forgets it.
    pages["bob2"].evaluate(SIGN_OUT)
    listed = _call(f"{server.url}/api/keys/users/{bob}", token=token_of(pages["alice"]))["devices"]
    assert [d["device_id"] for d in listed] == [directory["bob1"]]
    poll(pages["bob2"], STORED_DEVICES, bob, lambda names: names == [])

    # Alice's app heard keys.changed and dropped the device; her next key goes to Bob's first device alone.
    poll(pages["alice"], KNOWN_DEVICES, bob, lambda count: count == 1)
    targets.clear()
    pages["alice"].evaluate(SEND, [chat_id, "second, after the sign-out"])
    sent_to = set().union(*targets)
    assert directory["bob1"] in sent_to  # a new group key: a device left
    assert directory["bob2"] not in sent_to
    poll(pages["bob1"], READ, [chat_id, "second, after the sign-out"], bool)
    assert problems.seen == []
