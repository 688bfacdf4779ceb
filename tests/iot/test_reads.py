"""Reading feeds as ThingSpeak clients do: feeds, fields, last entries, one entry, status and last data age, in
JSON, CSV and XML; windows, aggregates computed in the database, min/max, round, time zones; who may read."""

from __future__ import annotations

import statistics
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient

from server.iot.reads import MAX_RESULTS, parse_read
from tests.helpers import bearer, new_channel

# A known data set on 2024-03-01 (UTC): field1 numbers, field2 numbers with a gap and a non-number, and an
# empty hour (02:00) between the others.
POINTS: list[dict[str, Any]] = [
    {"created_at": "2024-03-01T00:05:00Z", "field1": "10", "field2": "50"},
    {"created_at": "2024-03-01T00:20:00Z", "field1": "20", "field2": "55"},
    {"created_at": "2024-03-01T00:40:00Z", "field1": "15", "field2": "n/a"},
    {"created_at": "2024-03-01T00:50:00Z", "field1": "12.5", "field2": "60"},
    {"created_at": "2024-03-01T01:10:00Z", "field1": "30"},
    {"created_at": "2024-03-01T01:30:00Z", "field1": "31", "field3": "hidden: field3 has no name"},
    {"created_at": "2024-03-01T03:00:00Z", "field1": "-4.25", "field2": "40"},
]
DAY_WINDOW = "start=2024-03-01%2000:00:00&end=2024-03-01%2023:59:59"


async def bulk(client: TestClient, ch: dict[str, Any], updates: list[dict[str, Any]]) -> None:
    resp = await client.post(
        f"/channels/{ch['id']}/bulk_update.json", json={"write_api_key": ch["write_key"], "updates": updates}
    )
    assert resp.status == 202, await resp.text()


async def get_json(client: TestClient, url: str, status: int = 200) -> Any:
    resp = await client.get(url)
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    return await resp.json()


async def get_text(client: TestClient, url: str, status: int = 200) -> str:
    resp = await client.get(url)
    assert resp.status == status, await resp.text()
    return await resp.text()


async def weather(client: TestClient, **settings: Any) -> tuple[dict[str, Any], str]:
    """A channel holding POINTS, and the start of its URLs."""
    ch = await new_channel(client, **settings)
    await bulk(client, ch, POINTS)
    return ch, f"/channels/{ch['id']}"


def hours(kind: str) -> list[tuple[str, str | None, str | None]]:
    """The expected `kind` per hour of POINTS (created_at, field1, field2), computed from the data set by hand."""
    groups: dict[str, tuple[int, list[float], list[float]]] = {  # entries in the hour, field1's and field2's numbers
        "2024-03-01T00:00:00Z": (4, [10, 20, 15, 12.5], [50, 55, 60]),  # field2's "n/a" is not a number
        "2024-03-01T01:00:00Z": (2, [30, 31], []),
        "2024-03-01T02:00:00Z": (0, [], []),  # no entry: an empty bucket, as ThingSpeak fills it
        "2024-03-01T03:00:00Z": (1, [-4.25], [40]),
    }

    def written(values: list[float], entries: int) -> str | None:
        if not values:
            return None
        # An average counts every entry of the hour: "NaN values are interpreted as 0" (the Read Data doc).
        compute = {"sum": sum, "average": lambda v: sum(v) / entries, "median": statistics.median}[kind]
        return repr(float(compute(values)))  # ThingSpeak writes floats as `55.0`

    return [(at, written(f1, count), written(f2, count)) for at, (count, f1, f2) in groups.items()]


# -- feeds in three formats -------------------------------------------------------------------------


