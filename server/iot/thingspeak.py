"""ThingSpeak's wire formats: timestamps, entries and channels as JSON, XML and CSV, and its error bodies.

Exports cannot be turned against their readers. Control characters (other than tab, line feed and carriage
return) are refused when points are written (`check_text`), and any that still reach an XML document (older
rows, other text) are replaced by U+FFFD, so every XML document is well-formed. A CSV cell that a spreadsheet
would run as a formula (starting with =, +, -, @, tab or carriage return, and not a plain number such as
-12.5) gets a leading apostrophe when exported (OWASP's CSV injection advice); the stored value, and every
other format, stays as written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server.errors import ApiError
from server.storage.channels import FIELDS, Channel, Point

MAX_FIELD = 255  # ThingSpeak's limit for a field value and for status
_EPOCH = re.compile(r"\d{9,11}(\.\d+)?")  # 1973 to 5138; shorter numbers are more likely a mistake
_EPOCH_MILLIS = re.compile(r"\d{12,14}(\.\d+)?")
_LAST_YEAR = 2200
# A date and time as ThingSpeak writes it (Ruby's `2018-03-07 10:26:02 UTC`, `2018-01-30 10:26:02 -0500`), as
# ISO 8601 does (`2018-03-07T10:26:02.5Z`, `+05:30`), and as firmware prints it without zero padding
# (`2018-3-7 9:26:2`). A space before two or four digits is a `+` offset that came unencoded in a query string.
_DATE_TIME = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})(?:T|\s+)(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:[.,](\d+))?)?"
    r"\s*(?:(Z|UTC|GMT)|([+\- ])\s*(\d{2})(?::?(\d{2}))?)?",
    re.IGNORECASE,
)
# What XML 1.0 cannot carry, and DEL: C0 controls but tab, line feed and carriage return; lone surrogates;
# U+FFFE and U+FFFF.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")

# ThingSpeak's documented error codes, by HTTP status.
ERRORS = {
    400: ("error_bad_request", "Bad Request"),
    401: ("error_auth_required", "Authorization Required"),
    403: ("error_forbidden", "Forbidden"),  # a suspended account's keys
    404: ("error_resource_not_found", "Resource Not Found"),
    405: ("error_method_invalid", "Method Not Allowed"),
    409: ("error_conflict", "Conflict"),
    413: ("error_request_too_large", "Request Entity Too Large"),
    421: ("error_no_action", "No Action Performed"),
    422: ("error_invalid_byte_sequence", "Unprocessable Entity"),
    429: ("error_too_many_requests", "Too Many Requests"),
    503: ("error_service_unavailable", "Service Unavailable"),
}


class ThingSpeakError(ApiError):
    """An error answered the way ThingSpeak answers it (see `error_body`)."""


def check_text(value: str, name: str) -> None:
    """Refuse a value with a control character (tab, line feed and carriage return are fine): exports carry
    values as they are, and XML cannot carry those at all."""
    found = _CONTROL.search(value)
    if found is not None:
        raise ThingSpeakError(
            "{field} must not contain control characters (found U+{codepoint})",
            field=name,
            codepoint=f"{ord(found[0]):04X}",
        )


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: text a spreadsheet would take for a formula gets a leading apostrophe (OWASP);
    plain numbers, negative ones included, stay as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and _PLAIN_NUMBER.fullmatch(value) is None:
        return "'" + value
    return value


def zone(name: str | None) -> tzinfo:
    """The time zone named by a `timezone` parameter (IANA name); UTC when absent."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ThingSpeakError("unknown timezone {zone}", field="timezone", zone=repr(name[:64])) from exc


