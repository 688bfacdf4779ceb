"""Writing points: parse and check them, hold to a channel's minimum update interval, write through the batch
writer (acknowledged after commit), then tell listeners (live subscribers, MQTT, rules) what was written."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, tzinfo
from typing import Any

from server.errors import TooManyRequests
from server.iot.thingspeak import MAX_FIELD, ThingSpeakError, check_text, parse_time
from server.storage.batch import BatchWriter, QueueFullError, WriterClosedError
from server.storage.channels import Channel, ChannelGoneError, DuplicateTimestampError, FeedWrite, Point, Written
from server.wiring import Signal

log = logging.getLogger(__name__)

MAX_BULK = 14_400  # ThingSpeak's limit on points in one bulk update
# How far ahead of the server's clock a created_at may be: a device's clock a little fast, or local time sent
# without its offset (up to UTC+14), but not a wrong year or milliseconds taken for seconds.
MAX_AHEAD = 24 * 3600


def _text(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        text = repr(value) if isinstance(value, float) else str(value)  # (no control characters in a number)
        if len(text) > MAX_FIELD:
            raise ThingSpeakError("{field} is longer than {limit} characters", field=name, limit=MAX_FIELD)
        return text
    if not isinstance(value, str):
        raise ThingSpeakError("{field} must be a string or a number", field=name)
    value = value.rstrip("\r\n")  # sketches end their bodies with a line break: not part of the value
    if len(value) > MAX_FIELD:
        raise ThingSpeakError("{field} is longer than {limit} characters", field=name, limit=MAX_FIELD)
    check_text(value, name)
    return value


_FIELD_NAMES = tuple(f"field{n}" for n in range(1, 9))
_LOCATION_NAMES = frozenset({"lat", "latitude", "long", "longitude", "elevation"})


def _coordinate(params: Mapping[str, Any], names: Sequence[str], low: float, high: float) -> float | None:
    for name in names:
        raw = _text(params, name)
        if raw is None or raw == "":
            continue
        try:
            value = float(raw)
        except ValueError:
            raise ThingSpeakError("{field} must be a number", field=name) from None
        if not low <= value <= high:
            raise ThingSpeakError(
                "{field} must be between {low} and {high}", field=name, low=f"{low:g}", high=f"{high:g}"
            )
        return value
    return None


def parse_point(params: Mapping[str, Any], *, now: float, tz: tzinfo = UTC, allow_time: bool = True) -> Point:
    """A point from ThingSpeak's parameters (field1..field8, lat/long/elevation, status, created_at)."""
    point = Point(created_at=now)
    fields = point.fields
    # This runs for every point written: look up only the names that are present.
    for index, name in enumerate(_FIELD_NAMES):
        if name in params:
            fields[index] = _text(params, name)
    if _LOCATION_NAMES & params.keys():
        point.latitude = _coordinate(params, ("lat", "latitude"), -90, 90)
        point.longitude = _coordinate(params, ("long", "longitude"), -180, 180)
        point.elevation = _coordinate(params, ("elevation",), -20_000, 100_000)
    if "status" in params:
        point.status = _text(params, "status")
    created = _text(params, "created_at") if "created_at" in params else None
    if created and allow_time:
        point.created_at = write_time(created, tz, now=now)
        point.explicit_time = True
    point.checked = True  # every text above went through check_text
    return point


def write_time(value: str, tz: tzinfo, *, now: float) -> float:
    """A point's created_at (see `parse_time`): since 1970, and at most `MAX_AHEAD` past the server's clock."""
    created = parse_time(value, tz)
    if created > now + MAX_AHEAD:
        ahead = (created - now) / 3600
        raise ThingSpeakError(
            "{field}: {value} is {hours} hours ahead of the server's clock (at most {limit} accepted);"
            " is the device's clock or time zone set?",
            field="created_at",
            value=repr(value[:40]),
            hours=f"{ahead:,.0f}",
            limit=MAX_AHEAD // 3600,
        )
    return created


