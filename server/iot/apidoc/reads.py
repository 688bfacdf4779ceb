"""The ThingSpeak-compatible reads in the OpenAPI document (server/iot/read_routes.py): feeds, fields, entries,
status, with their windows, aggregates and filters."""

from __future__ import annotations

from typing import Any

from server.iot.apidoc.thingspeak import (
    _READ_FMT,
    DECIMAL,
    PATH_PARAMS,
    READ_ACCESS,
    READ_FORMATS,
    TIMESTAMP,
    TIMEZONE,
    WRITE_FORMATS,
    ThingSpeakBook,
    error_content,
    params,
)
from server.iot.reads import AGGREGATES, BUCKET_MINUTES, DEFAULT_RESULTS, MAX_RESULTS, MAX_ROUND
from server.web.apidoc.kit import INTEGER, JSON, STRING, array, nullable, obj, ref

SCHEMAS: dict[str, JSON] = {}


def paths() -> dict[str, dict[str, JSON]]:
    book = ThingSpeakBook(path_params=PATH_PARAMS, error_content=error_content(WRITE_FORMATS))
    _reads(book)
    return book.paths


# -- reads ------------------------------------------------------------------------------------------------------

_BUCKET: JSON = {"type": "string", "enum": [*(str(m) for m in BUCKET_MINUTES), "daily"], "description": "minutes"}
_FLAG: JSON = {"type": "string", "enum": ["true", "false"], "default": "false"}
DISPLAY: dict[str, JSON] = {
    "status": {**_FLAG, "description": "include each entry's status"},
    "location": {**_FLAG, "description": "include latitude, longitude and elevation"},
    "round": {"type": "integer", "minimum": 0, "maximum": MAX_ROUND, "description": "decimals"},
    "timezone": TIMEZONE,
    "offset": {"type": "number", "minimum": -12, "maximum": 14, "description": "hours, when no timezone"},
    "callback": {
        "type": "string",
        "pattern": r"^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$",
        "maxLength": 64,
        "description": "JSON reads only: answer JSONP, `/**/callback(...);` as application/javascript; another "
        "name is a 400",
    },
}
WINDOW: dict[str, JSON] = {
    "results": {
        "type": "integer",
        "minimum": 0,
        "description": f"the newest this many entries (default {DEFAULT_RESULTS}, within the last day unless a "
        f"window is given); more than {MAX_RESULTS} is read as {MAX_RESULTS}, as ThingSpeak does",
    },
    "days": {"type": "integer", "minimum": 1, "maximum": 100 * 366},
    "minutes": {"type": "integer", "minimum": 1, "maximum": 100 * 366 * 1440},
    "start": {"type": "string", "description": "ISO 8601, `2014-12-31 23:59:59` or epoch seconds"},
    "end": {"type": "string", "description": "as start"},
    "metadata": {**_FLAG, "description": "include the channel's metadata"},
    "min": {"type": "number", "description": "leave out entries with a shown value below"},
    "max": {"type": "number", "description": "leave out entries with a shown value above"},
    **dict.fromkeys(AGGREGATES, _BUCKET),
    **DISPLAY,
}
READ_ERRORS = {
    400: "A refused parameter; `details` names it.",
    401: "A private channel, without a valid read key or the owner's credentials.",
    404: "No such channel.",
}


def _reads(book: ThingSpeakBook) -> None:
    reads: dict[str, Any] = {"formats": READ_FORMATS, "security": READ_ACCESS}
    feed = ref("ThingSpeakFeed")
    entry = ref("ThingSpeakEntry")
    missing = {**READ_ERRORS, 404: "No such channel, or no such entry."}
    book.op(
        "GET",
        "/channels/{channel_id}/feeds.{fmt}",
        summary="A channel's points (streamed), with windows, aggregates and filters",
        params=params(WINDOW),
        ok={200: ("The channel and its entries, oldest first.", feed)},
        errors=READ_ERRORS,
        **reads,
    )
    book.op(
        "GET",
        "/channels/{channel_id}/fields/{field}.{fmt}",
        summary="One field's points (streamed)",
        params=params(WINDOW),
        ok={200: ("The channel and its entries, oldest first.", feed)},
        errors={**READ_ERRORS, 400: "`field` is not 1 to 8, or a refused parameter."},
        **reads,
    )
    _plain_reads(book, reads, feed, entry, missing)
    for path, summary in (
        ("/channels/{channel_id}/feeds/entry/{entry}.{fmt}", "One entry by id"),
        ("/channels/{channel_id}/feeds/{entry}.{fmt}", "One entry by id (ThingSpeak's own path)"),
    ):
        book.op(
            "GET",
            path,
            summary=summary,
            params=params(DISPLAY),
            ok={200: ("The entry.", entry)},
            errors=missing,
            **reads,
        )


