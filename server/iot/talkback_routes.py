"""ThingSpeak-compatible TalkBack routes: TalkBacks for their owner, and the command queue for devices (with the
TalkBack's API key). Text replies are ThingSpeak's: a command id on add, the command string otherwise, and an
empty body when executing an empty queue. An /update carrying `talkback_key` executes the next command too."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, tzinfo
from typing import Any

from aiohttp import web

from server.auth.guard import bearer_token, require_user
from server.iot.appkeys import talkbacks_key
from server.iot.models import AfterWrite
from server.iot.routes import FMT, Handler, api_key_of, owner_of, params_of, reply, thingspeak_errors
from server.iot.talkback import (
    MAX_NAME,
    TalkBackService,
    check_command_string,
    check_position,
)
from server.iot.thingspeak import ThingSpeakError, format_time, zone
from server.storage.talkback import Command, TalkBack

routes = web.RouteTableDef()

BODY_LIMIT = 16 * 1024
TALKBACK = r"/talkbacks/{talkback_id:\d{1,18}}"
COMMANDS = TALKBACK + "/commands"
COMMAND = COMMANDS + r"/{command_id:\d{1,18}}"


def _route(method: str, *paths: str) -> Callable[[Handler], Handler]:
    """Register one handler (with ThingSpeak's error replies) for each path and method."""

    def register(handler: Handler) -> Handler:
        wrapped = thingspeak_errors(handler)
        for path in paths:
            for verb in method.split(","):
                routes.route(verb, path)(wrapped)
        return wrapped

    return register


def _service(request: web.Request) -> TalkBackService:
    return request.app[talkbacks_key]


def tz_of(params: Mapping[str, Any]) -> tzinfo:
    value = params.get("timezone")
    return zone(value) if isinstance(value, str) else UTC


def _text_format(request: web.Request) -> bool:
    return not request.match_info.get("fmt")


def _text(value: str) -> web.Response:
    return web.Response(text=value, content_type="text/plain")


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
        raise ThingSpeakError(f"name must be a non-empty string of at most {MAX_NAME} characters", field="name")
    return value.strip()


def channel_id_of(params: Mapping[str, Any]) -> int | None:
    value = params.get("channel_id")
    if value is None or value == "":
        return None
    text = str(value)
    if isinstance(value, bool) or not text.isdigit() or len(text) > 18:
        raise ThingSpeakError("channel_id must be a channel id", field="channel_id")
    return int(text)


async def _queue(request: web.Request, params: Mapping[str, Any]) -> TalkBack:
    """The TalkBack of the route, if the caller holds its key (or owns it)."""
    user_id = (await require_user(request)).user.id if bearer_token(request) is not None else None
    talkback_id = int(request.match_info["talkback_id"])
    return await _service(request).authorise(talkback_id, api_key_of(request, params), user_id)


async def _owned(request: web.Request, params: Mapping[str, Any]) -> TalkBack:
    owner = await owner_of(request, params)
    return await _service(request).owned(int(request.match_info["talkback_id"]), owner)


# -- TalkBacks, for their owner (user API key or a signed-in session) ---------------------------------


@_route("POST", "/talkbacks", f"/talkbacks.{FMT}")
async def create_talkback(request: web.Request) -> web.Response:
    params = await params_of(request, BODY_LIMIT)
    owner = await owner_of(request, params)
    talkback, key = await _service(request).create(owner, _name(params, "My TalkBack") or "", channel_id_of(params))
    return reply(request, talkback_dict(talkback, key, tz_of(params)), root="talkback", status=201)


@_route("GET", "/talkbacks", f"/talkbacks.{FMT}")
async def list_talkbacks(request: web.Request) -> web.Response:
    params = dict(request.query)
    owner = await owner_of(request, params)
    tz = tz_of(params)
    found = await _service(request).of_owner(owner)
    return reply(request, [talkback_dict(t, key, tz) for t, key in found], root="talkbacks")


@_route("GET", TALKBACK, f"{TALKBACK}.{FMT}")
async def view_talkback(request: web.Request) -> web.Response:
    params = dict(request.query)
    talkback = await _owned(request, params)
    key = await _service(request).key_of(talkback.id)
    return reply(request, talkback_dict(talkback, key, tz_of(params)), root="talkback")


@_route("PUT", TALKBACK, f"{TALKBACK}.{FMT}")
async def update_talkback(request: web.Request) -> web.Response:
    params = await params_of(request, BODY_LIMIT)
    talkback = await _owned(request, params)
    service = _service(request)
    updated = await service.update(
        talkback.id,
        talkback.owner_id,
        name=_name(params, None),
        channel_id=channel_id_of(params),
        set_channel="channel_id" in params,
    )
    return reply(request, talkback_dict(updated, await service.key_of(updated.id), tz_of(params)), root="talkback")


@_route("DELETE", TALKBACK, f"{TALKBACK}.{FMT}")
async def delete_talkback(request: web.Request) -> web.Response:
    params = await params_of(request, BODY_LIMIT)
    talkback = await _owned(request, params)
    await _service(request).delete(talkback.id, talkback.owner_id)
    return reply(request, talkback_dict(talkback, "", tz_of(params)) | {"api_key": None}, root="talkback")


@_route("POST", f"{TALKBACK}/api_key", f"{TALKBACK}/api_key.{FMT}")
async def regenerate_talkback_key(request: web.Request) -> web.Response:
    params = await params_of(request, BODY_LIMIT)
    talkback = await _owned(request, params)
    key = await _service(request).regenerate_key(talkback.id, talkback.owner_id)
    return reply(request, talkback_dict(talkback, key, tz_of(params)), root="talkback")


# -- the command queue (the TalkBack's API key) ------------------------------------------------------


@_route("POST", COMMANDS, f"{COMMANDS}.{FMT}")
async def add_command(request: web.Request) -> web.Response:
    params = await params_of(request, BODY_LIMIT)
    talkback = await _queue(request, params)
    command = await _service(request).add_command(
        talkback, check_command_string(params.get("command_string")), check_position(params.get("position"))
    )
    if _text_format(request):
        return _text(str(command.id))
    return reply(request, command_dict(command, tz_of(params)), root="command")


@_route("GET", COMMANDS, f"{COMMANDS}.{FMT}")
async def list_commands(request: web.Request) -> web.Response:
    params = dict(request.query)
    talkback = await _queue(request, params)
    tz = tz_of(params)
    return reply(request, [command_dict(c, tz) for c in await _service(request).commands(talkback)], root="commands")


@_route("DELETE", COMMANDS, f"{COMMANDS}.{FMT}")
async def delete_commands(request: web.Request) -> web.Response:
    params = await params_of(request, BODY_LIMIT)
    talkback = await _queue(request, params)
    await _service(request).delete_commands(talkback)
    return reply(request, [], root="commands")


@_route("GET,POST", f"{COMMANDS}/execute", f"{COMMANDS}/execute.{FMT}")
async def execute_command(request: web.Request) -> web.Response:
    params = await params_of(request, BODY_LIMIT)
    talkback = await _queue(request, params)
    command = await _service(request).execute_next(talkback)
    if _text_format(request):
        return _text(command.command_string if command else "")
    return reply(request, command_dict(command, tz_of(params)) if command else {}, root="command")


@_route("GET", f"{COMMANDS}/last", f"{COMMANDS}/last.{FMT}")
async def last_command(request: web.Request) -> web.Response:
    params = dict(request.query)
    talkback = await _queue(request, params)
    return _one(request, params, await _service(request).last_executed(talkback))


def _one(request: web.Request, params: Mapping[str, Any], command: Command) -> web.Response:
    if _text_format(request):
        return _text(command.command_string)
    return reply(request, command_dict(command, tz_of(params)), root="command")


@_route("GET", COMMAND, f"{COMMAND}.{FMT}")
async def get_command(request: web.Request) -> web.Response:
    params = dict(request.query)
    talkback = await _queue(request, params)
    command = await _service(request).command(talkback, int(request.match_info["command_id"]))
    return _one(request, params, command)


@_route("PUT", COMMAND, f"{COMMAND}.{FMT}")
async def update_command(request: web.Request) -> web.Response:
    params = await params_of(request, BODY_LIMIT)
    talkback = await _queue(request, params)
    text = params.get("command_string")
    position = check_position(params.get("position"))
    if text is None and position is None:
        raise ThingSpeakError("send command_string or position", field="command_string")
    command = await _service(request).update_command(
        talkback,
        int(request.match_info["command_id"]),
        None if text is None else check_command_string(text),
        position,
    )
    return _one(request, params, command)


@_route("DELETE", COMMAND, f"{COMMAND}.{FMT}")
async def delete_command(request: web.Request) -> web.Response:
    params = await params_of(request, BODY_LIMIT)
    talkback = await _queue(request, params)
    command = await _service(request).delete_command(talkback, int(request.match_info["command_id"]))
    return _one(request, params, command)


# -- "Write Data and Execute TalkBack Command": /update with talkback_key -----------------------------


async def execute_on_update(request: web.Request, params: Mapping[str, Any]) -> AfterWrite | None:
    """The /update hook: with `talkback_key`, the next command goes back in the update's reply."""
    key = params.get("talkback_key")
    if key is None:
        return None
    if not isinstance(key, str):
        raise ThingSpeakError("talkback_key must be a string", field="talkback_key")
    service = _service(request)
    talkback = await service.by_key(key)  # a wrong key is refused here, before anything is written

    async def execute_next() -> dict[str, Any]:
        command = await service.execute_next(talkback)
        if command is None:
            return {"talkback": None, "command_string": ""}
        return {"talkback": command_dict(command, tz_of(params)), "command_string": command.command_string}

    return execute_next
