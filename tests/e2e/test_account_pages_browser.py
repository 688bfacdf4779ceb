"""The account pages in Debian's Chromium, at both screen sizes: the account screen's API key (copied, regenerated
after a confirmation) and its summary of MQTT devices; and the pages e-mail links open, styled as the app and
linking to its real screens."""

from __future__ import annotations

import urllib.request

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import Mailbox, link_in
from tests.e2e.server_process import ServerProcess
from tests.e2e.webapp import (
    BROWSER_MARKS,
    PASSWORD,
    Problems,
    assert_accessible,
    call,
    new_context,
    open_account,
    shot,
    sign_in,
    verified_account,
)

pytestmark = BROWSER_MARKS


def styled_as_the_app(page: Page) -> None:
    """The page has the app's stylesheet applied: its header bar and cards look the same."""
    header = page.locator("header.app-header")
    expect(header).to_be_visible()
    colour = header.evaluate("el => getComputedStyle(el).backgroundColor")
    assert colour in ("rgb(43, 89, 217)", "rgb(22, 27, 36)"), colour  # --header-bg, light or dark
    expect(page.locator(".card")).to_be_visible()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_account_screen_shows_and_regenerates_the_api_key(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], size: str
) -> None:
    mailbox, _ = smtp
    email = verified_account(server, mailbox, "Kim")
    grant = call(f"{server.url}/api/auth/login", {"email": email, "password": PASSWORD})
    token = grant["access_token"]
    old_key = call(f"{server.url}/api/me/api-key", token=token)["api_key"]
    problems = Problems()
    page = problems.watch(new_context(browser, size).new_page(), "kim")
    sign_in(page, server, email)
    open_account(page)

    key = page.get_by_label("Your user API key")
    expect(key).to_have_value(old_key)
    mqtt = page.locator("section.card", has=page.get_by_role("heading", name="MQTT devices"))
    expect(mqtt).to_contain_text("No MQTT devices yet.")
    assert_accessible(page, f"account keys ({size})")

    page.get_by_role("button", name="Regenerate").click()
    expect(page.get_by_text("The current one stops working at once")).to_be_visible()
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("button", name="Yes, make a new key")).to_be_hidden()
    expect(key).to_have_value(old_key)

    page.get_by_role("button", name="Regenerate").click()
    assert_accessible(page, f"account key confirmation ({size})")
    page.get_by_role("button", name="Yes, make a new key").click()
    expect(page.get_by_text("A new key is ready. The old one no longer works.")).to_be_visible()
    new_key = call(f"{server.url}/api/me/api-key", token=token)["api_key"]
    assert new_key != old_key
    expect(key).to_have_value(new_key)

    # A device made elsewhere is summarised here, with the way to the screen that manages devices.
    channel = call(f"{server.url}/channels.json", {"api_key": new_key, "name": "Garden"})
    grant_channels = [{"channel_id": channel["id"], "publish": True, "subscribe": False}]
    device = call(f"{server.url}/api/mqtt/devices", {"name": "Sprinkler", "channels": grant_channels}, token)
    page.reload()
    expect(mqtt.locator("li")).to_have_count(1)
    expect(mqtt).to_contain_text("Sprinkler")
    expect(mqtt).to_contain_text(device["username"])
    expect(mqtt).to_contain_text("1 channel")
    shot(page, "account-keys", size)
    mqtt.get_by_role("link", name="Manage MQTT devices").click()
    expect(page.get_by_role("heading", name="MQTT devices", level=1)).to_be_visible()
    assert problems.seen == []


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_pages_of_email_links_look_like_the_app_and_lead_into_it(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], size: str
) -> None:
    mailbox, _ = smtp
    email = f"lee-{size}@example.test"
    call(f"{server.url}/api/auth/register", {"email": email, "password": PASSWORD, "display_name": "Lee"})
    verify = server.url + link_in(mailbox.wait_for_blocking(email, timeout=20), "/verify-email")
    problems = Problems()
    page = problems.watch(new_context(browser, size).new_page(), "lee")

    page.goto(verify)
    expect(page.get_by_role("heading", name="Your e-mail address is confirmed", level=1)).to_be_visible()
    styled_as_the_app(page)
    shot(page, "page-confirmed", size)
    assert_accessible(page, f"e-mail confirmed page ({size})")
    page.get_by_role("link", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()

    page.goto(verify)  # a second time: the link is spent
    expect(page.get_by_role("heading", name="This link does not work", level=1)).to_be_visible()
    expect(page.locator(".card p").first).to_have_text(
        "This link is not valid: it was already used, has expired, or was mistyped."
    )
    styled_as_the_app(page)
    shot(page, "page-link-invalid", size)
    assert_accessible(page, f"link invalid page ({size})")
    page.get_by_role("link", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()

    call(f"{server.url}/api/auth/password-reset", {"email": email})
    reset = server.url + link_in(mailbox.wait_for_blocking(email, timeout=20, count=2), "/reset-password")
    page.goto(reset)
    expect(page.get_by_role("heading", name="Choose a new password", level=1)).to_be_visible()
    styled_as_the_app(page)
    page.get_by_label("New password", exact=True).fill("a brand new secret")
    page.get_by_label("Repeat it").fill("something else entirely")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_have_text("The two passwords differ.")
    shot(page, "page-reset", size)
    assert_accessible(page, f"reset password page ({size})")
    page.get_by_label("New password", exact=True).fill("a brand new secret")
    page.get_by_label("Repeat it").fill("a brand new secret")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("heading", name="Your password is changed", level=1)).to_be_visible()
    assert_accessible(page, f"password changed page ({size})")
    page.get_by_role("link", name="Sign in with the new password").click()
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()

    page.goto(reset)  # spent: the way on is a new link
    page.get_by_label("New password", exact=True).fill("another new secret")
    page.get_by_label("Repeat it").fill("another new secret")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("heading", name="This link does not work", level=1)).to_be_visible()
    page.get_by_role("link", name="Ask for a new link").click()
    expect(page.get_by_role("heading", name="Reset your password", level=1)).to_be_visible()
    with urllib.request.urlopen(f"{server.url}/static/app.css", timeout=30) as response:  # noqa: S310 - loopback
        assert response.status == 200
    # The pages of spent links answer 400, which the browser reports; nothing else may go wrong.
    assert [p for p in problems.seen if "status of 400" not in p] == []