async def test_feed_in_json_csv_and_xml(client: TestClient) -> None:
    ch, base = await weather(client)
    key = ch["read_key"]
    # An entry written later with an earlier time comes in created_at order, as ThingSpeak orders feeds.
    await bulk(client, ch, [{"created_at": "2024-03-01T00:00:30Z", "field1": "9"}])

    body = await get_json(client, f"{base}/feeds.json?api_key={key}&results=100")
    assert body["channel"]["id"] == ch["id"]
    assert body["channel"]["name"] == "Weather"
    assert body["channel"]["field1"] == "Temperature"
    assert body["channel"]["last_entry_id"] == 8
    assert "api_keys" not in body["channel"]
    feeds = body["feeds"]
    assert [f["entry_id"] for f in feeds] == [8, 1, 2, 3, 4, 5, 6, 7]
    assert feeds[1] == {"created_at": "2024-03-01T00:05:00Z", "entry_id": 1, "field1": "10", "field2": "50"}
    assert feeds[5] == {"created_at": "2024-03-01T01:10:00Z", "entry_id": 5, "field1": "30", "field2": None}
    assert all(set(f) == {"created_at", "entry_id", "field1", "field2"} for f in feeds)  # named fields only

    text = await get_text(client, f"{base}/feeds.csv?api_key={key}&results=3")
    assert text.splitlines() == [
        "created_at,entry_id,field1,field2",
        "2024-03-01 01:10:00 UTC,5,30,",
        "2024-03-01 01:30:00 UTC,6,31,",
        "2024-03-01 03:00:00 UTC,7,-4.25,40",
    ]

    resp = await client.get(f"{base}/feeds.xml?api_key={key}&results=2&status=true")
    assert resp.status == 200
    assert resp.content_type == "application/xml"
    root = ET.fromstring(await resp.text())
    assert root.tag == "channel"
    assert root.findtext("name") == "Weather"
    assert root.findtext("field1") == "Temperature"
    entries = root.findall("feeds/feed")
    assert root.find("feeds").get("type") == "array"  # type: ignore[union-attr]
    assert [e.findtext("entry-id") for e in entries] == ["6", "7"]
    assert [e.findtext("field1") for e in entries] == ["31", "-4.25"]
    assert entries[1].findtext("created-at") == "2024-03-01T03:00:00Z"
    assert entries[0].find("status").get("nil") == "true"  # type: ignore[union-attr]

    # metadata, location and status only when asked.
    body = await get_json(client, f"{base}/feeds.json?api_key={key}&results=1&metadata=true&location=true&status=true")
    assert "metadata" in body["channel"]
    assert set(body["feeds"][0]) == {
        "created_at", "entry_id", "field1", "field2", "latitude", "longitude", "elevation", "status",
    }  # fmt: skip


async def test_field_feed(client: TestClient) -> None:
    ch, base = await weather(client)
    key = ch["read_key"]
    body = await get_json(client, f"{base}/fields/2.json?api_key={key}&results=3")
    assert body["channel"]["field2"] == "Humidity"
    assert body["feeds"] == [
        {"created_at": "2024-03-01T01:10:00Z", "entry_id": 5, "field2": None},
        {"created_at": "2024-03-01T01:30:00Z", "entry_id": 6, "field2": None},
        {"created_at": "2024-03-01T03:00:00Z", "entry_id": 7, "field2": "40"},
    ]
    # A field the channel has not named is still readable when asked for by number.
    body = await get_json(client, f"{base}/fields/3.json?api_key={key}&results=2")
    assert [f["field3"] for f in body["feeds"]] == ["hidden: field3 has no name", None]
    text = await get_text(client, f"{base}/fields/1.csv?api_key={key}&results=2")
    assert text.splitlines() == [
        "created_at,entry_id,field1",
        "2024-03-01 01:30:00 UTC,6,31",
        "2024-03-01 03:00:00 UTC,7,-4.25",
    ]
    root = ET.fromstring(await get_text(client, f"{base}/fields/1.xml?api_key={key}&results=1"))
    assert [e.findtext("field1") for e in root.findall("feeds/feed")] == ["-4.25"]
    assert root.find("feeds/feed/field2") is None


# -- aggregates -------------------------------------------------------------------------------------


