"""ThingSpeak-compatible TalkBack routes: TalkBacks for their owner, and the command queue for devices (with the
TalkBack's API key). Text replies are ThingSpeak's: a command id on add, the command string otherwise, and an
empty body when executing an empty queue. An /update carrying `talkback_key` executes the next command too.
The web app also reads the executed commands (ThingSpeak has only the last): GET /api/talkbacks/{id}/executed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, tzinfo
from typing import Any

from aiohttp import web

from server.errors import NotFound
from server.iot.appkeys import talkbacks_key
from server.iot.http import (
    FMT,
    api_key_of,
    format_of,
    owner_of,
    params_and_owner,
    params_of,
    plain,
    reply,
    signed_in,
    thingspeak_errors,
    tz_of,
)
from server.iot.models import AfterWrite
from server.iot.talkback import (
    MAX_NAME,
    TalkBackService,
    check_command_string,
    check_position,
    command_not_found,
    talkback_not_found,
)
from server.iot.thingspeak import ThingSpeakError, format_time
from server.storage.talkback import Command, TalkBack
from server.web.paging import decode_cursor, encode_cursor, page_limit
from server.web.params import ID, int_param, whole_number

routes = web.RouteTableDef()

BODY_LIMIT = 16 * 1024
TALKBACK = f"/talkbacks/{{talkback_id:{ID}}}"
COMMANDS = TALKBACK + "/commands"
COMMAND = COMMANDS + f"/{{command_id:{ID}}}"
EXECUTED = f"/api/talkbacks/{{talkback_id:{ID}}}/executed"


def _service(request: web.Request) -> TalkBackService:
    return request.app[talkbacks_key]


def command_dict(command: Command, tz: tzinfo = UTC) -> dict[str, Any]:
    return {
        "id": command.id,
        "command_string": command.command_string,
        "position": command.position,
        "executed_at": None if command.executed_at is None else format_time(command.executed_at, tz),
        "created_at": format_time(command.created_at, tz),
    }


def talkback_dict(talkback: TalkBack, api_key: str, tz: tzinfo = UTC) -> dict[str, Any]:
    return {
        "id": talkback.id,
        "name": talkback.name,
        "channel_id": talkback.channel_id,
        "api_key": api_key,
        "created_at": format_time(talkback.created_at, tz),
        "updated_at": format_time(talkback.updated_at, tz),
    }


def _name(params: Mapping[str, Any], default: str | None) -> str | None:
    value = params.get("name", default)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME or "\x00" in value:
        raise ThingSpeakError(
            "{field} must be a non-empty string of at most {limit} characters", field="name", limit=MAX_NAME
        )
    return value.strip()


def _channel_param(params: Mapping[str, Any]) -> int | None:
    return int_param(params.get("channel_id"), "channel_id")


def _talkback_id(request: web.Request) -> int:
    number = whole_number(request.match_info["talkback_id"])
    if number is None:  # past a 64-bit integer: no TalkBack has that id
        raise talkback_not_found()
    return number


def _command_id(request: web.Request) -> int:
    number = whole_number(request.match_info["command_id"])
    if number is None:
        raise command_not_found()
    return number


async def _queue(request: web.Request) -> tuple[dict[str, Any], TalkBack]:
    """The request's parameters and the TalkBack of the route, if the caller holds its key (or owns it)."""
    params = await params_of(request, BODY_LIMIT)
    talkback_id = _talkback_id(request)
    return params, await _service(request).authorise(talkback_id, api_key_of(request, params), await signed_in(request))


async def _owned(request: web.Request) -> tuple[dict[str, Any], TalkBack]:
    """The request's parameters and the TalkBack of the route, if the caller owns it."""
    params, owner = await params_and_owner(request, BODY_LIMIT)
    return params, await _service(request).owned(_talkback_id(request), owner)


# -- TalkBacks, for their owner (user API key or a signed-in session) ---------------------------------


