"""Attachments and forwards in end-to-end chats, through the web app in Chromium against the real server: Alice sends
an image and a PDF in an end-to-end direct chat (encrypted in her browser before upload, their keys inside the
message); both of Bob's devices show the image and he downloads the PDF with the same bytes; Alice edits the caption
(the files stay, their keys in the new ciphertext) and forwards that message into an end-to-end group, where Carol
and Bob read it, its files encrypted again. Neither the database file (read raw), nor the stored upload files, nor
any WebSocket frame holds the texts or the files' bytes."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.conftest import Mailbox
from tests.e2e.e2e_kit import Devices, devices_published, message_actions, send, shows, token_of, user_id
from tests.e2e.server_process import ServerProcess
from tests.e2e.webapp import (
    BROWSER_MARKS,
    Problems,
    assert_accessible,
    shot,
)
from tests.e2e.webapp import verified_account as _verified_account

pytestmark = BROWSER_MARKS

CAPTION = "the floor plan and the contract, sealed"
EDITED = "the floor plan and the signed contract, sealed"
# A 2x2 PNG, and a PDF whose text is a phrase no frame or stored file may hold.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg=="
)
SECRET_PDF_TEXT = b"quarterly numbers of the lantern company"
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"% " + SECRET_PDF_TEXT + b"\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


def attach(page: Page, name: str, mime: str, data: bytes) -> None:
    page.locator("form.composer input[type=file]").set_input_files({"name": name, "mimeType": mime, "buffer": data})
    expect(page.locator(".composer-files .file-chip").filter(has_text=f"📎 {name}")).to_be_visible()


def shows_image(page: Page, text: str) -> None:
    message = page.locator("ol.messages li.message").filter(has_text=text).last
    image = message.locator("img.thumb")
    expect(image).to_have_attribute("src", re.compile(r"^blob:"))
    page.wait_for_function("img => img.complete && img.naturalWidth === 2", arg=image.element_handle())


def test_end_to_end_files_and_forward_through_the_screens(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], tmp_path: Path
) -> None:
    mailbox, _ = smtp
    bob_username = f"bob_{os.urandom(4).hex()}"
    names = {"Alice": None, "Bob": bob_username, "Carol": None}
    emails = {name: _verified_account(server, mailbox, name, username) for name, username in names.items()}
    problems = Problems()
    devices = Devices(browser, server, problems, emails, both_ways=True, accept_downloads=True)
    alice, bob1, bob2 = devices.open("Alice"), devices.open("Bob", "bob1"), devices.open("Bob", "bob2")
    carol = devices.open("Carol")
    ids = {name: user_id(page) for name, page in (("alice", alice), ("bob", bob1), ("carol", carol))}

    # Carol makes an end-to-end group with Alice and Bob: where Alice forwards to later.
    carol.goto(f"{server.url}/#/chats/new-group")
    group_form = carol.locator("form").filter(has=carol.get_by_label("Group name"))
    group_form.get_by_label("Group name").fill("Trio")
    group_form.get_by_label("Members").fill(f"{ids['alice']} {ids['bob']}")
    group_form.get_by_label("End-to-end encrypted").check()
    group_form.get_by_role("button", name="Create group").click()
    expect(carol.get_by_role("heading", name="Trio", level=1)).to_be_visible()
    trio = carol.url.split("id=", 1)[1]

    # Alice starts an end-to-end direct chat with Bob; both his devices open it.
    alice.goto(f"{server.url}/#/chats/new")
    alice.get_by_label("Username or e-mail").fill(f"@{bob_username}")
    alice.get_by_label("End-to-end encrypted").check()
    alice.get_by_role("button", name="Find", exact=True).click()
    alice.locator(".find-result").get_by_role("button", name="Message Bob").click()
    expect(alice.get_by_role("heading", name="Bob", level=1)).to_be_visible()
    direct = alice.url.split("id=", 1)[1]
    for page in (bob1, bob2):
        page.goto(f"{server.url}/#/chat?id={direct}")
        expect(page.get_by_role("heading", name="Alice", level=1)).to_be_visible()
    token = token_of(alice)
    for user, count in ((ids["alice"], 1), (ids["bob"], 2), (ids["carol"], 1)):
        devices_published(server, token, user, count)

    # Alice sends an image and a PDF with a caption: encrypted in her browser, uploaded as ciphertext.
    attach(alice, "plan.png", "image/png", PNG)
    attach(alice, "contract.pdf", "application/pdf", PDF)
    send(alice, CAPTION)
    shows(alice, CAPTION)
    shows_image(alice, CAPTION)
    for page in (bob1, bob2):
        shows(page, CAPTION)
        shows_image(page, CAPTION)
    shot(bob1, "e2e-files")
    assert_accessible(bob1, "an end-to-end message with an image and a file")

    # Bob downloads the PDF: the same bytes, decrypted in his browser.
    message = bob2.locator("ol.messages li.message").filter(has_text=CAPTION)
    pdf_button = message.get_by_role("button", name="contract.pdf")
    with bob2.expect_download() as download:
        pdf_button.click()
    assert download.value.suggested_filename == "contract.pdf"
    assert Path(download.value.path()).read_bytes() == PDF

    # Alice edits the caption: the new ciphertext carries the files (and their keys) again.
    message_actions(alice, CAPTION)
    alice.get_by_role("button", name="Edit", exact=True).click()
    send(alice, EDITED)
    shows(bob1, EDITED)
    shows_image(bob1, EDITED)
    expect(
        bob1.locator("ol.messages li.message").filter(has_text=EDITED).get_by_role("button", name="contract.pdf")
    ).to_be_visible()

    # Alice forwards the message into the group: a new message there, its files encrypted again under new keys.
    message_actions(alice, EDITED)
    alice.get_by_role("button", name="Forward", exact=True).click()
    dialog = alice.get_by_role("dialog")
    expect(dialog).to_contain_text("only into end-to-end chats")
    assert_accessible(alice, "the forward dialog of an end-to-end message")
    dialog.get_by_label("Trio").check()
    dialog.get_by_role("button", name="Forward", exact=True).click()
    expect(dialog).to_be_hidden()
    for page in (carol, bob1):
        page.goto(f"{server.url}/#/chat?id={trio}")
        shows(page, EDITED)
        forwarded = page.locator("ol.messages li.message").filter(has_text=EDITED)
        expect(forwarded.locator(".forwarded")).to_contain_text("Alice")
        shows_image(page, EDITED)
    shot(carol, "e2e-forwarded")

    # Nothing readable reached the server: not the database, not the stored uploads, not a WebSocket frame.
    data = tmp_path / "data"
    stored = b"".join(p.read_bytes() for p in data.glob("app.db*"))
    uploads = [p for p in (data / "attachments").rglob("*") if p.is_file()]
    assert len(uploads) >= 4  # two files sent, two forwarded
    stored_files = b"".join(p.read_bytes() for p in uploads)
    heard = devices.heard()
    assert len(devices.frames) > 10
    for secret in (CAPTION.encode(), EDITED.encode(), PNG[16:40], SECRET_PDF_TEXT, b"contract.pdf", b"plan.png"):
        assert secret not in stored, secret
        assert secret not in stored_files, secret
        assert secret not in heard, secret
    assert problems.seen == []
