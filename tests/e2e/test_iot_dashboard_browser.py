"""The IoT screens in Debian's Chromium, at the desktop and the phone size, with an axe-core check on each screen:
the channel list with latest values and sparklines; the chart's controls (ranges, averaging through the API,
several fields, zoom and pan, locale axis labels); the dashboard's widgets arranged and saved on the server, with
controls that write a field and queue a TalkBack command; import, clear and delete. Screenshots go to
$SCREENSHOT_DIR when it is set."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

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


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_channel_list_shows_latest_values_and_a_sparkline(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], size: str
) -> None:
    owner = owner_with_channel(server, smtp[0], "Nina")
    problems = Problems()
    page = signed_in_page(browser, server, owner, size, problems)
    page.goto(f"{server.url}/#/channels")
    item = page.locator(f".channel-item[data-channel='{owner['id']}']")
    expect(item.locator(".latest-values")).to_contain_text("Temperature")
    expect(item.locator(".latest-values")).to_contain_text("22.5")  # the last point's field1
    expect(item.locator(".sparkline path")).to_have_count(1)
    expect(item.get_by_role("img", name="Temperature: the last 40 values")).to_be_visible()
    assert_accessible(page, f"channel list ({size})")
    shot(page, f"channels-{size}")

    # In Russian: the same screen, its texts from the catalogue.
    page.evaluate("localStorage.setItem('realtime.language', JSON.stringify('ru'))")
    page.reload()
    expect(page.get_by_role("heading", name="Каналы", level=1)).to_be_visible()
    expect(item).to_contain_text("60 записей")
    page.context.close()
    assert problems.seen == []


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_chart_controls_ranges_averages_fields_zoom_and_locale_axis(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], size: str
) -> None:
    owner = owner_with_channel(server, smtp[0], "Oleg")
    problems = Problems()
    page = signed_in_page(browser, server, owner, size, problems)
    page.goto(f"{server.url}/#/channel?id={owner['id']}")
    expect(page.locator(".live-status")).to_have_text("Live: new points appear as they arrive.")
    chart = page.locator("figure.chart")
    expect(chart.locator(".chart-latest")).to_contain_text("Temperature 22.5")
    expect(chart.locator(".u-legend .u-series")).to_have_count(4)  # time and three fields
    assert_accessible(page, f"channel ({size})")
    shot(page, f"channel-{size}")

    # Several fields on one chart: untick Heater and Humidity, tick Humidity again.
    page.get_by_role("checkbox", name="Heater").uncheck()
    expect(chart.locator(".u-legend .u-series")).to_have_count(3)

    # Averages come from the API itself (average=10 over the last 6 hours).
    with page.expect_request(lambda r: "average=10" in r.url and "minutes=360" in r.url):
        page.get_by_label("Time range").select_option("six_hours")
        page.get_by_label("Values").select_option("average")
        page.get_by_label("Over").select_option("10")
    expect(page.locator(".live-status")).to_have_text("Showing a fixed range: new points are not added.")
    # Each choice started a load; the chart is the last one's once the area is no longer busy.
    expect(page.locator(".charts")).not_to_have_attribute("aria-busy", "true")
    expect(chart.locator(".chart-latest")).to_contain_text("points")

    # Axis labels in the page's language, as fine as the tick step needs, never milliseconds.
    labels = page.evaluate(
        """async () => {
            const { timeLabels } = await import('/js/iot/chart.js');
            const at = Date.UTC(2026, 0, 5, 14, 30, 0) / 1000;
            return [timeLabels([at], 600), timeLabels([at], 5), timeLabels([at], 2 * 86400)].flat();
        }"""
    )
    assert re.fullmatch(r"\d{1,2}:\d{2}( [AP]M)?", labels[0]), labels
    assert re.fullmatch(r"\d{1,2}:\d{2}:\d{2}( [AP]M)?", labels[1]), labels
    assert re.fullmatch(r"Jan \d{1,2}", labels[2]), labels
    assert not any("." in label for label in labels), labels

    # Zoom and pan with the buttons; Reset shows the whole range again.
    plot = chart.locator(".chart-plot")
    expect(plot).to_have_attribute("data-from", re.compile(r"\d+"))
    whole = (plot.get_attribute("data-from"), plot.get_attribute("data-to"))
    page.get_by_role("button", name="Zoom in").click()
    zoomed = (plot.get_attribute("data-from"), plot.get_attribute("data-to"))
    assert int(zoomed[1]) - int(zoomed[0]) < int(whole[1]) - int(whole[0])
    page.get_by_role("button", name="Earlier").click()
    assert int(plot.get_attribute("data-from") or 0) < int(zoomed[0])
    page.get_by_role("button", name="Reset").click()
    assert (plot.get_attribute("data-from"), plot.get_attribute("data-to")) == whole

    # A custom range.
    page.get_by_label("Time range").select_option("custom")
    page.get_by_label("From", exact=True).fill("2020-01-02T10:00")
    page.get_by_label("To", exact=True).fill("2020-01-01T10:00")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page.get_by_text("The start must be before the end.")).to_be_visible()
    page.get_by_label("To", exact=True).fill("2020-01-03T10:00")
    with page.expect_request(lambda r: "start=" in r.url and "end=" in r.url):
        page.get_by_role("button", name="Show", exact=True).click()
    expect(chart.locator(".chart-latest")).to_contain_text("No numeric values in this range.")
    assert_accessible(page, f"channel with a custom range ({size})")
    page.context.close()
    assert problems.seen == []


def widgets_of(server: ServerProcess, owner: dict[str, Any]) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = call(f"{server.url}/api/channels/{owner['id']}/widgets", token=owner["token"])[
        "widgets"
    ]
    return answer


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_widgets_are_arranged_saved_on_the_server_and_controls_act(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], size: str
) -> None:
    owner = owner_with_channel(server, smtp[0], "Pavel")
    talkback = call(f"{server.url}/talkbacks.json", {"api_key": owner["user_key"], "name": "Boiler"})
    problems = Problems()
    page = signed_in_page(browser, server, owner, size, problems)
    page.goto(f"{server.url}/#/channel?id={owner['id']}")
    expect(page.get_by_text("No widgets yet.")).to_be_visible()
    page.get_by_role("button", name="Edit dashboard").click()
    editor = page.locator(".widget-editor")
    expect(editor.locator("option", has_text="TalkBack command: Boiler")).to_be_attached()

    def add(kind: str, **values: str) -> None:
        editor.get_by_label("Kind").select_option(kind)
        for label, value in values.items():
            box = editor.get_by_label(label, exact=True)
            if box.evaluate("e => e.tagName") == "SELECT":
                box.select_option(label=value)
            else:
                box.fill(value)
        editor.get_by_role("button", name="Add widget").click()

    add("gauge", **{"Field": "Temperature", "Minimum": "0", "Maximum": "40", "Unit (optional)": "°C"})
    add("lamp", **{"Field": "Temperature", "Warning from": "20", "Alert from": "30"})
    add("number", Field="Humidity")
    add("status")
    add("location")
    add("switch", **{"Acts on": "Write field: Heater"})
    add("button", **{"Acts on": "TalkBack command: Boiler", "Value to send": "OPEN"})
    add(
        "slider",
        **{
            "Acts on": "TalkBack command: Boiler",
            "Minimum": "0",
            "Maximum": "10",
            "What to send ({value} is the chosen value)": "SET {value}",
        },
    )
    # A slider that sends nothing useful is refused before it is added.
    add("slider", Minimum="5", Maximum="1")
    expect(editor.get_by_role("alert")).to_have_text("The maximum must be above the minimum.")
    # Arrange: the number tile first.
    editor.get_by_role("button", name="Move up: Humidity (Number)").click()
    editor.get_by_role("button", name="Move up: Humidity (Number)").click()
    assert_accessible(page, f"dashboard editor ({size})")
    editor.get_by_role("button", name="Save dashboard").click()
    expect(page.locator(".widget")).to_have_count(8)

    saved = widgets_of(server, owner)
    assert [w["type"] for w in saved] == ["number", "gauge", "lamp", "status", "location", "switch", "button", "slider"]
    assert saved[2]["thresholds"] == [{"at": 20, "level": "warning"}, {"at": 30, "level": "alert"}]
    assert saved[5]["target"] == {"field": 3}
    assert saved[6]["target"] == {"talkback_id": talkback["id"]}

    # Live values reach the widgets.
    lamp = page.locator(".widget-lamp")
    expect(lamp).to_contain_text("Warning")  # 22.5 is past the warning
    expect(page.locator(".widget-status-text")).to_have_text("all good")
    expect(page.locator(".widget-location")).to_contain_text("55.809")
    write(server, owner, field1="31", field2="50")
    expect(lamp).to_contain_text("Alert")
    expect(page.locator(".widget-number .widget-value")).to_have_text("50")
    expect(page.locator(".widget-gauge")).to_contain_text("31 °C")

    # Controls: the switch writes the Heater field, the button and slider queue TalkBack commands.
    page.get_by_role("switch", name="Heater").click()
    expect(page.get_by_role("switch", name="Heater")).to_have_attribute("aria-checked", "true")
    last = call(f"{server.url}/channels/{owner['id']}/fields/3/last.json?api_key={owner['write_key']}")
    assert last["field3"] == "1"
    page.get_by_role("button", name="OPEN").click()
    expect(page.locator(".widget-button")).to_contain_text("Sent OPEN.")
    page.locator(".widget-slider input[type=range]").fill("7")
    page.locator(".widget-slider").get_by_role("button", name="Send").click()
    expect(page.locator(".widget-slider")).to_contain_text("Sent SET 7.")
    commands = call(f"{server.url}/talkbacks/{talkback['id']}/commands.json?api_key={talkback['api_key']}")
    assert [c["command_string"] for c in commands] == ["OPEN", "SET 7"]
    assert_accessible(page, f"dashboard ({size})")
    page.locator(".widget-grid").scroll_into_view_if_needed()
    shot(page, f"dashboard-{size}")

    # After a reload the arrangement is still there (it lives on the server).
    page.reload()
    expect(page.locator(".widget")).to_have_count(8)
    expect(page.locator(".widget").first).to_contain_text("Humidity")
    page.context.close()
    assert problems.seen == []


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_import_a_csv_clear_the_feed_and_delete_the_channel(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], size: str, tmp_path: Path
) -> None:
    owner = owner_with_channel(server, smtp[0], "Rita")
    problems = Problems()
    page = signed_in_page(browser, server, owner, size, problems)
    page.goto(f"{server.url}/#/channel?id={owner['id']}")
    csv = tmp_path / "points.csv"
    csv.write_text('created_at,entry_id,field1,field2\n2026-01-01T10:00:00Z,1,5,"6"\n2026-01-01T10:01:00Z,2,7,8\n')
    page.get_by_label("CSV file").set_input_files(str(csv))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("Imported 2 points.")).to_be_visible()
    feed = call(f"{server.url}/channels/{owner['id']}/feeds.json?api_key={owner['write_key']}&results=100&days=4000")
    assert len(feed["feeds"]) == 62
    assert_accessible(page, f"channel management ({size})")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Clear feed").click()
    expect(page.get_by_text("The feed is empty now.")).to_be_visible()
    feed = call(f"{server.url}/channels/{owner['id']}/feeds.json?api_key={owner['write_key']}&days=4000")
    assert feed["feeds"] == []

    delete = page.get_by_role("button", name="Delete channel")
    expect(delete).to_be_disabled()
    page.get_by_label("Type “Greenhouse” to confirm").fill("Greenhouse")
    delete.click()
    expect(page.get_by_role("heading", name="Channels", level=1)).to_be_visible()
    expect(page.get_by_text("You have no channels yet.")).to_be_visible()
    assert call(f"{server.url}/channels.json?api_key={owner['user_key']}") == []
    page.context.close()
    assert problems.seen == []
