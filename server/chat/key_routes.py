"""HTTP routes of the end-to-end key directory, /api/keys/*: a device publishes its public keys, other users
fetch them and claim one-time prekeys. Every route needs a signed-in user; the rules are in server/chat/keydir.py."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.auth.guard import require_user
from server.chat.appkeys import key_directory_key
from server.chat.keydir import (
    MAX_STORED,
    ClaimedBundle,
    DeviceState,
    KeyDirectory,
    check_user_id,
    decode_key,
    device_ids_of,
    one_time_prekeys_of,
    signed_prekey_of,
)
from server.encoding import encode_base64
from server.storage.keydir import Device
from server.web.validation import Field, read_json

routes = web.RouteTableDef()

# 200 one-time prekeys of 1024 bytes each, base64, with their JSON around them.
BODY_LIMIT = 512 * 1024
USER = "/api/keys/users/{user_id}"


def _service(request: web.Request) -> KeyDirectory:
    return request.app[key_directory_key]


def bundle_dict(device: Device) -> dict[str, Any]:
    """What anyone may see of a device: its id and public keys."""
    signed = device.signed_prekey
    return {
        "device_id": device.id,
        "identity_key": encode_base64(device.identity_key),
        "signed_prekey": {
            "key_id": signed.key_id,
            "public_key": encode_base64(signed.public_key),
            "signature": encode_base64(signed.signature),
        },
    }


def state_dict(state: DeviceState) -> dict[str, Any]:
    return {
        **bundle_dict(state.device),
        "one_time_prekey_count": state.one_time_prekey_count,
        "one_time_prekey_limit": MAX_STORED,
        "created_at": state.device.created_at,
        "updated_at": state.device.updated_at,
    }


def claimed_dict(claimed: ClaimedBundle) -> dict[str, Any]:
    prekey = claimed.one_time_prekey
    return {
        **bundle_dict(claimed.device),
        "one_time_prekey": None
        if prekey is None
        else {"key_id": prekey.key_id, "public_key": encode_base64(prekey.public_key)},
    }


# -- this device ----------------------------------------------------------------------------------------


@routes.put("/api/keys/device")
async def publish(request: web.Request) -> web.Response:
    principal = await require_user(request)
    body = await read_json(
        request,
        {"identity_key": Field(str), "signed_prekey": Field(dict), "one_time_prekeys": Field(list, required=False)},
        BODY_LIMIT,
    )
    identity_key = decode_key(body["identity_key"], "identity_key")
    signed_prekey = signed_prekey_of(body["signed_prekey"])
    one_time = one_time_prekeys_of(body.get("one_time_prekeys", []))
    state, created = await _service(request).publish(principal, identity_key, signed_prekey, one_time)
    return web.json_response(state_dict(state), status=201 if created else 200)


@routes.post("/api/keys/device/one-time")
async def add_one_time_prekeys(request: web.Request) -> web.Response:
    principal = await require_user(request)
    body = await read_json(request, {"one_time_prekeys": Field(list)}, BODY_LIMIT)
    prekeys = one_time_prekeys_of(body["one_time_prekeys"], min_count=1)
    state = await _service(request).add_one_time_prekeys(principal, prekeys)
    return web.json_response(state_dict(state))


@routes.get("/api/keys/device")
async def my_device(request: web.Request) -> web.Response:
    principal = await require_user(request)
    return web.json_response(state_dict(await _service(request).device(principal)))


@routes.delete("/api/keys/device")
async def remove_device(request: web.Request) -> web.Response:
    principal = await require_user(request)
    await _service(request).remove(principal)
    return web.Response(status=204)


# -- other users' devices -------------------------------------------------------------------------------


@routes.get(USER)
async def user_devices(request: web.Request) -> web.Response:
    await require_user(request)
    user_id = check_user_id(request.match_info["user_id"])
    devices = await _service(request).devices_of(user_id)
    return web.json_response({"user_id": user_id, "devices": [bundle_dict(d) for d in devices]})


@routes.post(USER + "/claim")
async def claim(request: web.Request) -> web.Response:
    principal = await require_user(request)
    user_id = check_user_id(request.match_info["user_id"])
    body = await read_json(request, {"device_ids": Field(list, required=False)})
    device_ids = device_ids_of(body["device_ids"]) if "device_ids" in body else None
    claimed = await _service(request).claim(principal, user_id, device_ids)
    return web.json_response({"user_id": user_id, "devices": [claimed_dict(c) for c in claimed]})
