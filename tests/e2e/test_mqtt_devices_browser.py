"""The MQTT devices screen in Debian's Chromium: a device made for a channel shows its password once, then is
listed (without it) and can be deleted."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.conftest import Mailbox
from tests.e2e.server_process import ServerProcess
from tests.e2e.webapp import (
    BROWSER_MARKS,
    PASSWORD,
    STEP_TIMEOUT_MS,
    Problems,
    assert_accessible,
    call,
    sign_in,
    verified_account,
)

pytestmark = BROWSER_MARKS


def test_a_device_is_made_shown_once_listed_and_deleted(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, _ = smtp
    email = verified_account(server, mailbox, "Dora")
    grant = call(f"{server.url}/api/auth/login", {"email": email, "password": PASSWORD})
    user_key = call(f"{server.url}/api/me/api-key", token=grant["access_token"])["api_key"]
    channel = call(f"{server.url}/channels.json", {"api_key": user_key, "name": "Garden"})
    problems = Problems()
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    context.set_default_timeout(STEP_TIMEOUT_MS)
    page = problems.watch(context.new_page(), "dora")
    sign_in(page, server, email)

    page.goto(f"{server.url}/#/channels")
    page.get_by_role("link", name="MQTT devices").click()
    expect(page.get_by_role("heading", name="MQTT devices", level=1)).to_be_visible()
    expect(page.get_by_text("No devices yet. Add one below.")).to_be_visible()
    assert_accessible(page, "MQTT devices")
    page.get_by_label("Name").fill("Sprinkler")
    choice = page.locator(f"[data-channel='{channel['id']}']")
    choice.get_by_label("publish").check()
    page.get_by_role("button", name="Add device").click()
    expect(page.get_by_role("heading", name="Save these now")).to_be_visible()

    [device] = call(f"{server.url}/api/mqtt/devices", token=grant["access_token"])["devices"]
    assert device["channels"] == [{"channel_id": channel["id"], "publish": True, "subscribe": False}]
    shown = page.locator("dd code").all_inner_texts()
    assert shown[:2] == [device["client_id"], device["username"]]
    assert len(shown[2]) == 24  # the password, here only
    expect(page.locator(".channel-item")).to_contain_text("Sprinkler")
    expect(page.locator(".channel-item")).to_contain_text(f"#{channel['id']} (publish)")

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(".channel-item").get_by_role("button", name="Delete").click()
    expect(page.get_by_text("No devices yet. Add one below.")).to_be_visible()
    assert call(f"{server.url}/api/mqtt/devices", token=grant["access_token"])["devices"] == []
    context.close()
    assert problems.seen == []
