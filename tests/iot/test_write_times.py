"""created_at as devices and people write it: ThingSpeak's own formats, ISO 8601 and epoch seconds, in single and
bulk writes; times before 1970 or far ahead refused with a 400 that names the update and field."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.keys import database_key
from tests.helpers import new_channel

# (as written, the moment it means in UTC)
FORMS = [
    ("2018-03-07 10:26:02 UTC", "2018-03-07T10:26:02Z"),  # ThingSpeak's CSV export
    ("2018-03-07 10:26:2 UTC", "2018-03-07T10:26:02Z"),  # one-digit seconds, as sprintf("%d") prints them
    ("2018-3-7 9:26:2 UTC", "2018-03-07T09:26:02Z"),
    ("2018-01-30 10:26:02 -0500", "2018-01-30T15:26:02Z"),  # ThingSpeak's export with a time zone
    ("2018-01-30 10:26:02 +0100", "2018-01-30T09:26:02Z"),
    ("2018-03-07T10:26:02Z", "2018-03-07T10:26:02Z"),
    ("2018-03-07T10:26:02.250Z", "2018-03-07T10:26:02Z"),
    ("2018-03-07T10:26:02+05:30", "2018-03-07T04:56:02Z"),
    ("2018-03-07T10:26:02-03:00", "2018-03-07T13:26:02Z"),
    ("2018-03-07 10:26:02", "2018-03-07T10:26:02Z"),  # MySQL's form, no offset: UTC (or `timezone`)
    ("1520418362", "2018-03-07T10:26:02Z"),
    ("1520418362.75", "2018-03-07T10:26:02Z"),
]


def utc(iso: str) -> float:
    return datetime.fromisoformat(iso).astimezone(UTC).timestamp()


async def stored_times(client: TestClient, channel_id: int) -> list[float]:
    rows = await client.app[database_key].fetch(
        "SELECT created_at FROM feeds WHERE channel_id = $1 ORDER BY entry_id", channel_id
    )
    return [float(r["created_at"]) for r in rows]


async def bulk_json(client: TestClient, ch: dict[str, Any], updates: list[dict[str, Any]]) -> Any:
    return await client.post(
        f"/channels/{ch['id']}/bulk_update.json", json={"write_api_key": ch["write_key"], "updates": updates}
    )


@pytest.mark.parametrize(("written", "meant"), FORMS)
async def test_single_write_reads_every_form(client: TestClient, written: str, meant: str) -> None:
    ch = await new_channel(client)
    resp = await client.post("/update.json", data={"api_key": ch["write_key"], "field1": "1", "created_at": written})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["created_at"] == meant
    assert await stored_times(client, ch["id"]) == [pytest.approx(utc(meant), abs=1)]


async def test_fractional_seconds_are_kept(client: TestClient) -> None:
    ch = await new_channel(client)
    for written in ("2018-03-07T10:26:02.250Z", "1520418362.75"):
        resp = await client.get("/update", params={"api_key": ch["write_key"], "field1": "1", "created_at": written})
        assert resp.status == 200
    assert await stored_times(client, ch["id"]) == [1520418362.25, 1520418362.75]


async def test_plus_offset_sent_unencoded_in_a_query_string(client: TestClient) -> None:
    # `+` in a query string means a space: `+0100` arrives as ` 0100`, which can only have been `+0100`.
    ch = await new_channel(client)
    resp = await client.get(f"/update.json?api_key={ch['write_key']}&field1=1&created_at=2018-01-30+10:26:02+0100")
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["created_at"] == "2018-01-30T09:26:02Z"


async def test_bulk_json_reads_every_form_in_one_upload(client: TestClient) -> None:
    ch = await new_channel(client)
    # Each in another year (or day, for epochs), so that no two rows share a moment.
    updates = [
        {"created_at": str(float(written) + n * 86400) if "-" not in written else written.replace("2018", f"20{n:02}")}
        for n, (written, _) in enumerate(FORMS)
    ]
    resp = await bulk_json(client, ch, updates)
    assert resp.status == 202, await resp.text()
    assert (await resp.json())["count"] == len(FORMS)
    assert len(await stored_times(client, ch["id"])) == len(FORMS)


async def test_bulk_json_created_at_as_a_number(client: TestClient) -> None:
    ch = await new_channel(client)
    resp = await bulk_json(client, ch, [{"created_at": 1520418362, "field1": "1"}, {"created_at": 1520418363.5}])
    assert resp.status == 202, await resp.text()
    assert await stored_times(client, ch["id"]) == [1520418362, 1520418363.5]


async def test_bulk_csv_reads_thingspeak_forms(client: TestClient) -> None:
    ch = await new_channel(client)
    resp = await client.post(
        f"/channels/{ch['id']}/bulk_update.csv",
        data={
            "write_api_key": ch["write_key"],
            "time_format": "absolute",
            "updates": "2018-03-07 10:26:2 UTC,1|2018-01-30 10:26:02 -0500,2|2018-03-08T10:26:02Z,3|1520418000,4",
        },
    )
    assert resp.status == 202, await resp.text()
    assert await stored_times(client, ch["id"]) == [
        utc("2018-03-07T10:26:02Z"),
        utc("2018-01-30T15:26:02Z"),
        utc("2018-03-08T10:26:02Z"),
        1520418000,
    ]


BAD_TIMES = [
    ("yesterday", "not a date and time"),
    ("2018-13-07 10:26:02 UTC", "not a date and time"),
    ("2018-02-30T10:00:00Z", "not a date and time"),
    ("1969-12-31T23:59:59Z", "before 1970"),
    ("1520418362000", "milliseconds"),
    ("2999-01-01T00:00:00Z", "after 2200"),
]


@pytest.mark.parametrize(("written", "reason"), BAD_TIMES)
async def test_bad_created_at_is_a_400_naming_it(client: TestClient, written: str, reason: str) -> None:
    ch = await new_channel(client)
    params = {"api_key": ch["write_key"], "field1": "1", "created_at": written}
    resp = await client.get("/update.json", params=params)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["field"] == "created_at"
    assert error["details"].startswith("created_at: ")
    assert reason in error["details"]
    text = await client.get("/update", params=params)
    assert text.status == 400
    assert await text.text() == "0"
    assert await stored_times(client, ch["id"]) == []


@pytest.mark.parametrize(("hours_ahead", "status"), [(-1, 200), (23, 200), (25, 400), (24 * 365, 400)])
async def test_created_at_ahead_of_the_clock(client: TestClient, hours_ahead: int, status: int) -> None:
    ch = await new_channel(client)
    when = datetime.fromtimestamp(time.time() + hours_ahead * 3600, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    resp = await client.get("/update.json", params={"api_key": ch["write_key"], "field1": "1", "created_at": when})
    assert resp.status == status, await resp.text()
    if status == 400:
        details = (await resp.json())["error"]["details"]
        assert "ahead of the server's clock" in details
        assert await stored_times(client, ch["id"]) == []


@pytest.mark.parametrize(("written", "reason"), [*BAD_TIMES, ("2999-01-01 00:00:00 UTC", "after 2200")])
async def test_one_bad_created_at_in_a_bulk_upload_names_it_and_writes_nothing(
    client: TestClient, written: str, reason: str
) -> None:
    ch = await new_channel(client)
    good = [{"created_at": f"2018-03-0{n + 1} 10:26:02 UTC", "field1": str(n)} for n in range(5)]
    resp = await bulk_json(client, ch, [*good[:3], {"created_at": written, "field1": "x"}, *good[3:]])
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["field"] == "updates[3].created_at"
    assert error["details"].startswith("updates[3].created_at: ")
    assert reason in error["details"]
    resp = await client.post(
        f"/channels/{ch['id']}/bulk_update.csv",
        data={
            "write_api_key": ch["write_key"],
            "time_format": "absolute",
            "updates": "|".join([*(f"{g['created_at']},{g['field1']}" for g in good[:3]), f"{written},x"]),
        },
    )
    assert resp.status == 400
    assert (await resp.json())["error"]["field"] == "updates[3].created_at"
    assert await stored_times(client, ch["id"]) == []
    # The channel's numbering is untouched.
    assert await (await client.get(f"/update?api_key={ch['write_key']}&field1=1")).text() == "1"


async def test_a_bulk_row_far_ahead_names_it(client: TestClient) -> None:
    ch = await new_channel(client)
    resp = await bulk_json(client, ch, [{"created_at": 1520418362}, {"created_at": int(time.time()) + 3 * 86400}])
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["field"] == "updates[1].created_at"
    assert "ahead of the server's clock" in error["details"]
    assert await stored_times(client, ch["id"]) == []


@pytest.mark.parametrize(
    ("updates", "field"),
    [
        ([{"delta_t": 0}, {"delta_t": -3}], "updates[1].delta_t"),
        ([{"delta_t": 0}, {"delta_t": "soon"}], "updates[1].delta_t"),
        ([{"delta_t": 0}, {"delta_t": "inf"}], "updates[1].delta_t"),
        ([{"delta_t": 0}, {"delta_t": 1e12}], "updates"),  # the first would be before 1970
        ([{"delta_t": 0, "field1": "1"}, {"delta_t": 1, "field2": "a\x00"}], "updates[1].field2"),
    ],
)
async def test_bad_relative_times_name_the_update(client: TestClient, updates: list[Any], field: str) -> None:
    ch = await new_channel(client)
    resp = await bulk_json(client, ch, updates)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["field"] == field
    assert error["details"].startswith(field)
    assert await stored_times(client, ch["id"]) == []


async def test_bad_relative_time_in_a_bulk_csv_names_the_update(client: TestClient) -> None:
    ch = await new_channel(client)
    resp = await client.post(
        f"/channels/{ch['id']}/bulk_update.csv",
        data={"write_api_key": ch["write_key"], "time_format": "relative", "updates": "0,1|5,2|-1,3"},
    )
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["field"] == "updates[2].delta_t"
    assert error["details"].startswith("updates[2].delta_t must be")
    assert await stored_times(client, ch["id"]) == []
