"""Reading feeds as ThingSpeak does: request parameters become a `ReadSpec`, a spec becomes entries (ThingSpeak's
dicts) from storage, with the bucket maths of timescale / sum / average / median.

ThingSpeak behaviour we had to choose, where its documentation and its open-source server leave room:
- Window: without results, days, minutes, start or end, a feed covers the last day (the documented default of
  `days`) and at most 100 entries; `results` alone lifts the one-day window; any window parameter raises the
  cap to 8000. `minutes` wins over `days`; `start` wins over both. The status feed keeps its one-day default
  even with `results` (its documentation says to pass `days` for more).
- `results` counts raw entries, newest first, before aggregation and min/max (documented: fewer may return).
- Aggregates: with several of timescale / sum / average / median, the first in that order wins (as ThingSpeak's
  server). Buckets with no entries between the first and the last are filled with empty entries (created_at and
  null fields), as ThingSpeak's server fills them, at most MAX_RESULTS of them in one answer. Timescale entries
  carry the entry_id of their bucket's first entry (null when empty); sums, averages and medians have none.
  Sums and medians use numeric values only; an average divides by all the bucket's entries, so a value that is
  no number counts as 0 (the Read Data documentation: "NaN values are interpreted as 0").
- `results` above 8000 is read as 8000, as ThingSpeak does, rather than refused.
- min / max drop a whole entry when any shown field's numeric value is outside (applied after aggregation; a
  bucket dropped so shows as an empty one when it lies between others).
- `offset` (hours) is used only when `timezone` is absent.
- fields/{n} shows field n even when the channel has not named it; feeds show the named fields only.
- The status feed lists only entries that carry a status.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from datetime import time as clock_time
from typing import Any

from server.iot.thingspeak import ThingSpeakError, entry_dict, format_time, parse_time
from server.storage.channels import Channel, as_number
from server.storage.database import Row
from server.storage.feeds import Bounds, FeedReadRepository, Window
from server.web.params import INT64_MAX, int_param, require_int, whole_number

MAX_RESULTS = 8000
DEFAULT_RESULTS = 100
BUCKET_MINUTES = (10, 15, 20, 30, 60, 240, 720, 1440)
AGGREGATES = ("timescale", "sum", "average", "median")  # ThingSpeak's precedence when several are given
MAX_ROUND = 10
DAY = 86_400
_EPOCH_DAY = date(1970, 1, 1).toordinal()

Entry = tuple[float, dict[str, Any]]  # (created_at in epoch seconds, the entry as ThingSpeak shows it)


@dataclass(frozen=True)
class Buckets:
    kind: str  # timescale | sum | average | median
    seconds: int
    local_days: bool  # "daily": days start at midnight in the request's time zone, not at the epoch's


@dataclass(frozen=True)
class ReadSpec:
    tz: tzinfo
    start: float | None = None
    end: float | None = None
    limit: int = DEFAULT_RESULTS
    status: bool = False
    location: bool = False
    metadata: bool = False
    minimum: float | None = None
    maximum: float | None = None
    digits: int | None = None
    buckets: Buckets | None = None


# -- parameters -------------------------------------------------------------------------------------


def _given(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _integer(params: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    return int_param(_given(params, name), name, low=low, high=high, signed=True)


def _decimal(params: Mapping[str, Any], name: str) -> float | None:
    text = _given(params, name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ThingSpeakError("{field} must be a number", field=name)
    return value


def _flag(params: Mapping[str, Any], name: str) -> bool:
    return (_given(params, name) or "").lower() == "true"


def offset_zone(value: str | None) -> tzinfo:
    """ThingSpeak's legacy `offset`: a fixed offset from UTC in hours (quarter hours allowed); UTC when absent."""
    text = (value or "").strip()
    if not text:
        return UTC
    try:
        hours = float(text)
    except ValueError:
        hours = math.nan
    if not (-12 <= hours <= 14) or (hours * 4) % 1:
        raise ThingSpeakError("offset must be hours from -12 to 14", field="offset")
    return timezone(timedelta(hours=hours)) if hours else UTC


def _buckets(params: Mapping[str, Any]) -> Buckets | None:
    chosen: Buckets | None = None
    for name in AGGREGATES:
        text = _given(params, name)
        if text is None:
            continue
        if text.lower() == "daily":
            found = Buckets(name, DAY, local_days=True)
        elif (minutes := whole_number(text)) in BUCKET_MINUTES:
            found = Buckets(name, minutes * 60, local_days=False)
        else:
            allowed = ", ".join(str(m) for m in BUCKET_MINUTES)
            raise ThingSpeakError("{field} must be one of {allowed} (minutes) or daily", field=name, allowed=allowed)
        chosen = chosen or found
    return chosen