_TEXT_FMT = {"fmt": {**_READ_FMT["fmt"], "enum": ["json", "csv", "xml", "txt"]}}
_NUMBER_TEXT: JSON = {"type": "string", "pattern": "^[0-9]+$", "description": "seconds"}
_VALUE_TEXT: JSON = {"type": "string", "description": "the value as stored; empty when it is null"}
_ENTRY_TEXT: JSON = {"type": "string", "description": "the entry's JSON, as plain text (what ThingSpeak answers)"}
_FEED_TEXT: JSON = {"type": "string", "description": "the answer's JSON, as plain text"}


def _slash_variant(book: ThingSpeakBook, path: str) -> None:
    """The same operation with a trailing slash, under its own operationId."""
    operation = dict(book.paths[path]["get"])
    operation["operationId"] += "_slash"
    book.paths[f"{path}/"] = {"get": operation}


def _plain_reads(book: ThingSpeakBook, reads: dict[str, Any], feed: JSON, entry: JSON, missing: Any) -> None:
    """The reads a device makes: with `.txt` or without an ending they answer plain text, as ThingSpeak's."""
    age = obj({"last_data_age": {"type": "string", "pattern": "^[0-9]+$"}, "last_data_age_units": {"const": "s"}})
    no_value = {**missing, 404: "No such channel, or the field has no value yet."}
    access = reads["security"]
    for path, summary, schema, text, errors, query in (
        ("feeds/last", "The newest entry", entry, _ENTRY_TEXT, missing, DISPLAY),
        ("fields/{field}/last", "The newest entry with a value in a field", entry, _VALUE_TEXT, missing, DISPLAY),
        ("fields/{field}/last_data_age", "Seconds since a field last had a value", age, _NUMBER_TEXT, no_value, {}),
    ):
        full = f"/channels/{{channel_id}}/{path}"
        kinds = ["json", "csv", "xml", "text"]
        ok = {200: ("The entry, or (`.txt`) its text.", schema)}
        book.op(
            "GET",
            f"{full}.{{fmt}}",
            summary=summary,
            params=params(query),
            ok=ok,
            errors=errors,
            formats=kinds,
            text=text,
            security=access,
            path_params=_TEXT_FMT,
            error_formats=["json", "xml", "text"],
        )
        book.op(
            "GET",
            full,
            summary=f"{summary}, as plain text",
            params=params(query),
            ok={200: ("The text.", schema)},
            formats=["text"],
            text=text,
            security=access,
            errors=errors,
            error_formats=["text"],
        )
        _slash_variant(book, full)
    status_window = {k: WINDOW[k] for k in ("results", "days", "minutes", "start", "end", "timezone", "offset")}
    status = obj(
        {
            "channel": obj({"name": STRING, "latitude": DECIMAL, "longitude": DECIMAL}),
            "feeds": array(obj({"created_at": TIMESTAMP, "entry_id": INTEGER, "status": nullable(STRING)})),
        }
    )
    book.op(
        "GET",
        "/channels/{channel_id}/status.{fmt}",
        params=params({**status_window, "callback": DISPLAY["callback"]}),
        summary="The entries that carry a status (the last day unless a window is given)",
        ok={200: ("The channel's name and location, and its status entries.", status)},
        errors=READ_ERRORS,
        formats=["json", "csv", "xml", "text"],
        text=_FEED_TEXT,
        security=access,
        path_params=_TEXT_FMT,
        error_formats=["json", "xml", "text"],
    )
    book.op(
        "GET",
        "/channels/{channel_id}/status",
        params=params(status_window),
        summary="The status entries as JSON",
        ok={200: ("The status entries.", status)},
        errors=READ_ERRORS,
        formats=["json"],
        security=access,
        error_formats=["text"],
    )
    _slash_variant(book, "/channels/{channel_id}/status")
    book.op(
        "GET",
        "/channels/{channel_id}/feeds",
        params=params(WINDOW),
        summary="A channel's points as JSON",
        ok={200: ("The channel and its entries, oldest first.", feed)},
        errors=READ_ERRORS,
        formats=["json"],
        security=access,
        error_formats=["text"],
    )
    _slash_variant(book, "/channels/{channel_id}/feeds")
    book.op(
        "GET",
        "/channels/{channel_id}/feed.{fmt}",
        params=params(WINDOW),
        summary="`feeds`, by its older name",
        ok={200: ("The channel and its entries, oldest first.", feed)},
        errors=READ_ERRORS,
        **reads,
    )
    book.op(
        "GET",
        "/channels/{channel_id}",
        params=params({"timezone": DISPLAY["timezone"]}),
        summary="One channel as JSON (the channel view)",
        ok={200: ("The channel.", ref("ThingSpeakChannel"))},
        errors=READ_ERRORS,
        formats=["json"],
        security=access,
        error_formats=["text"],
    )
    _slash_variant(book, "/channels/{channel_id}")
