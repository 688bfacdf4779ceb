"""MQTT devices in the OpenAPI document: server/iot/mqtt_device_routes.py (rules in server/iot/mqtt_devices.py)."""

from __future__ import annotations

from typing import Any

from server.iot.mqtt_device_routes import BODY_LIMIT, CREATE_FIELDS, UPDATE_FIELDS
from server.iot.mqtt_devices import MAX_CHANNELS, MAX_DEVICES
from server.web.apidoc.kit import (
    BOOLEAN,
    JSON,
    PAGE_ERRORS,
    PAGE_PARAMS,
    STRING,
    TIME,
    ApiBook,
    array,
    no_content,
    obj,
    paged,
    ref,
    reply,
)

PATH_PARAMS: dict[str, JSON] = {"device_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}
_GRANT = obj(
    {
        "channel_id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1, "description": "a channel of yours"},
        "publish": {**BOOLEAN, "default": False, "description": "may publish to channels/{id}/publish..."},
        "subscribe": {**BOOLEAN, "default": False, "description": "may subscribe to channels/{id}/subscribe..."},
    },
    required=["channel_id"],
    closed=True,
)
_DEVICE: dict[str, JSON] = {
    "id": STRING,
    "name": STRING,
    "client_id": {**STRING, "description": "the MQTT client id the device must connect with"},
    "username": {**STRING, "description": "the MQTT user name (ThingSpeak's: the same as the client id)"},
    "channels": array(_GRANT),
    "created_at": TIME,
    "updated_at": TIME,
}
_PROVISIONED = {
    **BOOLEAN,
    "description": "whether the broker had the change when this answer was sent; if not, it gets it as soon as the "
    "server reaches it again (always false without MQTT_ADMIN_USERNAME)",
}
SCHEMAS: dict[str, JSON] = {
    "MqttDevice": obj(_DEVICE),
    "NewMqttDevice": obj(
        {
            **_DEVICE,
            "password": {**STRING, "description": "the MQTT password: shown this once, never again"},
            "provisioned": _PROVISIONED,
        }
    ),
    "ChangedMqttDevice": obj({**_DEVICE, "provisioned": _PROVISIONED}),
}
_REFINE: dict[str, JSON] = {
    "channels": array(_GRANT, maxItems=MAX_CHANNELS)
    | {"description": "each needs publish, subscribe or both; a channel at most once"},
}


def paths() -> dict[str, dict[str, JSON]]:
    book = ApiBook(path_params=PATH_PARAMS)
    devices, device = "/api/mqtt/devices", "/api/mqtt/devices/{device_id}"
    owner: list[JSON] = [{"bearerAuth": []}, {"userApiKeyQuery": []}, {"userApiKeyHeader": []}]
    who: dict[str, Any] = {"tag": "mqtt", "security": owner}
    missing = {404: "`device_not_found`: no such device of the caller's."}
    book.op(
        "POST",
        devices,
        summary="Create an MQTT device: credentials for the broker, allowed on channels of yours",
        fields=CREATE_FIELDS,
        refine=_REFINE,
        limit=BODY_LIMIT,
        ok={201: reply("Created; the password is in this answer only.", ref("NewMqttDevice"))},
        errors={
            400: f"A bad body, or `too_many_devices` (at most {MAX_DEVICES}).",
            404: "`channel_not_found`: a listed channel is not the caller's.",
        },
        **who,
    )
    book.op(
        "GET",
        devices,
        summary="The caller's MQTT devices, a page at a time (no passwords)",
        params=PAGE_PARAMS,
        ok={200: reply("A page of devices.", paged("devices", ref("MqttDevice")))},
        errors=PAGE_ERRORS,
        **who,
    )
    book.op(
        "GET",
        device,
        summary="One MQTT device",
        ok={200: reply("The device.", ref("MqttDevice"))},
        errors=missing,
        **who,
    )
    book.op(
        "PATCH",
        device,
        summary="Rename a device or change its channels (a connected device is disconnected to take the change)",
        fields=UPDATE_FIELDS,
        refine=_REFINE,
        limit=BODY_LIMIT,
        ok={200: reply("The device as changed.", ref("ChangedMqttDevice"))},
        errors={**missing, 404: "`device_not_found`, or `channel_not_found`: a listed channel is not the caller's."},
        **who,
    )
    book.op(
        "DELETE",
        device,
        summary="Delete an MQTT device (the broker forgets it and disconnects it)",
        ok={204: no_content("Deleted.")},
        errors=missing,
        **who,
    )
    return book.paths