async def test_sums_averages_and_medians_per_hour(client: TestClient) -> None:
    ch, base = await weather(client)
    key = ch["read_key"]
    for kind in ("sum", "average", "median"):
        body = await get_json(client, f"{base}/feeds.json?api_key={key}&{DAY_WINDOW}&{kind}=60")
        # The bucket without entries (02:00) is there, empty.
        assert [(f["created_at"], f["field1"], f["field2"]) for f in body["feeds"]] == hours(kind), kind
        assert all("entry_id" not in f for f in body["feeds"])
    # Spelled out once, so the numbers above are plainly right.
    body = await get_json(client, f"{base}/feeds.json?api_key={key}&{DAY_WINDOW}&median=60")
    assert body["feeds"][0] == {"created_at": "2024-03-01T00:00:00Z", "field1": "13.75", "field2": "55.0"}
    body = await get_json(client, f"{base}/feeds.json?api_key={key}&{DAY_WINDOW}&average=60&round=2")
    assert [f["field1"] for f in body["feeds"]] == ["14.38", "30.50", None, "-4.25"]
    assert body["feeds"][0]["field2"] == "41.25"  # (50 + 55 + 60 + 0) / 4: the "n/a" counts as 0
    body = await get_json(client, f"{base}/feeds.json?api_key={key}&{DAY_WINDOW}&sum=daily")
    assert body["feeds"] == [{"created_at": "2024-03-01T00:00:00Z", "field1": "114.25", "field2": "205.0"}]
    # One field, in CSV: no entry_id column once entries are aggregated.
    text = await get_text(client, f"{base}/fields/1.csv?api_key={key}&{DAY_WINDOW}&sum=1440")
    assert text.splitlines() == ["created_at,field1", "2024-03-01 00:00:00 UTC,114.25"]
    # `results` counts raw entries before aggregation: the newest three are 01:10, 01:30 and 03:00.
    body = await get_json(client, f"{base}/feeds.json?api_key={key}&results=3&sum=60")
    assert [(f["created_at"], f["field1"]) for f in body["feeds"]] == [
        ("2024-03-01T01:00:00Z", "61.0"),
        ("2024-03-01T02:00:00Z", None),
        ("2024-03-01T03:00:00Z", "-4.25"),
    ]


async def test_median_of_many_values_matches_statistics(client: TestClient) -> None:
    ch = await new_channel(client)
    # Odd and even counts per 10 minutes, unsorted, with duplicates, negatives and non-numbers.
    values = [[7, -3, 7, 2.5, 100], [1, 9, 4, 4], [0.125], ["x", 6, "y"]]
    updates = [
        {"created_at": f"2024-05-05T10:{bucket * 10 + i:02d}:00Z", "field1": str(v), "field2": str(v)}
        for bucket, group in enumerate(values)
        for i, v in enumerate(group)
    ]
    await bulk(client, ch, updates)
    body = await get_json(client, f"/channels/{ch['id']}/feeds.json?api_key={ch['read_key']}&results=100&median=10")
    numbers = [[v for v in group if not isinstance(v, str)] for group in values]
    assert [f["field1"] for f in body["feeds"]] == [repr(float(statistics.median(g))) for g in numbers]
    assert [f["field2"] for f in body["feeds"]] == [f["field1"] for f in body["feeds"]]
    assert [f["created_at"] for f in body["feeds"]] == [f"2024-05-05T10:{m}0:00Z" for m in range(4)]


