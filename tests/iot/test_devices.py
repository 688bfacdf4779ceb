"""What devices and scripts send, as they send it: the Arduino library's requests byte for byte over a raw socket,
parsed the way the library parses them; reads without an ending, with `.txt` and with trailing slashes; keys in
`key` and `apikey`; JSONP; values with the line break a sketch appends."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp.test_utils import TestClient

from tests.helpers import new_channel
from tests.iot.test_reads import bulk, get_json, get_text

AGENT = b"tslib-arduino/2.1.1 (ESP32)"


async def library_request(client: TestClient, request: bytes) -> tuple[int, str]:
    """Send `request` as the library does and read the answer as its getHTTPResponse does: the number after
    `HTTP/1.1`, then `Content-Length:` bytes after the blank line (no chunked decoding: it has none)."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        text = head.decode("latin-1")
        status = int(text[text.index("HTTP/1.1") + len("HTTP/1.1") :].split()[0])
        if status != 200:
            return status, ""  # the library stops here and reports the status
        length = int(text[text.index("Content-Length:") + len("Content-Length:") :].split()[0])
        body = await asyncio.wait_for(reader.readexactly(length), 5)
        return status, body.decode("utf-8")
    finally:
        writer.close()


def read_raw(channel_id: int, suffix: str, key: str | None) -> bytes:
    """readRaw's bytes: the request line, writeHTTPHeader's three headers, a blank line."""
    request = b"GET /channels/" + str(channel_id).encode() + suffix.encode() + b" HTTP/1.1\r\n"
    request += b"Host: api.thingspeak.com\r\nUser-Agent: " + AGENT + b"\r\n"
    if key is not None:
        request += b"X-THINGSPEAKAPIKEY: " + key.encode() + b"\r\n"
    return request + b"\r\n"


def write_fields(key: str, body: str) -> bytes:
    """writeFields' bytes: a form body ending in `&headers=false`."""
    data = (body + "&headers=false").encode()
    return (
        b"POST /update HTTP/1.1\r\nHost: api.thingspeak.com\r\nUser-Agent: " + AGENT + b"\r\n"
        b"X-THINGSPEAKAPIKEY: " + key.encode() + b"\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " + str(len(data)).encode() + b"\r\n\r\n"
    ) + data


def json_value(content: str, key: str) -> str:
    """getJSONValueByKey / parseValues: the text between `"key":"` and the next quote, or empty."""
    phrase = f'"{key}":"'
    start = content.find(phrase)
    if start == -1:
        return ""
    start += len(phrase)
    end = content.find('"', start)
    return "" if end == -1 else content[start:end]


def to_float(value: str) -> float:
    """convertStringToFloat, near enough: 0 for text that is no number."""
    try:
        return float(value)
    except ValueError:
        return 0.0


