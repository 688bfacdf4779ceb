"""HTTP routes of the to-device inbox, /api/todevice: send payloads to other devices, read and acknowledge this
device's own. Live delivery rides the WebSocket (`todevice` pushes to the sockets of the device's session, added
here for every signed-in socket). The rules are in server/chat/inbox.py."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.auth.guard import require_user
from server.chat.appkeys import inbox_key
from server.chat.inbox import MAX_PAGE, ToDeviceInbox, device_topic, event_type_of, message_dict, messages_of
from server.keys import broker_key
from server.realtime.connections import Connection
from server.web.params import int_param, require_int
from server.web.validation import Field, read_json

routes = web.RouteTableDef()

# 250 payloads of an Olm-encrypted room key (about 1.5 KB each) with their JSON around them, and room to spare.
BODY_LIMIT = 1024 * 1024
INT53 = 2**53 - 1  # ids a JavaScript number holds exactly


def _service(request: web.Request) -> ToDeviceInbox:
    return request.app[inbox_key]


@routes.post("/api/todevice")
async def send(request: web.Request) -> web.Response:
    principal = await require_user(request)
    body = await read_json(request, {"type": Field(str), "messages": Field(dict)}, BODY_LIMIT)
    event_type = event_type_of(body["type"])
    messages = messages_of(body["messages"])
    result = await _service(request).send(principal, event_type, messages)
    undelivered = [{"user_id": u, "device_id": d, "reason": why} for u, d, why in result.undelivered]
    return web.json_response({"sent": result.sent, "undelivered": undelivered})


@routes.get("/api/todevice")
async def pending(request: web.Request) -> web.Response:
    principal = await require_user(request)
    after = int_param(request.query.get("after"), "after", high=INT53, default=0)
    limit = int_param(request.query.get("limit"), "limit", low=1, high=MAX_PAGE, default=100)
    assert after is not None
    assert limit is not None
    device_id, messages, more = await _service(request).pending(principal, after, limit)
    body = {"device_id": device_id, "messages": [message_dict(m) for m in messages], "more": more}
    return web.json_response(body)


@routes.post("/api/todevice/ack")
async def acknowledge(request: web.Request) -> web.Response:
    principal = await require_user(request)
    body = await read_json(request, {"up_to": Field(int)})
    up_to = require_int(body["up_to"], "up_to", high=INT53)
    removed, waiting = await _service(request).acknowledge(principal, up_to)
    return web.json_response({"removed": removed, "pending": waiting})


async def hear_device(request: web.Request, conn: Connection) -> None:
    """A signed-in socket hears its session's device: that device's to-device messages, pushed live."""
    if conn.session_id is None:
        return

    def deliver(frame: dict[str, Any]) -> None:
        conn.send(frame)

    stop = await request.app[broker_key].subscribe(device_topic(conn.session_id), deliver)
    conn.subscribe("chat.todevice", stop)
