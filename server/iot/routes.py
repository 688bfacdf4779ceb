"""ThingSpeak-compatible HTTP routes: channels, writes (single and bulk), and the user's API key."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import tzinfo
from typing import Any

from aiohttp import web

from server.auth.guard import require_user
from server.iot.appkeys import channels_key, feeds_key, update_received_key
from server.iot.channels import ChannelService
from server.iot.http import (
    FMT,
    api_key_of,
    channel_id_of,
    form_of,
    format_of,
    json_object,
    jsonp_callback,
    optional_owner,
    params_and_owner,
    params_of,
    plain,
    read_errors,
    reply,
    thingspeak_errors,
    tz_of,
)
from server.iot.ingest import FeedService, parse_bulk_csv, parse_bulk_json, parse_point, require_content
from server.iot.thingspeak import MAX_FIELD, ThingSpeakError, channel_dict, point_entry
from server.storage.channels import FIELDS, ApiKey, Point
from server.web.params import int_param
from server.web.validation import read_body
from server.wiring import send_async

routes = web.RouteTableDef()

UPDATE_BODY_LIMIT = 16 * 1024
BULK_BODY_LIMIT = 8 << 20
CHANNEL_BODY_LIMIT = 64 * 1024


def _channels(request: web.Request) -> ChannelService:
    return request.app[channels_key]


def key_list(keys: list[ApiKey]) -> list[dict[str, Any]]:
    return [{"api_key": k.api_key, "write_flag": k.kind == "write", "id": k.id, "note": k.note} for k in keys]


# -- channel settings -------------------------------------------------------------------------------


def _flag(value: Any, name: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value.lower() in ("true", "1", "false", "0"):
        return int(value.lower() in ("true", "1"))
    raise ThingSpeakError("{field} must be true or false", field=name)


def _optional_number(value: Any, name: str, low: float, high: float) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ThingSpeakError("{field} must be a number", field=name) from None
    if not low <= number <= high:
        raise ThingSpeakError("{field} must be between {low} and {high}", field=name, low=f"{low:g}", high=f"{high:g}")
    return number


_TEXT_LIMITS = {
    "name": 255,
    "description": 2000,
    "metadata": 4000,
    "tags": 1000,
    "url": 500,
    **dict.fromkeys(FIELDS, MAX_FIELD),
}
_SETTINGS = {*_TEXT_LIMITS, "latitude", "longitude", "elevation", "public_flag", "retention_days", "min_update_seconds"}
_IGNORED = {"api_key", "key", "apikey", "timezone", "lang"}  # lang: the language of the errors (server/texts)


def channel_values(params: Mapping[str, Any]) -> dict[str, Any]:
    """Channel settings from ThingSpeak's parameters; unknown names are refused, not ignored."""
    unknown = sorted(set(params) - _SETTINGS - _IGNORED)
    if unknown:
        raise ThingSpeakError("unknown parameter {name}", field=unknown[0][:40], name=repr(unknown[0][:40]))
    values: dict[str, Any] = {}
    for name, limit in _TEXT_LIMITS.items():
        if name in params:
            value = params[name]
            if value is not None and not isinstance(value, str):
                raise ThingSpeakError("{field} must be a string", field=name)
            if value is not None and len(value) > limit:
                raise ThingSpeakError("{field} is longer than {limit} characters", field=name, limit=limit)
            values[name] = value or None
    if "name" in values and not values["name"]:
        raise ThingSpeakError("{field} must not be empty", field="name")
    for name, low, high in (
        ("latitude", -90, 90),
        ("longitude", -180, 180),
        ("elevation", -20_000, 100_000),
        ("min_update_seconds", 0, 86_400),
    ):
        if name in params:
            values[name] = _optional_number(params[name], name, low, high)
    if "retention_days" in params:
        days = _optional_number(params["retention_days"], "retention_days", 1, 36_500)
        if days is not None and not float(days).is_integer():
            raise ThingSpeakError("retention_days must be a whole number of days", field="retention_days")
        values["retention_days"] = None if days is None else int(days)
    if "public_flag" in params:
        values["public"] = _flag(params["public_flag"], "public_flag")
    return values