async def test_timescale_gives_the_first_entry_of_each_bucket(client: TestClient) -> None:
    ch, base = await weather(client)
    key = ch["read_key"]
    body = await get_json(client, f"{base}/feeds.json?api_key={key}&{DAY_WINDOW}&timescale=60")
    assert body["feeds"] == [  # with the first entry's id, as ThingSpeak's timescale shows it
        {"created_at": "2024-03-01T00:00:00Z", "entry_id": 1, "field1": "10", "field2": "50"},
        {"created_at": "2024-03-01T01:00:00Z", "entry_id": 5, "field1": "30", "field2": None},
        {"created_at": "2024-03-01T02:00:00Z", "entry_id": None, "field1": None, "field2": None},  # empty
        {"created_at": "2024-03-01T03:00:00Z", "entry_id": 7, "field1": "-4.25", "field2": "40"},
    ]
    text = await get_text(client, f"{base}/fields/1.csv?api_key={key}&{DAY_WINDOW}&timescale=60")
    assert text.splitlines() == [
        "created_at,entry_id,field1",
        "2024-03-01 00:00:00 UTC,1,10",
        "2024-03-01 01:00:00 UTC,5,30",
        "2024-03-01 02:00:00 UTC,,",
        "2024-03-01 03:00:00 UTC,7,-4.25",
    ]
    body = await get_json(client, f"{base}/feeds.json?api_key={key}&{DAY_WINDOW}&timescale=30")
    assert [(f["created_at"][11:16], f["field1"], f["field2"]) for f in body["feeds"]] == [
        ("00:00", "10", "50"),
        ("00:30", "15", "n/a"),  # the first entry as it was written, even when not a number
        ("01:00", "30", None),
        ("01:30", "31", None),
        ("02:00", None, None),
        ("02:30", None, None),
        ("03:00", "-4.25", "40"),
    ]
    # Buckets align to the epoch, not to the first entry: 00:05 falls in the 00:00 bucket of 20 minutes.
    body = await get_json(client, f"{base}/fields/1.json?api_key={key}&{DAY_WINDOW}&timescale=20&round=1")
    assert [(f["created_at"][11:16], f["field1"]) for f in body["feeds"]] == [
        ("00:00", "10.0"),
        ("00:20", "20.0"),
        ("00:40", "15.0"),
        ("01:00", "30.0"),
        ("01:20", "31.0"),
        *((at, None) for at in ("01:40", "02:00", "02:20", "02:40")),
        ("03:00", "-4.2"),  # -4.25 to one place, as printf rounds it
    ]


async def test_daily_buckets_start_at_local_midnight(client: TestClient) -> None:
    ch = await new_channel(client)
    # New York: EST (-5) until 2024-03-10 02:00 local, EDT (-4) after.
    await bulk(
        client,
        ch,
        [
            {"created_at": "2024-03-10T04:30:00Z", "field1": "1"},  # Mar 9, 23:30 EST
            {"created_at": "2024-03-10T05:30:00Z", "field1": "2"},  # Mar 10, 00:30 EST
            {"created_at": "2024-03-11T03:30:00Z", "field1": "4"},  # Mar 10, 23:30 EDT
            {"created_at": "2024-03-11T04:30:00Z", "field1": "8"},  # Mar 11, 00:30 EDT
        ],
    )
    base = f"/channels/{ch['id']}/fields/1.json?api_key={ch['read_key']}&results=10"
    body = await get_json(client, f"{base}&sum=daily&timezone=America/New_York")
    assert [(f["created_at"], f["field1"]) for f in body["feeds"]] == [
        ("2024-03-09T00:00:00-05:00", "1.0"),
        ("2024-03-10T00:00:00-05:00", "6.0"),
        ("2024-03-11T00:00:00-04:00", "8.0"),
    ]
    # 1440 minutes stay aligned to the epoch (UTC midnight), whatever the display zone.
    body = await get_json(client, f"{base}&sum=1440&timezone=America/New_York")
    assert [(f["created_at"], f["field1"]) for f in body["feeds"]] == [
        ("2024-03-09T19:00:00-05:00", "3.0"),
        ("2024-03-10T20:00:00-04:00", "12.0"),
    ]
    # A fixed offset (ThingSpeak's legacy `offset`, in hours) moves daily buckets too.
    body = await get_json(client, f"{base}&sum=daily&offset=5")
    assert [(f["created_at"], f["field1"]) for f in body["feeds"]] == [
        ("2024-03-10T00:00:00+05:00", "3.0"),
        ("2024-03-11T00:00:00+05:00", "12.0"),
    ]


# -- filters and display ----------------------------------------------------------------------------