def in_row(exc: ThingSpeakError, where: str) -> ThingSpeakError:
    """`exc` about one update of several: `field2 is ...` becomes `updates[3].field2 is ...`, and so its field. A
    message that starts with its `{field}` keeps its template (and so its translations), the field named anew."""
    if exc.field and (exc.field == where or exc.field.startswith(where + ".")):
        return exc  # names the update already
    if exc.field and exc.message.startswith(exc.field):
        field = f"{where}.{exc.field}"
        if exc.template.startswith("{field}"):
            params = {name: value for name, value in exc.params.items() if name != "field"}
            return ThingSpeakError(exc.template, field=field, status=exc.status, **params)
        # (None of ours: a message that starts with its field spells it `{field}`. Its text stays English.)
        return ThingSpeakError("{where}.{reason}", field=field, status=exc.status, where=where, reason=exc.message)
    reason = exc.message.removeprefix(where + ": ")  # (None of ours either: every error in an update names a field.)
    return ThingSpeakError("{where}: {reason}", field=where, status=exc.status, where=where, reason=reason)


def require_content(point: Point) -> None:
    """A single update must carry something: a field, a status or a location."""
    if all(v is None for v in point.fields) and point.status is None and point.latitude is None:
        raise ThingSpeakError("nothing to write: send at least one field, status or location")


def parse_bulk_json(updates: Any, *, now: float, tz: tzinfo = UTC) -> list[Point]:
    """Bulk JSON updates: each with created_at (absolute) or delta_t (seconds since the previous entry).

    With delta_t, the last entry is placed at the upload time and the others before it, as a device that
    buffered its readings and uploads them at once would expect.
    """
    if not isinstance(updates, list) or not updates:
        raise ThingSpeakError("updates must be a non-empty list", field="updates")
    if len(updates) > MAX_BULK:
        raise ThingSpeakError("at most {limit} updates in one call", field="updates", status=413, limit=MAX_BULK)
    points: list[Point] = []
    deltas: list[float | None] = []
    for index, update in enumerate(updates):
        # This runs for every point of an upload: the name of the update is made only for an error.
        if not isinstance(update, dict):
            raise ThingSpeakError("updates[{index}] must be an object", field=f"updates[{index}]", index=index)
        if not _BULK_KEYS.issuperset(update):
            unknown = sorted(set(update) - _BULK_KEYS)[0]
            raise ThingSpeakError(
                "updates[{index}] has an unknown member {name}",
                field=f"updates[{index}]",
                index=index,
                name=repr(unknown),
            )
        try:
            point = parse_point(update, now=now, tz=tz)
            delta = _text(update, "delta_t") if "delta_t" in update else None
        except ThingSpeakError as exc:
            raise in_row(exc, f"updates[{index}]") from None
        if point.explicit_time == (delta is not None):
            raise ThingSpeakError(
                "updates[{index}] needs either created_at or delta_t", field=f"updates[{index}]", index=index
            )
        deltas.append(_delta(delta, f"updates[{index}]", first=index == 0) if delta is not None else None)
        points.append(point)
    _place_relative(points, deltas, now)
    return points


_BULK_KEYS = frozenset(
    {
        "created_at",
        "delta_t",
        *(f"field{n}" for n in range(1, 9)),
        "latitude",
        "longitude",
        "lat",
        "long",
        "elevation",
        "status",
    }
)


def _delta(raw: str, where: str, *, first: bool) -> float:
    field = f"{where}.delta_t"
    try:
        value = float(raw)
    except ValueError:
        raise ThingSpeakError("{field} must be a number of seconds", field=field) from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not first):
        raise ThingSpeakError("{field} must be a positive number of seconds (zero only first)", field=field)
    return value


def _place_relative(points: list[Point], deltas: list[float | None], now: float) -> None:
    if all(d is None for d in deltas):
        return
    if any(d is None for d in deltas):
        raise ThingSpeakError(
            "updates: use created_at in every update or delta_t in every update, not both", field="updates"
        )
    offsets = [0.0]
    for delta in deltas[1:]:
        offsets.append(offsets[-1] + float(delta or 0))
    if offsets[-1] > now:
        raise ThingSpeakError("updates: the delta_t values add up to a first update before 1970", field="updates")
    for point, offset in zip(points, offsets, strict=True):
        point.created_at = now - offsets[-1] + offset
        point.explicit_time = True


