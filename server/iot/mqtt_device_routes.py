"""MQTT devices under /api/mqtt/devices, for their user: signed in (Bearer) or with the user API key. The password
is in the answer to POST only; `provisioned` says whether the broker had the change when the answer was sent (if
not, it gets it when the server next reaches it)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.iot.appkeys import mqtt_devices_key
from server.iot.http import owner_of
from server.iot.mqtt_devices import MAX_NAME, MqttDeviceService, parse_grants
from server.storage.mqtt_devices import MqttDevice
from server.web.paging import decode_cursor, encode_cursor, page_limit
from server.web.validation import Field, read_json

routes = web.RouteTableDef()

BODY_LIMIT = 64 * 1024
DEVICES = "/api/mqtt/devices"
DEVICE = DEVICES + r"/{device_id:[0-9a-f]{32}}"

CREATE_FIELDS = {"name": Field(str, max_length=MAX_NAME, min_length=1), "channels": Field(list)}
UPDATE_FIELDS = {
    "name": Field(str, required=False, max_length=MAX_NAME, min_length=1),
    "channels": Field(list, required=False),
}


def device_dict(device: MqttDevice) -> dict[str, Any]:
    return {
        "id": device.id,
        "name": device.name,
        "client_id": device.client_id,
        "username": device.username,
        "channels": [
            {"channel_id": g.channel_id, "publish": g.publish, "subscribe": g.subscribe} for g in device.channels
        ],
        "created_at": device.created_at,
        "updated_at": device.updated_at,
    }


async def _caller(request: web.Request) -> tuple[MqttDeviceService, str]:
    return request.app[mqtt_devices_key], await owner_of(request, request.query)


@routes.post(DEVICES)
async def create_device(request: web.Request) -> web.Response:
    service, user_id = await _caller(request)
    body = await read_json(request, CREATE_FIELDS, BODY_LIMIT)
    device, password, provisioned = await service.create(user_id, body["name"], parse_grants(body["channels"]))
    return web.json_response({**device_dict(device), "password": password, "provisioned": provisioned}, status=201)


@routes.get(DEVICES)
async def list_devices(request: web.Request) -> web.Response:
    service, user_id = await _caller(request)
    limit = page_limit(request)
    after = decode_cursor(request, lambda v: (float(v[0]), str(v[1])))
    devices = await service.of_user(user_id, after, limit)
    following = encode_cursor([devices[-1].created_at, devices[-1].id]) if len(devices) == limit else None
    return web.json_response({"devices": [device_dict(d) for d in devices], "next": following})


@routes.get(DEVICE)
async def get_device(request: web.Request) -> web.Response:
    service, user_id = await _caller(request)
    return web.json_response(device_dict(await service.get(user_id, request.match_info["device_id"])))


@routes.patch(DEVICE)
async def update_device(request: web.Request) -> web.Response:
    service, user_id = await _caller(request)
    body = await read_json(request, UPDATE_FIELDS, BODY_LIMIT)
    grants = parse_grants(body["channels"]) if "channels" in body else None
    device, provisioned = await service.update(user_id, request.match_info["device_id"], body.get("name"), grants)
    return web.json_response({**device_dict(device), "provisioned": provisioned})


@routes.delete(DEVICE)
async def delete_device(request: web.Request) -> web.Response:
    service, user_id = await _caller(request)
    await service.delete(user_id, request.match_info["device_id"])
    return web.Response(status=204)