async def test_min_max_round_and_time_zones(client: TestClient) -> None:
    ch, base = await weather(client)
    url = f"{base}/feeds.json?api_key={ch['read_key']}&results=100"
    # An entry goes when any shown numeric value is outside; non-numbers and empty values never exclude.
    body = await get_json(client, f"{url}&min=11&max=55")
    assert [f["entry_id"] for f in body["feeds"]] == [2, 3, 5, 6]
    body = await get_json(client, f"{base}/fields/1.json?api_key={ch['read_key']}&results=100&min=11&max=30.5")
    assert [f["field1"] for f in body["feeds"]] == ["20", "15", "12.5", "30"]
    # Applied to the averages (14.375, 30.5, -4.25), not to the entries averaged.
    body = await get_json(client, f"{base}/fields/1.json?api_key={ch['read_key']}&results=100&average=60&max=30")
    # A bucket left out shows as an empty one, as do buckets without entries, between the first and the last.
    assert [(f["created_at"][11:13], f["field1"]) for f in body["feeds"]] == [
        ("00", "14.375"),
        ("01", None),
        ("02", None),
        ("03", "-4.25"),
    ]

    body = await get_json(client, f"{url}&round=1")
    assert [(f["field1"], f["field2"]) for f in body["feeds"][:4]] == [
        ("10.0", "50.0"),
        ("20.0", "55.0"),
        ("15.0", "n/a"),
        ("12.5", "60.0"),
    ]
    body = await get_json(client, f"{base}/feeds.json?api_key={ch['read_key']}&round=0&results=1")
    assert body["feeds"][0]["field1"] == "-4"

    body = await get_json(client, f"{url}&timezone=Europe/Berlin")
    assert body["feeds"][0]["created_at"] == "2024-03-01T01:05:00+01:00"
    assert body["channel"]["created_at"].endswith("+01:00") or body["channel"]["created_at"].endswith("+02:00")
    body = await get_json(client, f"{url}&offset=-5")
    assert body["feeds"][0]["created_at"] == "2024-02-29T19:05:00-05:00"
    body = await get_json(client, f"{url}&offset=-5&timezone=Asia/Tokyo")  # timezone wins
    assert body["feeds"][0]["created_at"] == "2024-03-01T09:05:00+09:00"
    text = await get_text(client, f"{base}/feeds.csv?api_key={ch['read_key']}&results=1&timezone=Asia/Kolkata")
    assert text.splitlines()[1] == "2024-03-01 08:30:00 +0530,7,-4.25,40"


async def test_result_and_time_windows(client: TestClient) -> None:
    ch, base = await weather(client)
    url = f"{base}/feeds.json?api_key={ch['read_key']}"

    async def ids(query: str) -> list[int]:
        return [f["entry_id"] for f in (await get_json(client, f"{url}&{query}"))["feeds"]]

    assert await ids("results=2") == [6, 7]
    assert await ids("results=0") == []
    assert await ids("start=2024-03-01%2000:20:00&end=2024-03-01%2001:10:00") == [2, 3, 4, 5]
    # start and end are read in the request's time zone.
    assert await ids("start=2024-03-01%2001:20:00&end=2024-03-01%2002:10:00&timezone=Europe/Berlin") == [2, 3, 4, 5]
    assert await ids("start=2024-03-01%2001:00:00&results=2") == [6, 7]

    now = time.time()
    recent = [
        {"created_at": datetime.fromtimestamp(now - seconds, UTC).isoformat(), "field1": str(seconds)}
        for seconds in (5 * 86_400, 2 * 86_400, 7_200, 600)
    ]
    await bulk(client, ch, recent)  # entries 8..11
    assert await ids("days=1") == [10, 11]
    assert await ids("days=3") == [9, 10, 11]
    assert await ids("minutes=30") == [11]
    assert await ids("minutes=180&days=10") == [10, 11]  # minutes wins
    # With no window at all: the last day, as ThingSpeak's default `days=1`; `results` alone reaches further back.
    body = await get_json(client, f"{base}/feeds.json?api_key={ch['read_key']}")
    assert [f["entry_id"] for f in body["feeds"]] == [10, 11]
    assert await ids("results=4") == [8, 9, 10, 11]
    # Above 8000, `results` is read as 8000 (ThingSpeak's cap), not refused.
    assert await ids("results=8001") == list(range(1, 12))
    assert await ids("results=99999999999") == list(range(1, 12))
    assert parse_read({"results": "123456"}, UTC, now=now).limit == MAX_RESULTS


# -- single entries ---------------------------------------------------------------------------------