@routes.post("/talkbacks")
@routes.post(f"/talkbacks.{FMT}")
@thingspeak_errors
async def create_talkback(request: web.Request) -> web.Response:
    params, owner = await params_and_owner(request, BODY_LIMIT)
    talkback, key = await _service(request).create(owner, _name(params, "My TalkBack") or "", _channel_param(params))
    return reply(request, talkback_dict(talkback, key, tz_of(params)), root="talkback", status=201)


@routes.get("/talkbacks")
@routes.get(f"/talkbacks.{FMT}")
@thingspeak_errors
async def list_talkbacks(request: web.Request) -> web.Response:
    params, owner = await params_and_owner(request, BODY_LIMIT)
    tz = tz_of(params)
    found = await _service(request).of_owner(owner)
    return reply(request, [talkback_dict(t, key, tz) for t, key in found], root="talkbacks")


@routes.get(TALKBACK)
@routes.get(f"{TALKBACK}.{FMT}")
@thingspeak_errors
async def view_talkback(request: web.Request) -> web.Response:
    params, talkback = await _owned(request)
    key = await _service(request).key_of(talkback.id)
    return reply(request, talkback_dict(talkback, key, tz_of(params)), root="talkback")


@routes.put(TALKBACK)
@routes.put(f"{TALKBACK}.{FMT}")
@thingspeak_errors
async def update_talkback(request: web.Request) -> web.Response:
    params, talkback = await _owned(request)
    service = _service(request)
    updated = await service.update(
        talkback.id,
        talkback.owner_id,
        name=_name(params, None),
        channel_id=_channel_param(params),
        set_channel="channel_id" in params,
    )
    return reply(request, talkback_dict(updated, await service.key_of(updated.id), tz_of(params)), root="talkback")


@routes.delete(TALKBACK)
@routes.delete(f"{TALKBACK}.{FMT}")
@thingspeak_errors
async def delete_talkback(request: web.Request) -> web.Response:
    params, talkback = await _owned(request)
    await _service(request).delete(talkback.id, talkback.owner_id)
    return reply(request, talkback_dict(talkback, "", tz_of(params)) | {"api_key": None}, root="talkback")


@routes.post(f"{TALKBACK}/api_key")
@routes.post(f"{TALKBACK}/api_key.{FMT}")
@thingspeak_errors
async def regenerate_talkback_key(request: web.Request) -> web.Response:
    params, talkback = await _owned(request)
    key = await _service(request).regenerate_key(talkback.id, talkback.owner_id)
    return reply(request, talkback_dict(talkback, key, tz_of(params)), root="talkback")


# -- the command queue (the TalkBack's API key) ------------------------------------------------------


@routes.post(COMMANDS)
@routes.post(f"{COMMANDS}.{FMT}")
@thingspeak_errors
async def add_command(request: web.Request) -> web.Response:
    params, talkback = await _queue(request)
    command = await _service(request).add_command(
        talkback, check_command_string(params.get("command_string")), check_position(params.get("position"))
    )
    if format_of(request) == "text":
        return plain(str(command.id))
    return reply(request, command_dict(command, tz_of(params)), root="command")


@routes.get(COMMANDS)
@routes.get(f"{COMMANDS}.{FMT}")
@thingspeak_errors
async def list_commands(request: web.Request) -> web.Response:
    params, talkback = await _queue(request)
    tz = tz_of(params)
    return reply(request, [command_dict(c, tz) for c in await _service(request).commands(talkback)], root="commands")


@routes.delete(COMMANDS)
@routes.delete(f"{COMMANDS}.{FMT}")
@thingspeak_errors
async def delete_commands(request: web.Request) -> web.Response:
    _, talkback = await _queue(request)
    await _service(request).delete_commands(talkback)
    return reply(request, [], root="commands")


@routes.get(f"{COMMANDS}/execute")
@routes.post(f"{COMMANDS}/execute")
@routes.get(f"{COMMANDS}/execute.{FMT}")
@routes.post(f"{COMMANDS}/execute.{FMT}")
@thingspeak_errors
async def execute_command(request: web.Request) -> web.Response:
    params, talkback = await _queue(request)
    command = await _service(request).execute_next(talkback)
    if format_of(request) == "text":
        return plain(command.command_string if command else "")
    return reply(request, command_dict(command, tz_of(params)) if command else {}, root="command")