@routes.post(f"/channels.{FMT}")
@thingspeak_errors
async def create_channel(request: web.Request) -> web.Response:
    params, owner = await params_and_owner(request, CHANNEL_BODY_LIMIT)
    channel, keys = await _channels(request).create(owner, channel_values(params))
    return reply(request, channel_dict(channel, tz_of(params), api_keys=key_list(keys), metadata=True), root="channel")


@routes.get(f"/channels.{FMT}")
@thingspeak_errors
async def list_channels(request: web.Request) -> web.Response:
    params, owner = await params_and_owner(request, CHANNEL_BODY_LIMIT)
    channels = await _channels(request).of_owner(owner)
    tz = tz_of(params)
    service = _channels(request)
    body = [channel_dict(c, tz, api_keys=key_list(await service.keys(c.id)), metadata=True) for c in channels]
    return reply(request, body, root="channels")


@routes.get(f"/channels/public.{FMT}")
@thingspeak_errors
async def public_channels(request: web.Request) -> web.Response:
    params = dict(request.query)
    jsonp_callback(request)
    page = int_param(params.get("page"), "page", low=1, high=10_000, default=1)
    after = int_param(params.get("after"), "after")
    assert page is not None
    per_page, tag, service = 15, params.get("tag"), _channels(request)
    channels, total = await service.public_page(tag=tag, page=page, per_page=per_page)
    if after is not None:  # our own cursor, kept for callers that page with it: `page` does not apply
        channels = await service.public(tag=tag, after=after, limit=per_page)
    tz = tz_of(params)
    pagination = {"current_page": page, "per_page": per_page, "total_entries": total}
    return reply(
        request,
        {
            "pagination": {**pagination, "next_after": channels[-1].id if channels else None},
            "channels": [channel_dict(c, tz) for c in channels],
        },
        root="response",
        jsonp=True,
    )


@routes.get(f"/channels/{{channel_id}}.{FMT}")
@routes.get("/channels/{channel_id:[0-9]+}")  # without an ending (and with a slash): JSON, as ThingSpeak's API
@routes.get("/channels/{channel_id:[0-9]+}/")
@read_errors
async def view_channel(request: web.Request) -> web.Response:
    params = dict(request.query)
    jsonp_callback(request)
    service = _channels(request)
    channel_id = channel_id_of(request)
    user_id = await optional_owner(request, params)
    channel = await service.for_read(channel_id, api_key_of(request, params), user_id)
    keys = key_list(await service.keys(channel.id)) if user_id == channel.owner_id else None
    return reply(
        request, channel_dict(channel, tz_of(params), api_keys=keys, metadata=True), root="channel", jsonp=True
    )


@routes.put(f"/channels/{{channel_id}}.{FMT}")
@thingspeak_errors
async def update_channel(request: web.Request) -> web.Response:
    params, owner = await params_and_owner(request, CHANNEL_BODY_LIMIT)
    channel = await _channels(request).update(channel_id_of(request), owner, channel_values(params))
    return reply(request, channel_dict(channel, tz_of(params), metadata=True), root="channel")


@routes.delete(f"/channels/{{channel_id}}.{FMT}")
@thingspeak_errors
async def delete_channel(request: web.Request) -> web.Response:
    params, owner = await params_and_owner(request, CHANNEL_BODY_LIMIT)
    channel = await _channels(request).delete(channel_id_of(request), owner)
    return reply(request, channel_dict(channel, tz_of(params)), root="channel")


@routes.delete(f"/channels/{{channel_id}}/feeds.{FMT}")
@thingspeak_errors
async def clear_channel(request: web.Request) -> web.Response:
    _, owner = await params_and_owner(request, CHANNEL_BODY_LIMIT)
    await _channels(request).clear(channel_id_of(request), owner)
    return reply(request, [], root="feeds")


# -- keys -------------------------------------------------------------------------------------------


@routes.post(f"/channels/{{channel_id}}/api_keys/write.{FMT}")
@thingspeak_errors
async def regenerate_write_key(request: web.Request) -> web.Response:
    _, owner = await params_and_owner(request, CHANNEL_BODY_LIMIT)
    key = await _channels(request).regenerate_write_key(channel_id_of(request), owner)
    return reply(request, key_list([key])[0], root="api_key")


