"""The IoT domain's part of the OpenAPI document (server/web/openapi.py): one module per route module."""

from __future__ import annotations

from aiohttp import web

from server.iot.apidoc import embed, mqtt_devices, reads, rules, talkback, thingspeak, widgets
from server.web.apidoc.kit import JSON
from server.web.openapi import add_part

_KEY_HEADER = "THINGSPEAKAPIKEY"
_BODY_NOTE = "On POST, PUT and DELETE it may also be the `api_key` member of the form or JSON body."


def _key_schemes(name: str, what: str) -> dict[str, JSON]:
    return {
        f"{name}Query": {
            "type": "apiKey",
            "in": "query",
            "name": "api_key",
            "description": f"{what}. {_BODY_NOTE}",
        },
        f"{name}Header": {
            "type": "apiKey",
            "in": "header",
            "name": _KEY_HEADER,
            "description": f"{what}, in the header (X-{_KEY_HEADER} works too).",
        },
    }


SECURITY_SCHEMES: dict[str, JSON] = {
    **_key_schemes("userApiKey", "The user API key (GET /api/me/api-key): acts as the owner"),
    **_key_schemes("writeApiKey", "A channel's write API key"),
    **_key_schemes("readApiKey", "A channel's read API key"),
    **_key_schemes("talkbackApiKey", "A TalkBack's API key"),
}


def document(app: web.Application) -> None:
    add_part(
        app,
        thingspeak,
        tags=[("iot", "ThingSpeak-compatible channels, writes and reads")],
        security_schemes=SECURITY_SCHEMES,
    )
    add_part(app, reads)
    add_part(app, talkback, tags=[("talkback", "ThingSpeak-compatible TalkBack command queues")])
    add_part(app, rules, tags=[("rules", "Automation rules on a channel")])
    add_part(app, mqtt_devices, tags=[("mqtt", "MQTT devices: broker credentials, allowed on chosen channels")])
    add_part(app, widgets)
    add_part(app, embed)