@routes.get(f"{COMMANDS}/last")
@routes.get(f"{COMMANDS}/last.{FMT}")
@thingspeak_errors
async def last_command(request: web.Request) -> web.Response:
    params, talkback = await _queue(request)
    return _one(request, params, await _service(request).last_executed(talkback))


def _one(request: web.Request, params: Mapping[str, Any], command: Command) -> web.Response:
    if format_of(request) == "text":
        return plain(command.command_string)
    return reply(request, command_dict(command, tz_of(params)), root="command")


@routes.get(COMMAND)
@routes.get(f"{COMMAND}.{FMT}")
@thingspeak_errors
async def get_command(request: web.Request) -> web.Response:
    params, talkback = await _queue(request)
    command = await _service(request).command(talkback, _command_id(request))
    return _one(request, params, command)


@routes.put(COMMAND)
@routes.put(f"{COMMAND}.{FMT}")
@thingspeak_errors
async def update_command(request: web.Request) -> web.Response:
    params, talkback = await _queue(request)
    text = params.get("command_string")
    position = check_position(params.get("position"))
    if text is None and position is None:
        raise ThingSpeakError("send command_string or position", field="command_string")
    command = await _service(request).update_command(
        talkback,
        _command_id(request),
        None if text is None else check_command_string(text),
        position,
    )
    return _one(request, params, command)


@routes.delete(COMMAND)
@routes.delete(f"{COMMAND}.{FMT}")
@thingspeak_errors
async def delete_command(request: web.Request) -> web.Response:
    params, talkback = await _queue(request)
    command = await _service(request).delete_command(talkback, _command_id(request))
    return _one(request, params, command)


# -- the web app's JSON API ---------------------------------------------------------------------------------


def _cursor(values: list[Any]) -> tuple[float, int]:
    at, command_id = values
    number = whole_number(command_id)  # within the databases' integers
    if isinstance(at, bool) or not isinstance(at, int | float) or number is None:
        raise TypeError
    return float(at), number


@routes.get(EXECUTED)
async def executed_commands(request: web.Request) -> web.Response:
    """The TalkBack's executed commands, newest first, a page at a time (its owner: signed in or user API key)."""
    owner = await owner_of(request, request.query)
    service = _service(request)
    talkback_id = whole_number(request.match_info["talkback_id"])
    talkback = None if talkback_id is None else await service.repo.get(talkback_id)
    if talkback is None or talkback.owner_id != owner:
        raise NotFound("no such TalkBack of yours", code="talkback_not_found")
    limit = page_limit(request)
    before = decode_cursor(request, _cursor)
    commands = await service.executed(talkback, before, limit)
    last = commands[-1] if len(commands) == limit else None
    following = encode_cursor([last.executed_at, last.id]) if last is not None else None
    answer = [
        {"id": c.id, "command_string": c.command_string, "executed_at": c.executed_at, "created_at": c.created_at}
        for c in commands
    ]
    return web.json_response({"commands": answer, "next": following})


# -- "Write Data and Execute TalkBack Command": /update with talkback_key -----------------------------


async def execute_on_update(request: web.Request, params: Mapping[str, Any]) -> AfterWrite | None:
    """Listens to update_received: with `talkback_key`, the next command goes back in the update's reply."""
    key = params.get("talkback_key")
    if key is None:
        return None
    if not isinstance(key, str):
        raise ThingSpeakError("{field} must be a string", field="talkback_key")
    service = _service(request)
    talkback = await service.by_key(key)  # a wrong key is refused here, before anything is written

    async def execute_next() -> dict[str, Any]:
        command = await service.execute_next(talkback)
        if command is None:
            return {"talkback": None, "command_string": ""}
        return {"talkback": command_dict(command, tz_of(params)), "command_string": command.command_string}

    return execute_next