async def test_the_arduino_library_reads_byte_for_byte(client: TestClient) -> None:
    ch = await new_channel(client, latitude=51.5, longitude=-0.125)
    cid, read_key, write_key = ch["id"], ch["read_key"], ch["write_key"]
    status, entry = await library_request(client, write_fields(write_key, "field1=21.5&field2=on&status=warm&lat=1.5"))
    assert status == 200
    assert entry == "1"
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")  # the newest entry
    await bulk(client, ch, [{"created_at": later, "field2": "later"}])  # field1 stays at 21.5

    # readFloatField / readStringField: fields/{n}/last, the bare value.
    status, text = await library_request(client, read_raw(cid, "/fields/1/last", read_key))
    assert status == 200
    assert text == "21.5"
    assert to_float(text) == 21.5
    assert (await library_request(client, read_raw(cid, "/fields/2/last", read_key)))[1] == "later"
    # readMultipleFields: feeds/last.txt with status and location, parsed member by member.
    status, text = await library_request(client, read_raw(cid, "/feeds/last.txt?status=true&location=true", read_key))
    assert status == 200
    assert json_value(text, "field2") == "later"
    assert json_value(text, "field1") == ""  # null in the newest entry: the library's empty string
    assert json_value(text, "created_at") == later
    # readStatus and readCreatedAt.
    status, text = await library_request(client, read_raw(cid, "/feeds/last.txt?status=true", read_key))
    assert status == 200
    assert json_value(text, "status") == ""  # the newest entry has none
    status, text = await library_request(client, read_raw(cid, "/feeds/last.txt", read_key))
    assert json_value(text, "created_at") == later
    # A newer entry with everything in it, written as writeFields writes it, read back as readMultipleFields reads.
    body = "field1=-3.25000&field2=text&field3=unnamed&lat=51.50000&long=-0.12500&elevation=12.00000&status=all%20good"
    status, entry = await library_request(client, write_fields(write_key, body))
    assert entry == "3"
    status, text = await library_request(client, read_raw(cid, "/feeds/last.txt?status=true&location=true", read_key))
    got = {k: json_value(text, k) for k in ("field1", "field2", "field3", "latitude", "longitude", "elevation")}
    assert got == {
        "field1": "-3.25000",
        "field2": "text",
        "field3": "",  # a field the channel has not named is not shown, as ThingSpeak's feeds
        "latitude": "51.5",
        "longitude": "-0.125",
        "elevation": "12",
    }
    assert to_float(got["field1"]) == -3.25
    assert json_value(text, "status") == "all good"  # readStatus
    status, text = await library_request(client, read_raw(cid, "/feeds/last.txt?status=true", read_key))
    assert json_value(text, "status") == "all good"
    status, text = await library_request(client, read_raw(cid, "/fields/2/last", read_key))
    assert text == "text"
    assert to_float(text) == 0  # readFloatField of text: 0, as the library answers
    assert (await library_request(client, read_raw(cid, "/fields/3/last", read_key)))[1] == "unnamed"
    # readRaw with any suffix.
    status, text = await library_request(client, read_raw(cid, "/feeds.json?results=2", read_key))
    assert status == 200
    assert [f["entry_id"] for f in orjson.loads(text)["feeds"]] == [3, 2]  # in created_at order
    # Without a key the private channel is refused; the library reports the status.
    assert (await library_request(client, read_raw(cid, "/fields/1/last", None)))[0] == 401
    assert (await library_request(client, read_raw(cid, "/fields/7/last", read_key)))[0] == 404


async def test_text_reads_without_an_ending_and_with_txt(client: TestClient) -> None:
    ch = await new_channel(client)
    base, key = f"/channels/{ch['id']}", ch["read_key"]
    await bulk(client, ch, [{"created_at": "2024-03-01T00:00:00Z", "field1": "3.14159", "status": "ok"}])
    for ending in ("", ".txt", "/"):
        resp = await client.get(f"{base}/fields/1/last{ending}?api_key={key}&round=2")
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        assert await resp.text() == "3.14"
        last = orjson.loads(await get_text(client, f"{base}/feeds/last{ending}?api_key={key}&status=true"))
        assert last == {"created_at": "2024-03-01T00:00:00Z", "entry_id": 1, "field1": "3.14159", "field2": None,
                        "status": "ok"}  # fmt: skip
        age = await get_text(client, f"{base}/fields/1/last_data_age{ending}?api_key={key}")
        assert int(age) > 86_400
        status = orjson.loads(await get_text(client, f"{base}/status{ending}?api_key={key}&days=36500"))
        assert [f["status"] for f in status["feeds"]] == ["ok"]
        # No access and nothing found: -1, as the documentation of these reads says.
        assert await get_text(client, f"{base}/fields/1/last{ending}", 401) == "-1"
        assert await get_text(client, f"{base}/fields/5/last{ending}?api_key={key}", 404) == "-1"
        assert await get_text(client, f"{base}/feeds/last{ending}?api_key=WRONG", 401) == "-1"
        assert await get_text(client, f"{base}/fields/5/last_data_age{ending}?api_key={key}", 404) == "-1"
        assert await get_text(client, f"{base}/status{ending}?api_key=WRONG", 401) == "-1"
        assert await get_text(client, f"/channels/987654/fields/1/last{ending}", 404) == "-1"
        assert await get_text(client, f"{base}/fields/9/last{ending}?api_key={key}", 400) == "0"

    # feeds, the channel and feed.json answer JSON without an ending and with a trailing slash.
    for path in ("/feeds", "/feeds/", "/feed.json"):
        body = await get_json(client, f"{base}{path}?api_key={key}&results=5")
        assert [f["field1"] for f in body["feeds"]] == ["3.14159"]
    for path in ("", "/"):
        assert (await get_json(client, f"{base}{path}?api_key={key}"))["id"] == ch["id"]
    assert await get_text(client, f"{base}?api_key=WRONG", 401) == "-1"


