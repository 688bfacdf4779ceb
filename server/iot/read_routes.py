"""ThingSpeak-compatible reads over HTTP: feeds, fields, last entries, one entry, status and last data age, each
in JSON, CSV and XML; JSON also as JSONP (`callback`).

Without an ending, or with `.txt`, the reads a device makes answer plain text as ThingSpeak's do (and as its
Arduino library parses them): `fields/{n}/last` and `last_data_age` the bare value, `feeds/last` and `status` their
JSON. `feeds` without an ending, and trailing slashes, answer as with `.json`.

Feeds stream: rows come from the database a batch at a time and leave in chunks, so an export never sits whole
in memory. Errors are answered before the first byte, in ThingSpeak's shape (`-1` / `0` as CSV text).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing
from datetime import UTC, datetime, tzinfo
from typing import Any

import orjson
from aiohttp import web

from server.iot.appkeys import channels_key
from server.iot.http import (
    READ_FMT,
    TXT,
    Handler,
    api_key_of,
    channel_id_of,
    format_of,
    jsonp_callback,
    optional_owner,
    plain,
    read_errors,
    reply,
    tz_of,
)
from server.iot.reads import (
    Entry,
    FeedReader,
    ReadSpec,
    feed_columns,
    offset_zone,
    parse_entry_id,
    parse_field,
    parse_read,
    shown_fields,
)
from server.iot.thingspeak import ThingSpeakError, channel_dict, csv_line, to_xml, xml_element
from server.keys import database_key
from server.storage.channels import Channel
from server.storage.feeds import FeedReadRepository

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

CHUNK_ENTRIES = 250  # entries per write while streaming
CONTENT_TYPES = {"json": "application/json", "csv": "text/csv", "xml": "application/xml"}


def _reader(request: web.Request) -> FeedReader:
    return FeedReader(FeedReadRepository(request.app[database_key]))


def _zone(params: Mapping[str, Any]) -> tzinfo:
    return tz_of(params) if params.get("timezone") else offset_zone(params.get("offset"))


def _format(request: web.Request) -> str:
    """json, csv or xml: what a stream or an entry is written as (plain text carries JSON)."""
    fmt = format_of(request)
    return "json" if fmt == "text" else fmt


def _content_type(request: web.Request) -> str:
    """`.txt` answers text/plain; no ending answers JSON as application/json."""
    return "text/plain" if request.match_info.get("fmt") == "txt" else CONTENT_TYPES[_format(request)]


def text_routes(table: web.RouteTableDef, path: str, *, txt: bool = True) -> Callable[[Handler], Handler]:
    """GET `path` without an ending, with a trailing slash, and (`txt`) with `.txt`, to one handler."""

    def register(handler: Handler) -> Handler:
        for variant in (path, f"{path}/", *([f"{path}.{TXT}"] if txt else [])):
            table.get(variant)(handler)
        return handler

    return register


async def _readable(request: web.Request, params: Mapping[str, Any]) -> Channel:
    """The channel, if the caller may read it (401 for a private channel without a valid key, 404 if unknown)."""
    jsonp_callback(request)  # a bad callback is refused before anything is read
    user_id = await optional_owner(request, params)
    return await request.app[channels_key].for_read(channel_id_of(request), api_key_of(request, params), user_id)


def _missing() -> ThingSpeakError:
    return ThingSpeakError("No entry was found.", code="error_resource_not_found", status=404)


def csv_time(epoch: float, tz: tzinfo) -> str:
    """created_at as ThingSpeak's CSV writes it: `2014-02-26 12:42:01 UTC`, or `... 14:42:01 +0200` in a zone."""
    moment = datetime.fromtimestamp(int(epoch // 1), tz)
    if tz is UTC:
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return moment.strftime("%Y-%m-%d %H:%M:%S %z")


def _csv_row(entry: Entry, tz: tzinfo) -> str:
    created_at, body = entry
    return csv_line([csv_time(created_at, tz), *list(body.values())[1:]])


# -- streamed feeds ---------------------------------------------------------------------------------


async def _stream(
    request: web.Request,
    *,
    head: dict[str, Any],
    columns: list[str],
    entries: AsyncGenerator[Entry, None],
    tz: tzinfo,
) -> web.StreamResponse:
    """`{"channel": head, "feeds": [...]}` (or its CSV / XML form), written a chunk of entries at a time."""
    fmt = _format(request)
    callback = jsonp_callback(request)
    content_type = _content_type(request)
    if fmt == "json":
        opening, closing = b'{"channel":' + orjson.dumps(head) + b',"feeds":[', b"]}"
        if callback is not None:
            opening, closing = b"/**/" + callback.encode() + b"(" + opening, closing + b");"
            content_type = "application/javascript"
    elif fmt == "xml":
        channel = to_xml("channel", head).rstrip("\n").removesuffix("</channel>")
        opening, closing = (channel + '<feeds type="array">').encode(), b"</feeds></channel>\n"
    else:
        opening, closing = csv_line(columns).encode(), b""

    def piece(entry: Entry, index: int) -> str:
        if fmt == "json":
            return ("," if index else "") + orjson.dumps(entry[1]).decode()
        if fmt == "xml":
            return xml_element("feed", entry[1])
        return _csv_row(entry, tz)

    async with aclosing(entries):
        # The first chunk is read before anything is sent, so a failing query still gets a proper error; an answer
        # that fits in it goes whole with a Content-Length (the Arduino library's readRaw needs one).
        first: list[str] = []
        entry = await anext(entries, None)
        while entry is not None and len(first) < CHUNK_ENTRIES:
            first.append(piece(entry, len(first)))
            entry = await anext(entries, None)
        response = web.StreamResponse()
        response.content_type = content_type
        response.charset = "utf-8"
        if entry is None:
            whole = opening + "".join(first).encode() + closing
            response.content_length = len(whole)
            await response.prepare(request)
            await response.write(whole)
            await response.write_eof()
            return response
        await response.prepare(request)
        try:
            await response.write(opening + "".join(first).encode())
            chunk: list[str] = []
            count = len(first)
            while entry is not None:
                chunk.append(piece(entry, count))
                count += 1
                if len(chunk) >= CHUNK_ENTRIES:
                    await response.write("".join(chunk).encode())
                    chunk.clear()
                entry = await anext(entries, None)
            await response.write("".join(chunk).encode() + closing)
            await response.write_eof()
        except ConnectionResetError:
            log.info("a feed read ended early: the client went away")
        except Exception:
            # Headers are out: the only honest answer left is to cut the response short.
            log.exception("a feed read failed while streaming")
            if request.transport is not None:
                request.transport.close()
    return response


async def _feed(request: web.Request, field: int | None) -> web.StreamResponse:
    params = dict(request.query)
    channel = await _readable(request, params)
    tz = _zone(params)
    reader = _reader(request)
    spec = parse_read(params, tz, now=reader.now())
    fields = shown_fields(channel, field)
    return await _stream(
        request,
        head=channel_dict(channel, tz, metadata=spec.metadata),
        columns=feed_columns(spec, fields),
        entries=reader.feed(channel, spec, fields),
        tz=tz,
    )


@routes.get(f"/channels/{{channel_id}}/feeds.{READ_FMT}")
@routes.get(f"/channels/{{channel_id}}/feed.{READ_FMT}")  # ThingSpeak's older name
@text_routes(routes, "/channels/{channel_id}/feeds", txt=False)
@read_errors
async def read_feed(request: web.Request) -> web.StreamResponse:
    return await _feed(request, None)


@routes.get(f"/channels/{{channel_id}}/fields/{{field}}.{READ_FMT}")
@read_errors
async def read_field(request: web.Request) -> web.StreamResponse:
    return await _feed(request, parse_field(request.match_info["field"]))


@routes.get(f"/channels/{{channel_id}}/status.{READ_FMT}")
@text_routes(routes, "/channels/{channel_id}/status")
@read_errors
async def read_status(request: web.Request) -> web.StreamResponse:
    params = dict(request.query)
    channel = await _readable(request, params)
    tz = _zone(params)
    reader = _reader(request)
    spec = parse_read(params, tz, now=reader.now(), status_feed=True)
    described = channel_dict(channel, tz)
    return await _stream(
        request,
        head={name: described[name] for name in ("name", "latitude", "longitude")},
        columns=["created_at", "entry_id", "status"],
        entries=reader.statuses(channel, spec),
        tz=tz,
    )


# -- single entries ---------------------------------------------------------------------------------


def _single(
    request: web.Request, entry: Entry | None, spec: ReadSpec, fields: tuple[int, ...], value: str | None = None
) -> web.Response:
    """One entry in the format asked; as plain text, its JSON, or the member `value` alone."""
    if entry is None:
        raise _missing()
    fmt = format_of(request)
    if fmt == "csv":
        text = csv_line(feed_columns(spec, fields)) + _csv_row(entry, spec.tz)
        return web.Response(text=text, content_type="text/csv", charset="utf-8")
    if fmt == "text":
        found = entry[1].get(value) if value else orjson.dumps(entry[1]).decode()
        return plain(found or "")
    return reply(request, entry[1], root="feed", jsonp=True)


async def _entry_spec(request: web.Request) -> tuple[Channel, FeedReader, ReadSpec]:
    params = dict(request.query)
    channel = await _readable(request, params)
    reader = _reader(request)
    # Only the display parameters matter for one entry; windows and aggregates do not apply.
    display = {k: v for k, v in params.items() if k in ("status", "location", "round")}
    return channel, reader, parse_read(display, _zone(params), now=reader.now())


@routes.get(f"/channels/{{channel_id}}/feeds/last.{READ_FMT}")
@text_routes(routes, "/channels/{channel_id}/feeds/last")
@read_errors
async def read_last(request: web.Request) -> web.Response:
    channel, reader, spec = await _entry_spec(request)
    fields = shown_fields(channel)
    return _single(request, await reader.last(channel, spec, fields), spec, fields)


@routes.get(f"/channels/{{channel_id}}/fields/{{field}}/last.{READ_FMT}")
@text_routes(routes, "/channels/{channel_id}/fields/{field}/last")
@read_errors
async def read_last_field(request: web.Request) -> web.Response:
    channel, reader, spec = await _entry_spec(request)
    field = parse_field(request.match_info["field"])
    fields = (field,)
    return _single(request, await reader.last(channel, spec, fields, field), spec, fields, f"field{field}")


# The second path is ThingSpeak's own for one entry; digits only, so it never shadows feeds/last.
@routes.get(f"/channels/{{channel_id}}/feeds/entry/{{entry}}.{READ_FMT}")
@routes.get(f"/channels/{{channel_id}}/feeds/{{entry:[0-9]+}}.{READ_FMT}")
@read_errors
async def read_entry(request: web.Request) -> web.Response:
    channel, reader, spec = await _entry_spec(request)
    entry_id = parse_entry_id(request.match_info["entry"])
    fields = shown_fields(channel)
    return _single(request, await reader.entry(channel, entry_id, spec, fields), spec, fields)


@routes.get(f"/channels/{{channel_id}}/fields/{{field}}/last_data_age.{READ_FMT}")
@text_routes(routes, "/channels/{channel_id}/fields/{field}/last_data_age")
@read_errors
async def read_last_data_age(request: web.Request) -> web.Response:
    params = dict(request.query)
    channel = await _readable(request, params)
    field = parse_field(request.match_info["field"])
    age = await _reader(request).last_data_age(channel, field)
    if age is None:
        raise _missing()
    body = {"last_data_age": str(age), "last_data_age_units": "s"}
    fmt = format_of(request)
    if fmt == "text":
        return plain(str(age))
    if fmt == "csv":
        return web.Response(text=csv_line(body.keys()) + csv_line(body.values()), content_type="text/csv")
    return reply(request, body, root="hash", jsonp=True)