def parse_bulk_csv(updates: str, time_format: str, *, now: float, tz: tzinfo = UTC) -> list[Point]:
    """Bulk CSV: `time,field1,...,field8,latitude,longitude,elevation,status|...` (time absolute or relative)."""
    if time_format not in ("absolute", "relative"):
        raise ThingSpeakError("time_format must be absolute or relative", field="time_format")
    rows = [r for r in updates.split("|") if r.strip()]
    if not rows:
        raise ThingSpeakError("updates is empty", field="updates")
    if len(rows) > MAX_BULK:
        raise ThingSpeakError("at most {limit} updates in one call", field="updates", status=413, limit=MAX_BULK)
    names = ["time", *(f"field{n}" for n in range(1, 9)), "latitude", "longitude", "elevation", "status"]
    points: list[Point] = []
    deltas: list[float | None] = []
    for index, row in enumerate(rows):
        where = f"updates[{index}]"
        cells = row.split(",")
        if len(cells) > len(names):
            raise ThingSpeakError(
                "updates[{index}] has {count} values; at most {limit}",
                field=where,
                index=index,
                count=len(cells),
                limit=len(names),
            )
        params = {name: cell for name, cell in zip(names, cells, strict=False) if cell != ""}
        stamp = params.pop("time", None)
        if stamp is None:
            raise ThingSpeakError("updates[{index}] has no time", field=where, index=index)
        try:
            point = parse_point(params, now=now, tz=tz)
            if time_format == "absolute":
                point.created_at = write_time(stamp, tz, now=now)
                point.explicit_time = True
                deltas.append(None)
            else:
                deltas.append(_delta(stamp, where, first=index == 0))
        except ThingSpeakError as exc:
            raise in_row(exc, where) from None
        points.append(point)
    _place_relative(points, deltas, now)
    return points


def _check_values(points: Sequence[Point]) -> None:
    many = len(points) > 1
    for index, point in enumerate(points):
        if point.checked:
            continue
        try:
            for n, value in enumerate(point.fields, start=1):
                if value:
                    check_text(value, f"field{n}")
            if point.status:
                check_text(point.status, "status")
        except ThingSpeakError as exc:
            raise in_row(exc, f"updates[{index}]") if many else exc from None


class FeedService:
    def __init__(self, writer: BatchWriter[FeedWrite, Written], clock: Callable[[], float] = time.time) -> None:
        self._writer = writer
        self._clock = clock
        self._last_accepted: dict[int, float] = {}
        self.written: Signal[[Channel, Written], None] = Signal("points_written")  # after each commit

    def now(self) -> float:
        return self._clock()

    def _hold_interval(self, channel: Channel) -> None:
        """Refuse a write that comes sooner than the channel's minimum update interval (off unless set)."""
        interval = channel.min_update_seconds
        if not interval:
            return
        now = time.monotonic()
        last = self._last_accepted.get(channel.id)
        if last is not None and now - last < interval:
            raise TooManyRequests(
                interval - (now - last), "this channel takes one update per {interval} s", interval=f"{interval:g}"
            )
        self._last_accepted[channel.id] = now

    async def write(self, channel: Channel, points: Sequence[Point], *, bulk: bool = False) -> Written:
        """Write points to a channel, all or none; returns once they are committed, with their entry ids. A
        value with a control character is refused here, whoever writes it (devices, MQTT, rules, TalkBack).
        `bulk`: a bulk update, which listeners may treat apart (MQTT does not republish it)."""
        _check_values(points)
        self._hold_interval(channel)
        try:
            written = await self._writer.submit(FeedWrite(channel.id, points))
        except DuplicateTimestampError as exc:
            if exc.in_one_write:
                raise ThingSpeakError("two points carry the same created_at", field="created_at", status=409) from None
            raise ThingSpeakError(
                "a point with that created_at already exists in this channel", field="created_at", status=409
            ) from None
        except ChannelGoneError:
            raise ThingSpeakError("The channel was not found.", status=404) from None
        except QueueFullError as exc:
            raise ThingSpeakError(
                "the server is taking too many writes just now; send them again",
                status=503,
                headers={"Retry-After": str(round(exc.retry_after) or 1)},
            ) from None
        except WriterClosedError:
            raise ThingSpeakError(
                "the server is shutting down; send it again", status=503, headers={"Retry-After": "1"}
            ) from None
        except Exception:
            # Not acknowledged, so nothing is lost: the device is told to try again (as after a 503).
            log.exception("writing points to channel %d failed", channel.id)
            raise ThingSpeakError(
                "the points could not be stored just now; send them again", status=503, headers={"Retry-After": "1"}
            ) from None
        if bulk:
            written = dataclasses.replace(written, bulk=True)
        for listener in self.written:
            try:
                listener(channel, written)
            except Exception:
                log.exception("feed listener failed")
        return written