async def test_last_entries_and_entry_lookup(client: TestClient) -> None:
    ch, base = await weather(client)
    key = ch["read_key"]
    # The last entry is the newest by entry id, even if its time is earlier.
    await bulk(client, ch, [{"created_at": "2024-02-01T00:00:00Z", "field1": "1.26", "status": "early"}])

    assert await get_json(client, f"{base}/feeds/last.json?api_key={key}&round=1&status=true") == {
        "created_at": "2024-02-01T00:00:00Z",
        "entry_id": 8,
        "field1": "1.3",
        "field2": None,
        "status": "early",
    }
    assert await get_json(client, f"{base}/fields/2/last.json?api_key={key}&timezone=Europe/Berlin") == {
        "created_at": "2024-03-01T04:00:00+01:00",
        "entry_id": 7,
        "field2": "40",
    }
    text = await get_text(client, f"{base}/fields/2/last.csv?api_key={key}")
    assert text.splitlines() == ["created_at,entry_id,field2", "2024-03-01 03:00:00 UTC,7,40"]
    feed = ET.fromstring(await get_text(client, f"{base}/feeds/last.xml?api_key={key}"))
    assert feed.tag == "feed"
    assert feed.findtext("entry-id") == "8"
    assert feed.findtext("field1") == "1.26"

    assert await get_json(client, f"{base}/feeds/entry/3.json?api_key={key}") == {
        "created_at": "2024-03-01T00:40:00Z",
        "entry_id": 3,
        "field1": "15",
        "field2": "n/a",
    }
    assert (await get_json(client, f"{base}/feeds/3.json?api_key={key}"))["entry_id"] == 3  # ThingSpeak's path
    text = await get_text(client, f"{base}/feeds/entry/4.csv?api_key={key}&location=true")
    assert text.splitlines() == [
        "created_at,entry_id,field1,field2,latitude,longitude,elevation",
        "2024-03-01 00:50:00 UTC,4,12.5,60,,,",
    ]
    assert ET.fromstring(await get_text(client, f"{base}/feeds/entry/1.xml?api_key={key}")).findtext("field2") == "50"

    # Missing: -1 as CSV text, ThingSpeak's 404 error in JSON and XML.
    missing = await get_json(client, f"{base}/feeds/entry/99.json?api_key={key}", 404)
    assert missing["error"]["error_code"] == "error_resource_not_found"
    assert await get_text(client, f"{base}/feeds/entry/99.csv?api_key={key}", 404) == "-1"
    error = ET.fromstring(await get_text(client, f"{base}/feeds/entry/99.xml?api_key={key}", 404))
    assert error.findtext("error-code") == "error_resource_not_found"
    assert await get_text(client, f"{base}/fields/5/last.csv?api_key={key}", 404) == "-1"
    bad = await get_json(client, f"{base}/feeds/entry/abc.json?api_key={key}", 400)
    assert "entry" in bad["error"]["details"]

    empty = await new_channel(client)
    url = f"/channels/{empty['id']}/feeds/last"
    assert (await get_json(client, f"{url}.json?api_key={empty['read_key']}", 404))["status"] == "404"
    assert await get_text(client, f"{url}.csv?api_key={empty['read_key']}", 404) == "-1"


async def test_status_feed(client: TestClient) -> None:
    ch = await new_channel(client, latitude=51.5, longitude=-0.125)
    now = time.time()

    def at(seconds_ago: float) -> str:
        return datetime.fromtimestamp(now - seconds_ago, UTC).isoformat()

    await bulk(
        client,
        ch,
        [
            {"created_at": at(3 * 86_400), "field1": "1", "status": "old news"},
            {"created_at": at(3_600), "field1": "2", "status": "booting"},
            {"created_at": at(1_800), "field1": "3"},
            {"created_at": at(60), "field1": "4", "status": 'all good, "really"'},
        ],
    )
    base = f"/channels/{ch['id']}/status"
    body = await get_json(client, f"{base}.json?api_key={ch['read_key']}")
    assert body["channel"] == {"name": "Weather", "latitude": "51.5", "longitude": "-0.125"}
    assert [(f["entry_id"], f["status"]) for f in body["feeds"]] == [(2, "booting"), (4, 'all good, "really"')]
    assert set(body["feeds"][0]) == {"created_at", "entry_id", "status"}
    # One day by default, even with `results`; `days` reaches further.
    body = await get_json(client, f"{base}.json?api_key={ch['read_key']}&results=1")
    assert [f["entry_id"] for f in body["feeds"]] == [4]
    body = await get_json(client, f"{base}.json?api_key={ch['read_key']}&days=7")
    assert [f["entry_id"] for f in body["feeds"]] == [1, 2, 4]
    text = await get_text(client, f"{base}.csv?api_key={ch['read_key']}")
    lines = text.splitlines()
    assert lines[0] == "created_at,entry_id,status"
    assert lines[2].endswith(',4,"all good, ""really"""')
    root = ET.fromstring(await get_text(client, f"{base}.xml?api_key={ch['read_key']}"))
    assert root.findtext("name") == "Weather"
    assert [f.findtext("status") for f in root.findall("feeds/feed")] == ["booting", 'all good, "really"']


