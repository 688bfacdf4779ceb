"""The automation screens in Debian's Chromium at the desktop and the phone size, with an axe-core check on each
screen: a channel's rules (create with the server's errors shown next to their field, see the events log after a
point trips it, disable and enable, edit, delete) and TalkBack (create a queue, add commands, at the end and at a
place, reorder, delete, and see what a device executed, with the times). Screenshots go to $SCREENSHOT_DIR."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.conftest import Mailbox
from tests.e2e.iot_kit import owner_with_channel, signed_in_page, write
from tests.e2e.server_process import ServerProcess
from tests.e2e.webapp import (
    BROWSER_MARKS,
    Problems,
    assert_accessible,
    call,
    shot,
)

pytestmark = BROWSER_MARKS
ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


def error_of(box: Locator) -> Locator:
    """The error line wired to an input through aria-describedby."""
    ids = (box.get_attribute("aria-describedby") or "").split()
    error_id = next(i for i in ids if i.endswith("-error"))
    return box.page.locator(f"#{error_id}")


def unexpected(problems: Problems) -> list[str]:
    """Problems but the refusals the test asked for (the browser logs each 400 answer as a console error)."""
    return [p for p in problems.seen if "responded with a status of 400" not in p]


def click_until(page: Page, button: Locator, target: Locator, text: str, seconds: float = 15) -> None:
    """Press `button` (a Refresh) until `target` shows `text`: rules run just after the point is committed."""
    deadline = time.monotonic() + seconds
    while text not in (target.text_content() or ""):
        assert time.monotonic() < deadline, f"{text!r} never appeared in {target.text_content()!r}"
        button.click()
        page.wait_for_timeout(300)


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_rules_are_created_checked_logged_toggled_edited_and_deleted(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], size: str
) -> None:
    owner = owner_with_channel(server, smtp[0], "Tanya")
    problems = Problems()
    page = signed_in_page(browser, server, owner, size, problems)
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{server.url}/#/channel?id={owner['id']}")
    page.get_by_role("link", name="Automation rules").click()
    expect(page.get_by_role("heading", name="Automation rules", level=1)).to_be_visible()
    expect(page.get_by_text("No rules yet.")).to_be_visible()
    form = page.locator("form.rule-form")

    form.get_by_label("Name").fill("Too hot")
    form.get_by_label("Field", exact=True).first.select_option(label="Temperature")
    form.get_by_role("button", name="Create rule").click()
    value = form.get_by_label("Value", exact=True)
    expect(error_of(value)).to_contain_text("config.value is required")  # the server's word, at its field
    expect(value).to_have_attribute("aria-invalid", "true")
    value.fill("30")
    clear = form.get_by_label("Re-arm at (optional)")
    clear.fill("35")
    form.get_by_role("button", name="Create rule").click()
    expect(error_of(clear)).to_contain_text("config.clear must be at or below value")
    expect(error_of(value)).to_be_empty()
    clear.fill("28")
    form.get_by_label("Message").fill("Hot: {value}")
    assert_accessible(page, f"rules, the form with errors ({size})")
    form.get_by_role("button", name="Create rule").click()

    rule = page.locator(".rule-item", has_text="Too hot")
    expect(rule.locator(".rule-summary")).to_have_text("Temperature above 30 → Alert")
    expect(rule.locator(".badge")).to_have_text("On")
    rules = call(f"{server.url}/api/channels/{owner['id']}/rules", token=owner["token"])["rules"]
    assert rules[0]["config"] == {"field": 1, "op": "above", "value": 30, "clear": 28, "for_seconds": 0}
    assert rules[0]["actions"] == [{"type": "alert", "message": "Hot: {value}", "email": True}]

    # A point above 30 trips it: the events log says so.
    write(server, owner, field1="33")
    rule.get_by_role("button", name="Events: Too hot").click()
    log = rule.locator(".rule-events")
    click_until(page, rule.get_by_role("button", name="Refresh"), log, "Triggered: value 33")
    expect(log).to_contain_text("Action done")
    assert_accessible(page, f"rules with the events log ({size})")
    shot(page, f"rules-{size}")

    # Off and on again.
    rule.get_by_role("button", name="Disable: Too hot").click()
    expect(rule.locator(".badge")).to_have_text("Off")
    rule.get_by_role("button", name="Enable: Too hot").click()
    expect(rule.locator(".badge")).to_have_text("On")

    # Edit: a webhook to a refused address is shown at its field; then a good one saves.
    rule.get_by_role("button", name="Edit: Too hot").click()
    edit = rule.locator("form.rule-form")
    expect(edit.get_by_label("Kind")).to_be_disabled()
    edit.get_by_label("Name").fill("Very hot")
    edit.get_by_label("Do").select_option("webhook")
    url = edit.get_by_label("Address (http or https)")
    url.fill("ftp://example.org/hook")
    edit.get_by_role("button", name="Save rule").click()
    expect(error_of(url)).to_contain_text("actions[0].url")
    url.fill("https://example.org/hook")
    edit.get_by_role("button", name="Save rule").click()
    renamed = page.locator(".rule-item", has_text="Very hot")
    expect(renamed.locator(".rule-summary")).to_have_text("Temperature above 30 → Webhook")

    renamed.get_by_role("button", name="Delete: Very hot").click()
    expect(page.get_by_text("No rules yet.")).to_be_visible()
    assert call(f"{server.url}/api/channels/{owner['id']}/rules", token=owner["token"])["rules"] == []

    # In Russian.
    page.evaluate("localStorage.setItem('realtime.language', JSON.stringify('ru'))")
    page.reload()
    expect(page.get_by_role("heading", name="Правила автоматизации", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Создать правило")).to_be_visible()
    page.context.close()
    assert unexpected(problems) == []


def queue_of(page: Page) -> list[str]:
    return page.locator(".command-list:not(.executed-list) .command-text").all_text_contents()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_talkback_queue_is_filled_reordered_and_its_executed_commands_seen(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], size: str
) -> None:
    owner: dict[str, Any] = owner_with_channel(server, smtp[0], "Uma")
    problems = Problems()
    page = signed_in_page(browser, server, owner, size, problems)
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{server.url}/#/channel?id={owner['id']}")
    page.get_by_role("link", name="TalkBack").click()
    expect(page.get_by_role("heading", name="TalkBack", level=1)).to_be_visible()
    expect(page.get_by_text("No TalkBacks yet.")).to_be_visible()
    assert_accessible(page, f"TalkBacks ({size})")
    page.get_by_label("Name").fill("Gate")
    page.get_by_label("Log executed commands to").select_option(label="Greenhouse")
    page.get_by_role("button", name="Create TalkBack").click()
    expect(page.get_by_role("heading", name="Gate", level=1)).to_be_visible()
    expect(page.get_by_text("The queue is empty.")).to_be_visible()

    command = page.get_by_label("Command", exact=True)
    place = page.get_by_label("Place in the queue (optional)")
    for text in ("OPEN", "WAIT 5", "CLOSE"):
        command.fill(text)
        page.get_by_role("button", name="Add command").click()
        expect(page.locator(".command-text", has_text=text)).to_be_visible()
    command.fill("LIGHT ON")
    place.fill("1")
    page.get_by_role("button", name="Add command").click()
    expect(page.locator(".command-list").first).to_contain_text("LIGHT ON")
    assert queue_of(page) == ["LIGHT ON", "OPEN", "WAIT 5", "CLOSE"]
    command.fill("X")
    place.fill("first")
    page.get_by_role("button", name="Add command").click()
    expect(error_of(place)).to_contain_text("position must be a whole number")

    # Reorder with the buttons; focus follows the command moved.
    page.get_by_role("button", name="Move up: CLOSE").click()
    expect(page.locator(".command-text").nth(2)).to_have_text("CLOSE")
    assert queue_of(page) == ["LIGHT ON", "OPEN", "CLOSE", "WAIT 5"]
    page.get_by_role("button", name="Move down: LIGHT ON").click()
    expect(page.locator(".command-text").first).to_have_text("OPEN")
    assert queue_of(page) == ["OPEN", "LIGHT ON", "CLOSE", "WAIT 5"]
    page.get_by_role("button", name="Delete: LIGHT ON").click()
    expect(page.locator(".command-text", has_text="LIGHT ON")).to_have_count(0)

    # A device executes two; Refresh shows them with their times, newest first.
    talkback = call(f"{server.url}/talkbacks.json?api_key={owner['user_key']}")[0]
    for _ in range(2):
        call(f"{server.url}/talkbacks/{talkback['id']}/commands/execute.json", {"api_key": talkback["api_key"]})
    page.get_by_role("button", name="Refresh").click()
    expect(page.locator(".executed-list .command-text")).to_have_text(["CLOSE", "OPEN"])
    expect(page.locator(".executed-list time").first).to_have_attribute("datetime", ISO_TIME)
    assert queue_of(page) == ["WAIT 5"]
    assert_accessible(page, f"TalkBack queue ({size})")
    shot(page, f"talkback-{size}")
    page.context.close()
    assert unexpected(problems) == []
