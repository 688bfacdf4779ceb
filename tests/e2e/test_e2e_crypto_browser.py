"""The web app's end-to-end crypto (pwa/js/e2e/) in real browsers against the real server: Alice and Bob, two
devices each (four browser contexts), each device's module loads the library, publishes its keys to the key
directory; Alice's first device starts Olm sessions with Bob's two devices and her own other one through the
directory (claiming their prekeys, which the devices top up again) and sends each an encrypted to-device payload
through the inbox, which each decrypts, also after a reload (the device's store kept in IndexedDB); then she shares
a group (Megolm) key of an end-to-end chat the same way and sends one encrypted message through the chat, which
both of Bob's devices read. The server's database file, read raw, holds none of the texts."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.conftest import Mailbox
from tests.e2e.e2e_kit import open_device, poll, token_of, user_id
from tests.e2e.server_process import ServerProcess
from tests.e2e.webapp import BROWSER_MARKS, Problems, new_context, sign_in
from tests.e2e.webapp import call as _call
from tests.e2e.webapp import verified_account as _verified_account

pytestmark = BROWSER_MARKS


RECEIVED = """(type) => window.e2eReceived.filter((e) => e.type === type).map((e) => [e.sender, e.content.text])"""

PREKEYS = """async () => {
  await window.e2eDevice.sync();
  return (await (await import('/js/core/api.js')).api.get('/api/keys/device')).one_time_prekey_count;
}"""

SEND_TO_DEVICES = """async ([users, text]) => window.e2eDevice.sendToDevices(users, 'app.secret', { text })"""

SEND_IN_CHAT = """async ([bob, alice, text]) => {
  const { api } = await import('/js/core/api.js');
  const chat = await api.post('/api/chats', { kind: 'group', name: 'Secrets', members: [bob], e2e: true });
  await window.e2eDevice.shareChatKey(chat.id, [alice, bob]);
  const ciphertext = await window.e2eDevice.encryptMessage(chat.id, { msgtype: 'm.text', body: text });
  await api.post(`/api/chats/${chat.id}/messages`, { client_id: crypto.randomUUID(), ciphertext });
  return chat.id;
}"""

READ_IN_CHAT = """async (chatId) => {
  const { api } = await import('/js/core/api.js');
  const { messages } = await api.get(`/api/chats/${chatId}/messages`);
  const message = messages.find((m) => m.ciphertext);
  if (!message) return null;
  try {
    return (await window.e2eDevice.decryptMessage(chatId, message)).body;
  } catch (err) {
    return null; // its key has not come yet
  }
}"""


def test_olm_and_megolm_between_four_devices_through_the_real_directory_and_inbox(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], tmp_path: Path
) -> None:
    mailbox, _ = smtp
    emails = {name: _verified_account(server, mailbox, name) for name in ("Alice", "Bob")}
    problems = Problems()
    pages: dict[str, Page] = {}
    for name in ("alice1", "alice2", "bob1", "bob2"):
        page = problems.watch(new_context(browser).new_page(), name)
        sign_in(page, server, emails["Alice" if name.startswith("alice") else "Bob"])
        pages[name] = page
    users = {name: user_id(page) for name, page in pages.items()}
    alice, bob = users["alice1"], users["bob1"]
    assert users["alice2"] == alice
    assert users["bob2"] == bob

    devices = {name: open_device(page) for name, page in pages.items()}
    assert len({d["directoryId"] for d in devices.values()}) == 4  # four devices in the directory
    for user, names in ((alice, ("alice1", "alice2")), (bob, ("bob1", "bob2"))):
        listed = _call(f"{server.url}/api/keys/users/{user}", token=token_of(pages[names[0]]))["devices"]
        assert sorted(d["device_id"] for d in listed) == sorted(devices[n]["directoryId"] for n in names)

    # A second tab of the same browser does not run the device too (two machines would overwrite one store).
    second_tab = problems.watch(pages["bob1"].context.new_page(), "bob1, second tab")
    second_tab.goto(f"{server.url}/#/chats")
    expect(second_tab.get_by_role("heading", name="Chats", level=1)).to_be_visible()
    assert user_id(second_tab) == bob  # (the heading can show before the tab knows who is signed in)
    busy = """async () => (await import('/js/e2e/device.js')).openDevice().then(() => 'opened', (err) => err.code)"""
    assert second_tab.evaluate(busy) == "e2e_busy"
    second_tab.close()

    # Olm: sessions with Bob's two devices and Alice's other one (three prekey claims), one payload each.
    secret = "meet at the north gate at nine"
    sent = pages["alice1"].evaluate(SEND_TO_DEVICES, [[bob, alice], secret])
    assert sent == 3
    for name in ("bob1", "bob2", "alice2"):
        got = poll(pages[name], RECEIVED, "app.secret", lambda r: len(r) >= 1)
        assert got == [[f"@{alice}:e2e.invalid", secret]], name
    assert pages["alice1"].evaluate(RECEIVED, "app.secret") == []  # not to the sending device itself

    # The prekeys Alice claimed were topped up again: each device's module keeps 50 published.
    for name in ("bob1", "bob2", "alice2"):
        poll(pages[name], PREKEYS, None, lambda count: count == 50)

    # A device kept in IndexedDB (its store's passphrase wrapped by a key that cannot be exported) opens again as
    # the same device, with its sessions: Bob's second device, reloaded, reads Alice's next payload.
    pages["bob2"].reload()
    expect(pages["bob2"].get_by_role("heading", name="Chats", level=1)).to_be_visible()  # signed in again
    assert open_device(pages["bob2"]) == devices["bob2"]
    pages["alice1"].evaluate(SEND_TO_DEVICES, [[bob], "after the reload"])
    got = poll(pages["bob2"], RECEIVED, "app.secret", lambda r: len(r) >= 1)
    assert got == [[f"@{alice}:e2e.invalid", "after the reload"]]

    # Megolm: a group key of an end-to-end chat over those sessions, and one message through the chat.
    group_secret = "the vault code is 4471"
    chat_id = pages["alice1"].evaluate(SEND_IN_CHAT, [bob, alice, group_secret])
    for name in ("bob1", "bob2"):
        assert poll(pages[name], READ_IN_CHAT, chat_id, lambda r: r is not None) == group_secret, name

    # Everything was read and acknowledged: the inboxes are empty, and no plaintext ever reached the database.
    for name, page in pages.items():
        waiting = _call(f"{server.url}/api/todevice", token=token_of(page))
        assert waiting["messages"] == [], name
    stored = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("app.db*"))
    assert len(stored) > 100_000
    for text in (secret, group_secret, "after the reload"):
        assert text.encode() not in stored
    assert problems.seen == []