def parse_read(params: Mapping[str, Any], tz: tzinfo, *, now: float, status_feed: bool = False) -> ReadSpec:
    """A read's parameters, checked; bad ones are refused naming the parameter (see the module for choices)."""
    results = _integer(params, "results", 0, INT64_MAX)
    if results is not None:
        results = min(results, MAX_RESULTS)
    minutes = _integer(params, "minutes", 1, 100 * 366 * 1440)
    days = _integer(params, "days", 1, 100 * 366)
    start = end = None
    if minutes is not None:
        start = now - minutes * 60
    elif days is not None:
        start = now - days * DAY
    text = _given(params, "start")
    if text is not None:
        start = parse_time(text, tz, name="start")
    text = _given(params, "end")
    if text is not None:
        end = parse_time(text, tz, name="end")
    windowed = start is not None or end is not None
    if start is not None and end is not None and start > end:
        raise ThingSpeakError("start is after end", field="start")
    if not windowed and (status_feed or results is None):
        start = now - DAY
    limit = MAX_RESULTS if windowed or status_feed else DEFAULT_RESULTS
    if results is not None:
        limit = results
    return ReadSpec(
        tz=tz,
        start=start,
        end=end,
        limit=limit,
        status=_flag(params, "status"),
        location=_flag(params, "location"),
        metadata=_flag(params, "metadata"),
        minimum=_decimal(params, "min"),
        maximum=_decimal(params, "max"),
        digits=_integer(params, "round", 0, MAX_ROUND),
        buckets=_buckets(params),
    )


def parse_entry_id(value: str) -> int:
    return require_int(value, "entry")


def parse_field(value: str) -> int:
    if value not in {str(n) for n in range(1, 9)}:
        raise ThingSpeakError("field must be a number from 1 to 8", field="field")
    return int(value)


def shown_fields(channel: Channel, field: int | None = None) -> tuple[int, ...]:
    """The fields an entry shows: the one asked for, or the channel's named fields (as ThingSpeak)."""
    if field is not None:
        return (field,)
    return tuple(n for n, name in enumerate(channel.fields, start=1) if name)


def feed_columns(spec: ReadSpec, fields: tuple[int, ...]) -> list[str]:
    """The names of an entry's members, in order: the CSV header."""
    if spec.buckets is not None:
        first = ["entry_id"] if spec.buckets.kind == "timescale" else []
        return ["created_at", *first, *(f"field{n}" for n in fields)]
    columns = ["created_at", "entry_id", *(f"field{n}" for n in fields)]
    if spec.location:
        columns += ["latitude", "longitude", "elevation"]
    if spec.status:
        columns.append("status")
    return columns


# -- bucket maths -----------------------------------------------------------------------------------


def _utc_offset(tz: tzinfo, epoch: float) -> int:
    delta = datetime.fromtimestamp(epoch, tz).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def utc_offsets(tz: tzinfo, low: float, high: float) -> list[tuple[int, int]]:
    """(from when, UTC offset in seconds) for every rule of `tz` in force between `low` and `high`, oldest first.

    Found by stepping a day at a time and bisecting each change to the second (zones change at most once a day).
    """
    at = math.floor(low)
    current = _utc_offset(tz, at)
    found = [(at, current)]
    while at < high:
        step = min(at + DAY, math.ceil(high))
        offset = _utc_offset(tz, step)
        if offset != current:
            before, after = at, step
            while after - before > 1:
                middle = (before + after) // 2
                before, after = (middle, after) if _utc_offset(tz, middle) == current else (before, middle)
            found.append((after, offset))
            current = offset
        at = step
    return found


def bucket_start(key: int, buckets: Buckets, tz: tzinfo) -> float:
    """When bucket number `key` begins: key * width since the epoch, or the local midnight of local day `key`."""
    if not buckets.local_days:
        return float(key * buckets.seconds)
    day = date.fromordinal(_EPOCH_DAY + key)
    return datetime.combine(day, clock_time(), tzinfo=tz).timestamp()


# -- values -----------------------------------------------------------------------------------------


def rounded(value: str | None, digits: int | None) -> str | None:
    """A field's text, rounded to `digits` decimals when it is a number (ThingSpeak's `round`)."""
    if value is None or digits is None:
        return value
    number = as_number(value)
    return value if number is None else f"{number:.{digits}f}"