def parse_time(value: str, tz: tzinfo = UTC, *, name: str = "created_at") -> float:
    """Seconds since the epoch from a time as people and firmware write it (see `_DATE_TIME`), any other ISO 8601
    form Python reads, or epoch seconds. A time without an offset is read in `tz`; 1970 to 2200 only."""
    text = value.strip()
    if _EPOCH.fullmatch(text):
        return float(text)
    if _EPOCH_MILLIS.fullmatch(text):
        raise ThingSpeakError(
            "{field}: {value} looks like milliseconds since 1970; send seconds", field=name, value=repr(text[:40])
        )
    moment = _date_time(text)
    if moment is None:
        raise ThingSpeakError(
            "{field}: not a date and time: {value} (send 2018-03-07T10:26:02Z, 2018-03-07 10:26:02 UTC, "
            "2018-01-30 10:26:02 -0500 or seconds since 1970)",
            field=name,
            value=repr(value[:40]),
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    epoch = moment.timestamp()
    if epoch < 0:
        raise ThingSpeakError("{field}: {value} is before 1970", field=name, value=repr(value[:40]))
    if moment.year > _LAST_YEAR:
        raise ThingSpeakError("{field}: {value} is after {year}", field=name, value=repr(value[:40]), year=_LAST_YEAR)
    return epoch


def _date_time(text: str) -> datetime | None:
    """`text` as a datetime (naive when it names no offset), or None when it is none."""
    try:
        return datetime.fromisoformat(text)  # ISO 8601 (in C: a bulk upload reads thousands)
    except ValueError:
        pass
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, utc, sign, off_hours, off_minutes = match.groups()
    offset: tzinfo | None = None
    if utc:
        offset = UTC
    elif off_hours:
        minutes = int(off_hours) * 60 + int(off_minutes or 0)
        offset = timezone(timedelta(minutes=-minutes if sign == "-" else minutes)) if minutes < 24 * 60 else None
        if offset is None:
            return None
    micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
    try:
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tzinfo=offset)
    except ValueError:  # month 13, day 31 in April, hour 24...
        return None