@routes.post(f"/channels/{{channel_id}}/api_keys/read.{FMT}")
@thingspeak_errors
async def add_read_key(request: web.Request) -> web.Response:
    params, owner = await params_and_owner(request, CHANNEL_BODY_LIMIT)
    note = params.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 255):
        raise ThingSpeakError("note must be a string of at most 255 characters", field="note")
    key = await _channels(request).add_read_key(channel_id_of(request), owner, note)
    return reply(request, key_list([key])[0], root="api_key", status=201)


@routes.delete(f"/channels/{{channel_id}}/api_keys/read/{{key_id}}.{FMT}")
@thingspeak_errors
async def delete_read_key(request: web.Request) -> web.Response:
    _, owner = await params_and_owner(request, CHANNEL_BODY_LIMIT)
    await _channels(request).delete_read_key(channel_id_of(request), owner, request.match_info["key_id"][:64])
    return reply(request, {"deleted": True}, root="result")


@routes.get("/api/me/api-key")
async def my_api_key(request: web.Request) -> web.Response:
    principal = await require_user(request)
    return web.json_response({"api_key": await _channels(request).user_api_key(principal.user.id)})


@routes.post("/api/me/api-key/regenerate")
async def regenerate_my_api_key(request: web.Request) -> web.Response:
    principal = await require_user(request)
    return web.json_response({"api_key": await _channels(request).regenerate_user_api_key(principal.user.id)})


# -- writes -----------------------------------------------------------------------------------------


@routes.get("/update")
@routes.post("/update")
@routes.get(f"/update.{FMT}")
@routes.post(f"/update.{FMT}")
@thingspeak_errors
async def update(request: web.Request) -> web.Response:
    params = await params_of(request, UPDATE_BODY_LIMIT)
    channel = await _channels(request).for_write(api_key_of(request, params))
    feeds: FeedService = request.app[feeds_key]
    tz = tz_of(params)
    point = parse_point(params, now=feeds.now(), tz=tz)
    require_content(point)
    after_write = await send_async(request.app[update_received_key], request, params)
    written = await feeds.write(channel, [point])
    extra: dict[str, Any] = {}
    for finish in after_write:
        if finish is not None:
            extra.update(await finish())
    if format_of(request) == "text":
        # With a TalkBack key, ThingSpeak answers the next command instead of the entry id.
        text = extra.get("command_string") if "talkback" in extra else str(written.first_entry_id)
        return plain(text or "")
    entry = {"channel_id": channel.id, **point_entry(written.first_entry_id, written.points[0], tz)}
    if "talkback" in extra:
        entry["command"] = extra["talkback"]
    return reply(request, entry, root="feed")


@routes.post("/channels/{channel_id}/bulk_update.json")
@thingspeak_errors
async def bulk_update_json(request: web.Request) -> web.Response:
    body = json_object(await read_body(request, BULK_BODY_LIMIT))
    unknown = set(body) - {"write_api_key", "updates", "timezone"}
    if unknown:
        raise ThingSpeakError("unknown member {name}", name=repr(sorted(unknown)[0][:40]))
    return await _bulk(
        request, body.get("write_api_key"), body, lambda now, tz: parse_bulk_json(body.get("updates"), now=now, tz=tz)
    )


@routes.post("/channels/{channel_id}/bulk_update.csv")
@thingspeak_errors
async def bulk_update_csv(request: web.Request) -> web.Response:
    form = form_of(await read_body(request, BULK_BODY_LIMIT))
    updates, time_format = form.get("updates", ""), form.get("time_format", "")
    return await _bulk(
        request, form.get("write_api_key"), form, lambda now, tz: parse_bulk_csv(updates, time_format, now=now, tz=tz)
    )


async def _bulk(
    request: web.Request, api_key: Any, params: Mapping[str, Any], parse: Callable[[float, tzinfo], list[Point]]
) -> web.Response:
    channel = await _channels(request).for_write(api_key if isinstance(api_key, str) else None)
    if channel.id != channel_id_of(request):
        raise ThingSpeakError("this write key belongs to another channel", status=401)
    feeds: FeedService = request.app[feeds_key]
    points = parse(feeds.now(), tz_of(params))
    written = await feeds.write(channel, points, bulk=True)
    return web.json_response(
        {
            "success": True,
            "first_entry_id": written.first_entry_id,
            "last_entry_id": written.last_entry_id,
            "count": len(points),
        },
        status=202,
    )
