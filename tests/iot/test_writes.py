"""Writing points as ThingSpeak devices do: every form of /update, bulk updates, the interval limit, bad input,
and entry ids that run 1, 2, 3... under any concurrency."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.keys import database_key
from tests.helpers import new_channel


async def stored(client: TestClient, channel_id: int) -> list[Any]:
    return await client.app[database_key].fetch(
        "SELECT * FROM feeds WHERE channel_id = $1 ORDER BY entry_id", channel_id
    )


async def test_update_forms_and_replies(client: TestClient) -> None:
    ch = await new_channel(client)
    key = ch["write_key"]
    assert await (await client.get(f"/update?api_key={key}&field1=21.5&field2=40")).text() == "1"
    assert await (await client.post("/update", data={"api_key": key, "field1": "22"})).text() == "2"
    resp = await client.post("/update", data={"field1": "23"}, headers={"THINGSPEAKAPIKEY": key})
    assert await resp.text() == "3"
    resp = await client.post(
        "/update.json",
        json={"api_key": key, "field1": 24, "lat": 51.5, "long": -0.1, "elevation": 20, "status": "sunny"},
    )
    entry = await resp.json()
    assert entry["entry_id"] == 4
    assert entry["channel_id"] == ch["id"]
    assert entry["field1"] == "24"
    assert entry["latitude"] == "51.5"
    assert entry["status"] == "sunny"
    assert entry["created_at"].endswith("Z")
    resp = await client.get(f"/update.xml?api_key={key}&field8=on")
    feed = ET.fromstring(await resp.text())
    assert feed.findtext("entry-id") == "5"
    assert feed.findtext("field8") == "on"

    rows = await stored(client, ch["id"])
    assert [r["entry_id"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["field2"] == "40"
    assert rows[0]["n1"] == 21.5
    assert rows[4]["n8"] is None  # "on" is not a number: kept as text, left out of averages


async def test_created_at_and_timezone(client: TestClient) -> None:
    ch = await new_channel(client)
    key = ch["write_key"]
    resp = await client.post(
        "/update.json",
        data={"api_key": key, "field1": "1", "created_at": "2024-03-01 12:00:00", "timezone": "Europe/Berlin"},
    )
    # The timezone also applies to the reply, as ThingSpeak does.
    assert (await resp.json())["created_at"] == "2024-03-01T12:00:00+01:00"
    resp = await client.post(
        "/update.json", data={"api_key": key, "field1": "2", "created_at": "2024-03-01T12:00:00-05:00"}
    )
    assert (await resp.json())["created_at"] == "2024-03-01T17:00:00Z"
    # created_at must be unique within the channel (ThingSpeak's rule).
    dup = await client.post("/update.json", data={"api_key": key, "field1": "3", "created_at": "2024-03-01T17:00:00Z"})
    assert dup.status == 409
    assert [r["entry_id"] for r in await stored(client, ch["id"])] == [1, 2]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("api_key=WRONGKEY00000000&field1=1", 401),
        ("field1=1", 401),
        ("api_key={key}&field1=" + "x" * 256, 400),
        ("api_key={key}&field1=1&created_at=yesterday", 400),
        ("api_key={key}&field1=1&created_at=2024-13-45", 400),
        ("api_key={key}&field1=1&lat=95", 400),
        ("api_key={key}&field1=1&timezone=Mars/Olympus", 400),
        ("api_key={key}", 400),
    ],
)
async def test_bad_updates_store_nothing(client: TestClient, query: str, status: int) -> None:
    ch = await new_channel(client)
    for suffix in ("", ".json", ".xml"):
        resp = await client.get(f"/update{suffix}?{query.format(key=ch['write_key'])}")
        assert resp.status == status
        body = await resp.text()
        if suffix == "":
            assert body == "0"
        elif suffix == ".json":
            error = (await resp.json())["error"]
            assert error["error_code"] in ("error_auth_required", "error_bad_request")
            assert error["details"]
        else:
            assert ET.fromstring(body).tag == "error"
    assert await stored(client, ch["id"]) == []


async def test_error_details_in_the_readers_language_the_rest_as_thingspeak(client: TestClient) -> None:
    """The web app sends its user's Accept-Language and shows `details`: they come in it. ThingSpeak's
    `error_code` and `message` stay as ThingSpeak writes them (scripts read those), and a device that asks for no
    language gets the English, to the byte."""
    ch = await new_channel(client)
    url = f"/channels/{ch['id']}/bulk_update.json"
    updates = [{"delta_t": 0, "field1": "1"}, {"delta_t": 1, "field1": "x" * 256}]
    body = {"write_api_key": ch["write_key"], "updates": updates}
    english = await client.post(url, json=body)
    assert english.status == 400
    assert await english.text() == (
        '{"status":"400","error":{"error_code":"error_bad_request","message":"Bad Request",'
        '"details":"updates[1].field1 is longer than 255 characters","field":"updates[1].field1"}}'
    )
    assert english.headers["Content-Language"] == "en"

    russian = await client.post(url, json=body, headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.8"})
    assert russian.status == 400
    assert russian.headers["Content-Language"] == "ru"
    assert "Accept-Language" in russian.headers["Vary"]
    assert await russian.json() == {
        "status": "400",
        "error": {
            "error_code": "error_bad_request",
            "message": "Bad Request",
            "details": "Поле «updates[1].field1» длиннее 255 символов",
            "field": "updates[1].field1",
        },
    }
    assert await stored(client, ch["id"]) == []

    # Managing a channel, as the web app does: XML too; the text format's `0` stays `0`.
    settings = {"api_key": ch["user_key"], "latitude": "95"}
    xml = await client.put(f"/channels/{ch['id']}.xml", data=settings, headers={"Accept-Language": "ru"})
    assert xml.status == 400
    error = ET.fromstring(await xml.text())
    assert error.findtext("error-code") == "error_bad_request"
    assert error.findtext("message") == "Bad Request"
    assert error.findtext("details") == "Поле «latitude» должно быть в пределах от -90 до 90"
    assert xml.headers["Content-Language"] == "ru"
    english = await client.put(f"/channels/{ch['id']}.xml", data=settings)
    assert ET.fromstring(await english.text()).findtext("details") == "latitude must be between -90 and 90"
    text = await client.get(f"/update?api_key={ch['write_key']}&field1=1&lat=95", headers={"Accept-Language": "ru"})
    assert text.status == 400
    assert await text.text() == "0"


async def test_unknown_channel_and_method(client: TestClient) -> None:
    resp = await client.post("/channels/424242/bulk_update.json", json={"write_api_key": "NOPE", "updates": [{}]})
    assert resp.status == 401
    assert (await client.put("/update", data={})).status == 405


async def test_minimum_update_interval(client: TestClient) -> None:
    ch = await new_channel(client, min_update_seconds="15")
    key = ch["write_key"]
    assert await (await client.get(f"/update?api_key={key}&field1=1")).text() == "1"
    refused = await client.get(f"/update?api_key={key}&field1=2")
    assert refused.status == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 15
    assert await refused.text() == "0"
    assert len(await stored(client, ch["id"])) == 1
    # Off by default: another channel takes writes back to back.
    free = await new_channel(client)
    for n in range(1, 4):
        assert await (await client.get(f"/update?api_key={free['write_key']}&field1={n}")).text() == str(n)


async def test_bulk_json_absolute_and_relative(client: TestClient) -> None:
    ch = await new_channel(client)
    url = f"/channels/{ch['id']}/bulk_update.json"
    resp = await client.post(
        url,
        json={
            "write_api_key": ch["write_key"],
            "updates": [
                {"created_at": "2024-05-01T10:00:00Z", "field1": "1.5", "field2": 7},
                {"created_at": 1714557660, "field1": "2.5", "latitude": 10, "longitude": 20, "status": "ok"},
            ],
        },
    )
    assert resp.status == 202
    assert await resp.json() == {"success": True, "first_entry_id": 1, "last_entry_id": 2, "count": 2}
    resp = await client.post(
        url,
        json={
            "write_api_key": ch["write_key"],
            "updates": [{"delta_t": 0, "field1": "a"}, {"delta_t": 10, "field1": "b"}, {"delta_t": 5, "field1": "c"}],
        },
    )
    assert resp.status == 202
    rows = await stored(client, ch["id"])
    assert [r["entry_id"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[1]["created_at"] == 1714557660
    assert rows[1]["latitude"] == 10
    # Relative times keep their spacing, the last one at upload time.
    assert rows[3]["created_at"] - rows[2]["created_at"] == pytest.approx(10)
    assert rows[4]["created_at"] - rows[3]["created_at"] == pytest.approx(5)


async def test_bulk_csv(client: TestClient) -> None:
    ch = await new_channel(client)
    url = f"/channels/{ch['id']}/bulk_update.csv"
    resp = await client.post(
        url,
        data={
            "write_api_key": ch["write_key"],
            "time_format": "absolute",
            "updates": "2024-05-01 10:00:00,1,2,,,,,,,51.5,-0.1,12,fine|1714557700,3,4",
        },
    )
    assert resp.status == 202
    resp = await client.post(
        url, data={"write_api_key": ch["write_key"], "time_format": "relative", "updates": "0,5|20,6"}
    )
    assert resp.status == 202
    rows = await stored(client, ch["id"])
    assert [(r["entry_id"], r["field1"]) for r in rows] == [(1, "1"), (2, "3"), (3, "5"), (4, "6")]
    assert rows[0]["status"] == "fine"
    assert rows[0]["elevation"] == 12


@pytest.mark.parametrize(
    "updates",
    [
        [{"created_at": "2024-05-01T10:00:00Z", "field1": "1"}, {"created_at": "not a time", "field1": "2"}],
        [{"created_at": "2024-05-01T10:00:00Z", "field1": "1"}, {"field1": "2"}],
        [{"created_at": "2024-05-01T10:00:00Z", "field1": "1"}, {"created_at": "2024-05-01T10:00:00Z", "field1": "2"}],
        [{"created_at": "2024-05-01T10:00:00Z", "field1": "x" * 300}],
        [{"created_at": "2024-05-01T10:00:00Z", "field9": "1"}],
        [{"delta_t": 0, "field1": "1"}, {"delta_t": 0, "field1": "2"}],
        [],
    ],
)
async def test_bulk_with_one_bad_row_stores_nothing(client: TestClient, updates: list[Any]) -> None:
    ch = await new_channel(client)
    resp = await client.post(
        f"/channels/{ch['id']}/bulk_update.json", json={"write_api_key": ch["write_key"], "updates": updates}
    )
    assert resp.status in (400, 409)
    assert (await resp.json())["error"]["details"]
    assert await stored(client, ch["id"]) == []
    # And the channel's numbering is untouched.
    assert await (await client.get(f"/update?api_key={ch['write_key']}&field1=1")).text() == "1"


async def test_bulk_limits_and_key_of_another_channel(client: TestClient) -> None:
    ch = await new_channel(client)
    other = await new_channel(client)
    resp = await client.post(
        f"/channels/{ch['id']}/bulk_update.json",
        json={"write_api_key": other["write_key"], "updates": [{"delta_t": 0, "field1": "1"}]},
    )
    assert resp.status == 401
    too_many = [{"delta_t": 0 if i == 0 else 1, "field1": str(i)} for i in range(14_401)]
    resp = await client.post(
        f"/channels/{ch['id']}/bulk_update.json", json={"write_api_key": ch["write_key"], "updates": too_many}
    )
    assert resp.status == 413, await resp.text()
    full = too_many[:14_400]
    resp = await client.post(
        f"/channels/{ch['id']}/bulk_update.json", json={"write_api_key": ch["write_key"], "updates": full}
    )
    assert resp.status == 202
    assert (await resp.json())["last_entry_id"] == 14_400


async def test_ten_thousand_concurrent_points_have_contiguous_ids(client: TestClient) -> None:
    ch = await new_channel(client)
    key = ch["write_key"]
    gate = asyncio.Semaphore(200)

    async def write(n: int) -> int:
        async with gate:
            resp = await client.get(f"/update?api_key={key}&field1={n}")
            assert resp.status == 200
            return int(await resp.text())

    ids = await asyncio.gather(*(write(n) for n in range(10_000)))
    assert sorted(ids) == list(range(1, 10_001))
    rows = await stored(client, ch["id"])
    assert [r["entry_id"] for r in rows] == list(range(1, 10_001))
    # Each acknowledged id holds the value its writer sent.
    by_id = {r["entry_id"]: r["field1"] for r in rows}
    assert all(by_id[entry_id] == str(n) for n, entry_id in enumerate(ids))


async def test_database_trouble_answers_503_to_retry(client: TestClient) -> None:
    ch = await new_channel(client)
    assert await (await client.get(f"/update?api_key={ch['write_key']}&field1=1")).text() == "1"
    await client.app[database_key].close()
    resp = await client.get(f"/update.json?api_key={ch['write_key']}&field1=2")
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "1"
    assert (await resp.json())["error"]["error_code"] == "error_service_unavailable"