def computed(value: float | None, digits: int | None) -> str | None:
    """A sum, average or median as ThingSpeak writes it: `21.5`, `20.0`, or rounded to `digits` decimals."""
    if value is None:
        return None
    return repr(float(value)) if digits is None else f"{float(value):.{digits}f}"


# -- the service ------------------------------------------------------------------------------------


class FeedReader:
    def __init__(self, repo: FeedReadRepository, clock: Callable[[], float] = time.time) -> None:
        self.repo = repo
        self._clock = clock

    def now(self) -> float:
        return self._clock()

    def _entry(self, row: Row, spec: ReadSpec, fields: tuple[int, ...]) -> Entry:
        created_at = float(row["created_at"])
        values: list[str | None] = [None] * 8
        for n in fields:
            values[n - 1] = rounded(row[f"field{n}"], spec.digits)
        body = entry_dict(
            int(row["entry_id"]),
            created_at,
            values,
            spec.tz,
            latitude=row["latitude"],
            longitude=row["longitude"],
            elevation=row["elevation"],
            status=row["status"],
            only=fields,
            location=spec.location,
            with_status=spec.status,
        )
        return created_at, body

    async def feed(self, channel: Channel, spec: ReadSpec, fields: tuple[int, ...]) -> AsyncGenerator[Entry, None]:
        """The entries of a feed read, oldest first, streamed from the database."""
        window = Window(channel.id, spec.start, spec.end, spec.limit)
        bounds = Bounds(fields, spec.minimum, spec.maximum)
        if spec.buckets is None:
            async with aclosing(self.repo.entries(window, bounds)) as raw:
                async for row in raw:
                    yield self._entry(row, spec, fields)
            return
        buckets = spec.buckets
        offsets: list[tuple[int, int]] = []
        if buckets.local_days:
            if isinstance(spec.tz, timezone):
                offsets = [(0, _utc_offset(spec.tz, 0))]
            else:
                span = await self.repo.time_range(window)
                if span is None:
                    return
                offsets = utc_offsets(spec.tz, *span)
        rows = self.repo.buckets(window, bounds, kind=buckets.kind, seconds=buckets.seconds, offsets=offsets)
        previous: int | None = None
        empties = MAX_RESULTS
        async with aclosing(rows):
            async for row in rows:
                key = int(row["bucket"])
                if previous is not None:
                    for gap in range(previous + 1, min(key, previous + 1 + empties)):
                        empties -= 1
                        yield self._bucket(gap, buckets, spec, fields, None)
                previous = key
                yield self._bucket(key, buckets, spec, fields, row)

    @staticmethod
    def _bucket(key: int, buckets: Buckets, spec: ReadSpec, fields: tuple[int, ...], row: Row | None) -> Entry:
        """One aggregated entry; `row` None: an empty bucket, as ThingSpeak shows one (null values)."""
        start = bucket_start(key, buckets, spec.tz)
        body: dict[str, Any] = {"created_at": format_time(start, spec.tz)}
        timescale = buckets.kind == "timescale"
        if timescale:
            body["entry_id"] = None if row is None else int(row["entry_id"])
        for n in fields:
            value = None if row is None else row[f"v{n}"]
            body[f"field{n}"] = rounded(value, spec.digits) if timescale else computed(value, spec.digits)
        return start, body

    async def statuses(self, channel: Channel, spec: ReadSpec) -> AsyncGenerator[Entry, None]:
        """Entries that carry a status (ThingSpeak's status feed), oldest first."""
        window = Window(channel.id, spec.start, spec.end, spec.limit, status_only=True)
        async with aclosing(self.repo.entries(window, Bounds(()))) as raw:
            async for row in raw:
                created_at = float(row["created_at"])
                body = entry_dict(
                    int(row["entry_id"]), created_at, [], spec.tz, status=row["status"], only=(), with_status=True
                )
                yield created_at, body

    async def entry(self, channel: Channel, entry_id: int, spec: ReadSpec, fields: tuple[int, ...]) -> Entry | None:
        row = await self.repo.entry(channel.id, entry_id)
        return None if row is None else self._entry(row, spec, fields)

    async def last(
        self, channel: Channel, spec: ReadSpec, fields: tuple[int, ...], field: int | None = None
    ) -> Entry | None:
        """The newest entry, or the newest with a value in `field`."""
        row = await self.repo.last(channel.id, field)
        return None if row is None else self._entry(row, spec, fields)

    async def last_data_age(self, channel: Channel, field: int) -> int | None:
        """Whole seconds since the newest value in `field`."""
        row = await self.repo.last(channel.id, field)
        return None if row is None else max(0, int(self.now() - float(row["created_at"])))
