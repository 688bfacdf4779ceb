"""Exports that cannot be turned against their readers: control characters are refused when points are written
(and never reach an XML document, which stays well-formed), and CSV cells that a spreadsheet would run as
formulas are neutralised with a leading apostrophe, while numbers (negative ones too) stay as they are."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.keys import database_key
from tests.helpers import new_channel
from tests.iot.test_reads import bulk, get_json, get_text


@pytest.mark.parametrize("bad", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\ufffe"])
async def test_a_value_with_a_control_character_is_refused_and_nothing_is_written(client: TestClient, bad: str) -> None:
    ch = await new_channel(client)
    resp = await client.post("/update.json", data={"api_key": ch["write_key"], "field1": f"a{bad}b"})
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert "field1 must not contain control characters" in error["details"]
    resp = await client.post("/update.json", data={"api_key": ch["write_key"], "field2": "1", "status": f"x{bad}"})
    assert resp.status == 400
    resp = await client.post(
        f"/channels/{ch['id']}/bulk_update.json",
        json={
            "write_api_key": ch["write_key"],
            "updates": [{"delta_t": 0, "field1": "1"}, {"delta_t": 1, "field2": bad}],
        },
    )
    assert resp.status == 400
    assert "updates[1].field2 must not contain control characters" in await resp.text()
    assert (await get_json(client, f"/channels/{ch['id']}/feeds.json?api_key={ch['read_key']}"))["feeds"] == []


async def test_tabs_and_line_breaks_are_data(client: TestClient) -> None:
    ch = await new_channel(client)
    resp = await client.post("/update.json", data={"api_key": ch["write_key"], "field1": "a\tb\r\nc"})
    assert resp.status == 200
    xml = await get_text(client, f"/channels/{ch['id']}/feeds.xml?api_key={ch['read_key']}")
    feed = ET.fromstring(xml).find("feeds/feed")
    assert feed is not None
    assert feed.findtext("field1") == "a\tb\nc"  # XML parsers read a carriage return as a line feed


async def test_xml_stays_well_formed_with_a_control_character_stored_before_the_check(client: TestClient) -> None:
    ch = await new_channel(client)
    assert (await client.post("/update.json", data={"api_key": ch["write_key"], "field1": "x"})).status == 200
    # A value stored before values were checked.
    await client.app[database_key].execute(
        "UPDATE feeds SET field1 = $1 WHERE channel_id = $2", "a\x01b\x1bc", ch["id"]
    )
    base = f"/channels/{ch['id']}"
    for path in ("feeds.xml", "fields/1.xml", "feeds/last.xml", "feeds/1.xml"):
        root = ET.fromstring(await get_text(client, f"{base}/{path}?api_key={ch['read_key']}"))
        assert [e.findtext("field1") for e in root.iter("feed")] == ["a\ufffdb\ufffdc"], path


# -- CSV ------------------------------------------------------------------------------------------------

# Written value -> CSV cell. Formulas get an apostrophe; numbers and harmless text do not.
CELLS = {
    "=1+2": "'=1+2",
    "+SUM(A1:A9)": "'+SUM(A1:A9)",
    "-1+2": "'-1+2",
    "@SUM(A1)": "'@SUM(A1)",
    "\tx": "'\tx",
    "\r=cmd": "'\r=cmd",
    "-": "'-",
    "-12.5": "-12.5",
    "+3": "+3",
    "-4e3": "-4e3",
    "-.5": "-.5",
    "12": "12",
    "a=b": "a=b",
}


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


async def test_csv_cells_that_would_be_formulas_are_neutralised_and_numbers_are_not(client: TestClient) -> None:
    ch = await new_channel(client)
    values = list(CELLS)
    updates: list[dict[str, Any]] = [
        {"delta_t": 0 if i == 0 else 1, "field1": v, "field2": "-7", "status": v} for i, v in enumerate(values)
    ]
    await bulk(client, ch, updates)
    base, key = f"/channels/{ch['id']}", ch["read_key"]

    rows = rows_of(await get_text(client, f"{base}/feeds.csv?api_key={key}&status=true&results=100"))
    header, data = rows[0], rows[1:]
    field1, field2, status = header.index("field1"), header.index("field2"), header.index("status")
    assert [r[field1] for r in data] == list(CELLS.values())
    assert [r[field2] for r in data] == ["-7"] * len(values)
    assert [r[status] for r in data] == list(CELLS.values())

    rows = rows_of(await get_text(client, f"{base}/fields/1.csv?api_key={key}&results=100"))
    assert [r[rows[0].index("field1")] for r in rows[1:]] == list(CELLS.values())
    rows = rows_of(await get_text(client, f"{base}/feeds/last.csv?api_key={key}"))
    assert rows[1][rows[0].index("field1")] == CELLS[values[-1]]

    # Other formats carry the values as written.
    feeds = (await get_json(client, f"{base}/feeds.json?api_key={key}&results=100"))["feeds"]
    assert [f["field1"] for f in feeds] == values