def format_time(epoch: float, tz: tzinfo = UTC) -> str:
    """ThingSpeak's ISO 8601 form, to the second: `2014-02-26T12:42:01Z` in UTC, else with the offset."""
    moment = datetime.fromtimestamp(int(epoch // 1), tz)
    if moment.utcoffset() == timedelta(0) and tz is UTC:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.isoformat()


def _number(value: float | None) -> str | None:
    if value is None:
        return None
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def entry_dict(
    entry_id: int,
    created_at: float,
    fields: Iterable[str | None],
    tz: tzinfo = UTC,
    *,
    latitude: float | None = None,
    longitude: float | None = None,
    elevation: float | None = None,
    status: str | None = None,
    only: Iterable[int] | None = None,
    location: bool = False,
    with_status: bool = False,
) -> dict[str, Any]:
    """One feed entry as ThingSpeak's JSON shows it. `only`: field numbers to include (default all eight)."""
    values = list(fields)
    wanted = range(1, 9) if only is None else only
    entry: dict[str, Any] = {"created_at": format_time(created_at, tz), "entry_id": entry_id}
    for n in wanted:
        entry[f"field{n}"] = values[n - 1]
    if location:
        entry["latitude"] = _number(latitude)
        entry["longitude"] = _number(longitude)
        entry["elevation"] = _number(elevation)
    if with_status:
        entry["status"] = status
    return entry


def point_entry(entry_id: int, point: Point, tz: tzinfo = UTC, *, only: Iterable[int] | None = None) -> dict[str, Any]:
    """A point just written, as an entry with its location and status (fields: all eight, or `only`)."""
    return entry_dict(
        entry_id,
        point.created_at,
        point.fields,
        tz,
        latitude=point.latitude,
        longitude=point.longitude,
        elevation=point.elevation,
        status=point.status,
        only=only,
        location=True,
        with_status=True,
    )


def ranking(channel: Channel) -> int:
    """ThingSpeak's completeness score of a channel: name 15, description 20, location 15, url 15, tags 20 (its
    other 15, for a video, has no counterpart here)."""
    return (
        15 * bool(channel.name)
        + 20 * bool(channel.description)
        + 15 * (channel.latitude is not None and channel.longitude is not None)
        + 15 * bool(channel.url)
        + 20 * bool(tag_list(channel))
    )


def tag_list(channel: Channel) -> list[dict[str, Any]]:
    """A channel's tags as ThingSpeak shows them, `{id, name}`. Tags are stored as text here, so a tag's id is a
    number made from its name: the same tag has the same id on every channel."""
    names = [t.strip() for t in (channel.tags or "").split(",") if t.strip()]
    return [{"id": zlib.crc32(name.lower().encode()) & 0x7FFFFFFF, "name": name} for name in names]


def username(channel: Channel) -> str:
    """The owner's public name on a channel. ThingSpeak shows the owner's login; names are personal data here, so a
    pseudonym stands in: stable for one owner, and telling nothing else about them."""
    return "user-" + hashlib.sha256(b"channel-owner:" + channel.owner_id.encode()).hexdigest()[:12]


def channel_dict(
    channel: Channel, tz: tzinfo = UTC, *, api_keys: list[dict[str, Any]] | None = None, metadata: bool = False
) -> dict[str, Any]:
    """A channel as ThingSpeak's JSON shows it: named fields only; keys only for its owner."""
    body: dict[str, Any] = {
        "id": channel.id,
        "name": channel.name,
        "description": channel.description,
        "latitude": _number(channel.latitude),
        "longitude": _number(channel.longitude),
        "elevation": _number(channel.elevation),
    }
    for name, value in zip(FIELDS, channel.fields, strict=True):
        if value:
            body[name] = value
    body.update(
        {
            "created_at": format_time(channel.created_at, tz),
            "updated_at": format_time(channel.updated_at, tz),
            "last_entry_id": channel.last_entry_id or None,
            "public_flag": channel.public,
            "url": channel.url,
            "tags": tag_list(channel),
            "ranking": ranking(channel),
            "username": username(channel),
        }
    )
    if metadata:
        body["metadata"] = channel.metadata
    if api_keys is not None:
        body["api_keys"] = api_keys
        body["retention_days"] = channel.retention_days
        body["min_update_seconds"] = channel.min_update_seconds
    return body


def _xml_name(key: str) -> str:
    return key.replace("_", "-")


def to_xml(root: str, value: Any) -> str:
    """ThingSpeak-style XML: dashes in names, `type` attributes on numbers, booleans and times."""
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + _xml(root, value) + "\n"


def xml_element(name: str, value: Any) -> str:
    """One element as `to_xml` writes it, without the declaration: for documents written in pieces (exports)."""
    return _xml(name, value)


def _xml(name: str, value: Any) -> str:
    tag = _xml_name(name)
    if value is None:
        return f'<{tag} nil="true"/>'
    if isinstance(value, bool):
        return f'<{tag} type="boolean">{"true" if value else "false"}</{tag}>'
    if isinstance(value, int):
        return f'<{tag} type="integer">{value}</{tag}>'
    if isinstance(value, float):
        return f'<{tag} type="decimal">{value!r}</{tag}>'
    if isinstance(value, dict):
        return f"<{tag}>" + "".join(_xml(k, v) for k, v in value.items()) + f"</{tag}>"
    if isinstance(value, list):
        singular = tag[:-1] if tag.endswith("s") else "item"
        return f'<{tag} type="array">' + "".join(_xml(singular, v) for v in value) + f"</{tag}>"
    text = str(value)
    kind = ' type="dateTime"' if name in ("created_at", "updated_at") else ""
    text = _CONTROL.sub("\ufffd", text)  # stored before values were checked, or text from elsewhere
    return f"<{tag}{kind}>{escape(text)}</{tag}>"


def csv_line(values: Iterable[Any]) -> str:
    out = io.StringIO()
    # Written with \r\n so that a cell with either character is quoted (a bare \r would otherwise split the row
    # for some readers); lines end in \n.
    csv.writer(out, lineterminator="\r\n").writerow(["" if v is None else csv_cell(v) for v in values])
    return out.getvalue().removesuffix("\r\n") + "\n"


def error_body(status: int, details: str, fmt: str, field: str | None = None, *, read: bool = False) -> tuple[str, str]:
    """(body, content type) of an error in ThingSpeak's shape for the format asked: text, json or xml. JSON adds
    the `field` at fault (`updates[3].created_at`) when there is one, for scripts to point at. As text, `-1`
    when nothing was found, and on reads (`read`) also when the caller may not read; else `0`."""
    code, message = ERRORS.get(status, ("error_bad_request", "Bad Request"))
    if fmt == "json":
        import orjson

        error = {"error_code": code, "message": message, "details": details}
        if field:
            error["field"] = field
        body = {"status": str(status), "error": error}
        return orjson.dumps(body).decode(), "application/json"
    if fmt == "xml":
        return (to_xml("error", {"error_code": code, "message": message, "details": details}), "application/xml")
    return "-1" if status == 404 or (read and status in (401, 403)) else "0", "text/plain"
