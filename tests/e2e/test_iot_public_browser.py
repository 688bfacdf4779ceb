"""A public channel shared, in Debian's Chromium at the desktop and the phone size, with an axe-core check on each
screen: the owner finds its public page address and embed codes on the channel screen; anyone, signed out, opens the
public page (name, description, display widgets, chart, refreshed); the chart and widget embeds render inside an
iframe of a page on another origin, while the app's own pages refuse to be framed there. Screenshots go to
$SCREENSHOT_DIR when it is set."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Browser, Frame, Page, expect

from tests.conftest import Mailbox
from tests.e2e.iot_kit import owner_with_channel, signed_in_page, write
from tests.e2e.server_process import ServerProcess
from tests.e2e.webapp import (
    BROWSER_MARKS,
    Problems,
    assert_accessible,
    call,
    new_context,
    shot,
)

pytestmark = BROWSER_MARKS
WIDGETS = [
    {"type": "switch", "target": {"field": 3}},  # a control: the owner's only
    {"type": "gauge", "title": "Air", "field": 1, "min": 0, "max": 40, "unit": "°C"},
    {"type": "number", "field": 2, "unit": "%"},
]


def public_owner(server: ServerProcess, mailbox: Mailbox, name: str) -> dict[str, Any]:
    owner = owner_with_channel(server, mailbox, name, public_flag="true", description="Tomatoes and peppers")
    put = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
        f"{server.url}/api/channels/{owner['id']}/widgets",
        data=json.dumps({"widgets": WIDGETS}).encode(),
        method="PUT",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {owner['token']}"},
    )
    with urllib.request.urlopen(put, timeout=30) as response:  # noqa: S310 - http://127.0.0.1 only
        assert response.status == 200
    return owner


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_public_channel_is_shared_and_seen_signed_out(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], size: str
) -> None:
    owner = public_owner(server, smtp[0], "Rita")
    problems = Problems()
    page = signed_in_page(browser, server, owner, size, problems)
    page.goto(f"{server.url}/#/channel?id={owner['id']}")
    share = page.locator("section.card", has=page.get_by_role("heading", name="Share", level=2))
    address = f"{server.url}/#/public/channel?id={owner['id']}"
    expect(share.get_by_role("textbox", name="Public page address")).to_have_value(address)
    chart_code = share.get_by_role("textbox", name="Chart embed code").input_value()
    assert f'src="{server.url}/embed/channels/{owner["id"]}/chart"' in chart_code
    assert 'title="Greenhouse"' in chart_code
    expect(share.get_by_label("Widget to embed").locator("option")).to_have_text(["Air", "Humidity"])
    share.get_by_label("Widget to embed").select_option(label="Humidity")
    assert (
        f"/embed/channels/{owner['id']}/widgets/2"
        in share.get_by_role("textbox", name="Widget embed code").input_value()
    )
    share.get_by_role("button", name="Copy Public page address").click()
    expect(share.locator(".copy-status").first).not_to_be_empty()
    assert_accessible(page, f"channel with sharing ({size})")
    shot(page, f"channel-share-{size}")
    page.context.close()

    # Signed out, anyone opens the address.
    context = new_context(browser, size)
    visitor = problems.watch(context.new_page(), f"{size} visitor")
    visitor.goto(address)
    expect(visitor.get_by_role("heading", name="Greenhouse", level=1)).to_be_visible()
    expect(visitor.get_by_text("Tomatoes and peppers")).to_be_visible()
    expect(visitor.locator(".widget")).to_have_count(2)  # the display widgets, never the switch
    expect(visitor.locator(".widget-gauge")).to_contain_text("22.5 °C")
    expect(visitor.locator("figure.chart .chart-latest")).to_contain_text("Temperature 22.5")
    expect(visitor.locator(".live-status")).to_have_text("Refreshes every 15 seconds.")
    expect(visitor.get_by_role("link", name="Sign in")).to_be_visible()
    assert_accessible(visitor, f"public page ({size})")
    shot(visitor, f"public-{size}")
    if size == "desktop":  # new points arrive without a reload (one wait of a refresh is enough)
        write(server, owner, field1="31.5", field2="48")
        expect(visitor.locator(".widget-number .widget-value")).to_have_text("48 %", timeout=25_000)

    # A private channel (or none) has no public page.
    private = call(f"{server.url}/channels.json", {"api_key": owner["user_key"], "name": "Cellar"})
    visitor.goto(f"{server.url}/#/public/channel?id={private['id']}")
    expect(visitor.get_by_text("This channel is not public, or there is no such channel.")).to_be_visible()
    context.close()
    refused = f"status of 401 (Unauthorized) at {{'url': '{server.url}/channels/{private['id']}.json'"
    assert [p for p in problems.seen if refused not in p] == []  # the browser logs the refused read itself


@contextmanager
def another_site(html: str) -> Iterator[str]:
    """A second loopback origin (its own port) serving one page: the site that frames ours."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def frame_named(page: Page, name: str) -> Frame:
    frame = page.frame(name=name)
    assert frame is not None, name
    return frame


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_embeds_render_in_another_sites_iframe_and_the_app_does_not(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], size: str
) -> None:
    owner = public_owner(server, smtp[0], "Sasha")
    base = f"{server.url}/embed/channels/{owner['id']}"
    host = (
        "<!doctype html><html lang='en'><head><title>Another site</title></head><body><h1>Another site</h1>"
        f"<iframe name='chart' title='Chart' src='{base}/chart?fields=1,2' width='600' height='360'></iframe>"
        f"<iframe name='widget' title='Widget' src='{base}/widgets/1' width='300' height='220'></iframe>"
        f"<iframe name='app' title='App' src='{server.url}/' width='300' height='200'></iframe>"
        "</body></html>"
    )
    # Russian on the phone: the embed speaks the visitor's language (Accept-Language).
    context = new_context(browser, size, locale="ru-RU" if size == "phone" else "en-US")
    problems = Problems()
    page = problems.watch(context.new_page(), size)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "frame" in m.text.lower() else None)
    with another_site(host) as site:
        assert site != f"{server.url}/"
        page.goto(site)
        check_frames(page, size, refused)
    context.close()
    unexpected = [p for p in problems.seen if "frame" not in p.lower()]  # the refusal is logged as a console error
    assert unexpected == []


def check_frames(page: Page, size: str, refused: list[str]) -> None:

    chart = frame_named(page, "chart")
    expect(chart.locator("figure.chart canvas")).to_be_attached()
    expect(chart.locator(".chart-latest")).to_contain_text(re.compile(r"Temperature 22[.,]5"))
    expect(chart.locator(".u-legend .u-series")).to_have_count(3)  # time, Temperature, Humidity
    widget = frame_named(page, "widget")
    expect(widget.locator(".widget-gauge")).to_contain_text("22,5 °C" if size == "phone" else "22.5 °C")
    expect(widget.get_by_role("heading", name="Greenhouse")).to_be_visible()
    if size == "phone":
        expect(chart.locator("html")).to_have_attribute("lang", "ru")
        expect(chart.locator(".chart-latest")).to_contain_text("точ")  # "60 точек" in Russian

    # The app itself refuses the frame: nothing of it renders there.
    app = frame_named(page, "app")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not refused:
        page.wait_for_timeout(200)
    assert any("frame" in text.lower() for text in refused), refused
    assert app.evaluate("document.querySelector('.app-header') === null")
    shot(page, f"embed-host-{size}")