async def test_keys_where_devices_put_them(client: TestClient) -> None:
    ch = await new_channel(client)
    base = f"/channels/{ch['id']}"
    assert await get_text(client, f"/update?key={ch['write_key']}&field1=1") == "1"
    assert await get_text(client, f"/update?apikey={ch['write_key']}&field1=2") == "2"
    resp = await client.post("/update.json", data={"key": ch["write_key"], "field1": "3"})
    assert (await resp.json())["entry_id"] == 3
    assert await get_text(client, f"/update?key={ch['read_key']}&field1=4", 401) == "0"  # a read key never writes
    # The write key reads its private channel, in any of the three names.
    for name in ("api_key", "key", "apikey"):
        assert await get_text(client, f"{base}/fields/1/last.txt?{name}={ch['write_key']}") == "3"
    other = await new_channel(client)
    assert await get_text(client, f"{base}/fields/1/last.txt?key={other['write_key']}", 401) == "-1"
    assert await get_text(client, f"/channels/{ch['id']}/feeds/last.txt?key={ch['read_key']}") != "-1"


async def test_values_lose_the_line_break_a_sketch_appends(client: TestClient) -> None:
    ch = await new_channel(client)
    resp = await client.post(
        "/update",
        data=f"api_key={ch['write_key']}&field2=on&field1=21.5\r\n".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert await resp.text() == "1"
    resp = await client.post("/update", data={"api_key": ch["write_key"], "status": "done\r\n", "field1": "7\n"})
    assert await resp.text() == "2"
    base, key = f"/channels/{ch['id']}", ch["read_key"]
    body = await get_json(client, f"{base}/feeds.json?api_key={key}&status=true")
    assert [(f["field1"], f["status"]) for f in body["feeds"]] == [("21.5", None), ("7", "done")]
    assert not math.isnan(to_float(await get_text(client, f"{base}/fields/1/last?api_key={key}")))
    # A line break inside a value stays: only the trailing one is the sketch's.
    resp = await client.post("/update", data={"api_key": ch["write_key"], "status": "two\nlines\r\n"})
    assert (await get_json(client, f"{base}/feeds/last.json?api_key={key}&status=true"))["status"] == "two\nlines"


async def test_jsonp_and_charset_on_json_reads(client: TestClient) -> None:
    ch = await new_channel(client, public_flag=True)
    base = f"/channels/{ch['id']}"
    await bulk(client, ch, [{"created_at": "2024-03-01T00:00:00Z", "field1": "é"}])
    resp = await client.get(f"{base}/feeds/last.json")
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    resp = await client.get(f"{base}/feeds.json?results=1")
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"

    def unwrap(text: str, name: str) -> Any:
        assert text.startswith(f"/**/{name}(")
        assert text.endswith(");")
        return orjson.loads(text[len(name) + 5 : -2])

    for path, name in (("/feeds.json?results=1", "cb"), ("/feeds/last.json", "my.app_1.$done"), (".json", "x")):
        resp = await client.get(f"{base}{path}{'&' if '?' in path else '?'}callback={name}")
        assert resp.status == 200
        assert resp.content_type == "application/javascript"
        body = unwrap(await resp.text(), name)
        assert body
    for bad in ("alert(1)", "a-b", "1abc", "a..b", "x" * 65, "", "a;b", "<script>"):
        resp = await client.get(f"{base}/feeds.json", params={"callback": bad})
        assert resp.status == 400, bad
        assert "callback" in (await resp.json())["error"]["details"]
    # XML and CSV reads ignore it, as ThingSpeak's; so do writes (a write is no read to wrap).
    assert (await client.get(f"{base}/feeds.csv?callback=cb")).status == 200
    resp = await client.get(f"/update.json?api_key={ch['write_key']}&field1=2&callback=a(b)")
    assert resp.status == 200
    assert (await resp.json())["entry_id"] == 2
    resp = await client.get("/channels/public.json?callback=list")
    assert (await resp.text()).startswith("/**/list({")
    assert (await client.get("/channels/public.json?callback=a(b)")).status == 400