async def test_last_data_age(client: TestClient) -> None:
    ch = await new_channel(client)
    now = time.time()
    await bulk(
        client,
        ch,
        [
            {"created_at": datetime.fromtimestamp(now - 120, UTC).isoformat(), "field1": "1"},
            {"created_at": datetime.fromtimestamp(now - 30, UTC).isoformat(), "field2": "2"},
        ],
    )
    base = f"/channels/{ch['id']}/fields"
    body = await get_json(client, f"{base}/1/last_data_age.json?api_key={ch['read_key']}")
    assert body["last_data_age_units"] == "s"
    assert 120 <= int(body["last_data_age"]) <= 130
    text = await get_text(client, f"{base}/2/last_data_age.csv?api_key={ch['read_key']}")
    header, row = text.splitlines()
    assert header == "last_data_age,last_data_age_units"
    assert 30 <= int(row.split(",")[0]) <= 40
    assert row.endswith(",s")
    root = ET.fromstring(await get_text(client, f"{base}/1/last_data_age.xml?api_key={ch['read_key']}"))
    assert 120 <= int(root.findtext("last-data-age") or "0") <= 130
    await get_json(client, f"{base}/3/last_data_age.json?api_key={ch['read_key']}", 404)


# -- who may read, and bad input --------------------------------------------------------------------


async def test_private_channels_need_a_read_or_write_key(client: TestClient) -> None:
    ch, base = await weather(client)
    paths = [
        "feeds.json?results=1",
        "fields/1.json?results=1",
        "feeds/last.json",
        "fields/1/last.json",
        "fields/1/last_data_age.json",
        "feeds/entry/1.json",
        "status.json",
    ]
    for path in paths:
        for key in ("", "&api_key=WRONGKEY00000000", "&key=WRONGKEY00000000"):
            url = f"{base}/{path}{'&' if '?' in path else '?'}{key.lstrip('&')}"
            body = await get_json(client, url, 401)
            assert body["error"]["error_code"] == "error_auth_required", url
        sep = "&" if "?" in path else "?"
        await get_json(client, f"{base}/{path}{sep}api_key={ch['read_key']}")
        # ThingSpeak lets a channel's write key read it, and devices put keys in `key` or `apikey` too.
        await get_json(client, f"{base}/{path}{sep}api_key={ch['write_key']}")
        await get_json(client, f"{base}/{path}{sep}key={ch['read_key']}")
        await get_json(client, f"{base}/{path}{sep}apikey={ch['write_key']}")
        await get_json(client, f"{base}/{path}{sep}api_key={ch['user_key']}")  # the owner's user API key
        resp = await client.get(f"{base}/{path}", headers={"THINGSPEAKAPIKEY": ch["read_key"]})
        assert resp.status == 200, path
        resp = await client.get(f"{base}/{path}", headers=bearer(ch["grant"]))  # the owner, signed in
        assert resp.status == 200, path
    assert await get_text(client, f"{base}/feeds.csv", 401) == "-1"  # the Read Data doc's answer without access
    error = ET.fromstring(await get_text(client, f"{base}/feeds.xml", 401))
    assert error.findtext("error-code") == "error_auth_required"

    # Another owner's read key opens nothing here; unknown channels are 404 in every format.
    other = await new_channel(client)
    await get_json(client, f"{base}/feeds.json?api_key={other['read_key']}", 401)
    assert (await get_json(client, "/channels/987654321/feeds.json", 404))["status"] == "404"
    assert await get_text(client, "/channels/987654321/fields/1.csv", 404) == "-1"

    _, public_base = await weather(client, public_flag=True)
    body = await get_json(client, f"{public_base}/feeds.json?results=2")
    assert [f["entry_id"] for f in body["feeds"]] == [6, 7]


