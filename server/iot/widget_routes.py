"""A channel's dashboard widgets under /api/channels/{id}/widgets: the owner (signed in, or with the user API key)
reads and replaces them; anyone reads the display widgets of a public channel (its public page and embeds)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.iot.appkeys import channels_key, talkbacks_key
from server.iot.http import optional_owner, owner_of
from server.iot.widgets import WidgetService
from server.storage.widgets import WidgetRepository
from server.web.params import ID, id_in_path
from server.web.validation import Field, read_json

routes = web.RouteTableDef()

BODY_LIMIT = 64 * 1024
WIDGETS = f"/api/channels/{{channel_id:{ID}}}/widgets"
SAVE_FIELDS = {"widgets": Field(list)}


def _service(request: web.Request) -> WidgetService:
    channels = request.app[channels_key].repo
    return WidgetService(WidgetRepository(channels.db), channels, request.app[talkbacks_key].repo)


def _channel_id(request: web.Request) -> int:
    return id_in_path(request.match_info["channel_id"], "no such channel")


def _answer(channel_id: int, widgets: list[dict[str, Any]], updated_at: float | None) -> web.Response:
    return web.json_response({"channel_id": channel_id, "widgets": widgets, "updated_at": updated_at})


@routes.get(WIDGETS)
async def get_widgets(request: web.Request) -> web.Response:
    channel_id = _channel_id(request)
    user_id = await optional_owner(request, request.query)
    _, widgets, updated_at = await _service(request).shown_to(channel_id, user_id)
    return _answer(channel_id, widgets, updated_at)


@routes.put(WIDGETS)
async def save_widgets(request: web.Request) -> web.Response:
    channel_id = _channel_id(request)
    owner = await owner_of(request, request.query)
    body = await read_json(request, SAVE_FIELDS, BODY_LIMIT)
    widgets, updated_at = await _service(request).save(channel_id, owner, body["widgets"])
    return _answer(channel_id, widgets, updated_at)