async def test_bad_parameters_are_refused_naming_them(client: TestClient) -> None:
    ch, base = await weather(client)
    url = f"{base}/feeds.json?api_key={ch['read_key']}"
    cases = [
        ("results=abc", "results"),
        ("results=-1", "results"),
        ("days=two", "days"),
        ("minutes=0", "minutes"),
        ("start=yesterday", "start"),
        ("end=2024-13-45%2000:00:00", "end"),
        ("start=2024-03-02&end=2024-03-01", "start"),
        ("timezone=Mars/Olympus_Mons", "timezone"),
        ("offset=abc", "offset"),
        ("timescale=7", "timescale"),
        ("average=hourly", "average"),
        ("sum=60&median=45", "median"),
        ("round=11", "round"),
        ("round=-1", "round"),
        ("round=1.5", "round"),
        ("min=abc", "min"),
        ("max=nan", "max"),
    ]
    for query, name in cases:
        body = await get_json(client, f"{url}&{query}", 400)
        assert body["error"]["error_code"] == "error_bad_request", query
        assert name in body["error"]["details"], (query, body)
    for path in (
        "fields/0.json",
        "fields/9.json",
        "fields/x.json",
        "fields/9/last.json",
        "fields/0/last_data_age.json",
    ):
        body = await get_json(client, f"{base}/{path}?api_key={ch['read_key']}", 400)
        assert "field" in body["error"]["details"], path
    assert await get_text(client, f"{base}/feeds.csv?api_key={ch['read_key']}&results=x", 400) == "0"
    error = ET.fromstring(await get_text(client, f"{base}/feeds.xml?api_key={ch['read_key']}&round=99", 400))
    assert "round" in (error.findtext("details") or "")


# -- streaming --------------------------------------------------------------------------------------


async def test_an_export_of_8000_rows_streams_complete_and_in_order(client: TestClient) -> None:
    ch = await new_channel(client)
    start = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    updates = [
        {"created_at": datetime.fromtimestamp(start + 60 * i, UTC).isoformat(), "field1": str(i), "field2": str(-i)}
        for i in range(8000)
    ]
    await bulk(client, ch, updates)
    base = f"/channels/{ch['id']}/feeds"

    resp = await client.get(f"{base}.csv?api_key={ch['read_key']}&results=8000")
    assert resp.status == 200
    assert resp.headers.get("Transfer-Encoding") == "chunked"  # streamed, not built whole
    lines = (await resp.text()).splitlines()
    assert lines[0] == "created_at,entry_id,field1,field2"
    assert len(lines) == 8001
    assert lines[1] == "2024-01-01 00:00:00 UTC,1,0,0"
    assert [int(line.split(",")[1]) for line in lines[1:]] == list(range(1, 8001))
    assert lines[-1].endswith(",8000,7999,-7999")

    body = await get_json(client, f"{base}.json?api_key={ch['read_key']}&results=8000")
    assert [f["entry_id"] for f in body["feeds"]] == list(range(1, 8001))
    assert body["feeds"][4321]["field1"] == "4321"
    root = ET.fromstring(await get_text(client, f"{base}.xml?api_key={ch['read_key']}&results=8000"))
    assert len(root.findall("feeds/feed")) == 8000

    # Aggregating the whole export in the database: sums of 8000 minutes in 1440-minute buckets.
    body = await get_json(client, f"/channels/{ch['id']}/fields/1.json?api_key={ch['read_key']}&results=8000&sum=1440")
    sums = [float(sum(range(d * 1440, min((d + 1) * 1440, 8000)))) for d in range(6)]
    assert [f["field1"] for f in body["feeds"]] == [repr(s) for s in sums]
