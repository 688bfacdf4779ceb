"""Dashboard widgets in the OpenAPI document: server/iot/widget_routes.py (checks in server/iot/widgets.py)."""

from __future__ import annotations

from server.iot.talkback import MAX_COMMAND
from server.iot.widget_routes import BODY_LIMIT, SAVE_FIELDS
from server.iot.widgets import (
    BOUND,
    LEVELS,
    MAX_DECIMALS,
    MAX_THRESHOLDS,
    MAX_TITLE,
    MAX_TRACK,
    MAX_UNIT,
    MAX_WIDGETS,
)
from server.web.apidoc.kit import INTEGER, JSON, TIME, ApiBook, array, digits, nullable, obj, ref, reply

PATH_PARAMS: dict[str, JSON] = {"channel_id": digits(18)}
_FIELD = {"type": "integer", "minimum": 1, "maximum": 8, "description": "the channel field it shows (1-8)"}
_NUMBER = {"type": "number", "minimum": -BOUND, "maximum": BOUND}
_TITLE = {"type": "string", "maxLength": MAX_TITLE, "default": ""}
_UNIT = {"type": "string", "maxLength": MAX_UNIT, "default": ""}
_DECIMALS = {"type": "integer", "minimum": 0, "maximum": MAX_DECIMALS}
_SEND = {"type": "string", "minLength": 1, "maxLength": MAX_COMMAND}
_TARGET = {
    "description": "what a control acts on: writes field n of this channel, or queues a command on a TalkBack of "
    "the owner's",
    "oneOf": [
        obj({"field": _FIELD}, closed=True),
        obj({"talkback_id": {"type": "integer", "minimum": 1}}, closed=True),
    ],
}


def _kind(name: str, members: dict[str, JSON], required: list[str], about: str) -> JSON:
    schema = obj({"type": {"const": name}, "title": _TITLE, **members}, required=["type", *required], closed=True)
    schema["description"] = about
    return schema


_KINDS: list[JSON] = [
    _kind("number", {"field": _FIELD, "unit": _UNIT, "decimals": _DECIMALS}, ["field"], "the latest value, big"),
    _kind(
        "gauge",
        {"field": _FIELD, "unit": _UNIT, "decimals": _DECIMALS, "min": _NUMBER, "max": _NUMBER},
        ["field", "min", "max"],
        "the latest value on a dial from min to max (max above min)",
    ),
    _kind(
        "lamp",
        {
            "field": _FIELD,
            "thresholds": array(
                obj({"at": _NUMBER, "level": {"type": "string", "enum": list(LEVELS)}}, closed=True),
                minItems=1,
                maxItems=MAX_THRESHOLDS,
            ),
        },
        ["field", "thresholds"],
        "a light: from each threshold's `at` upwards (ascending) it shows its level; below the first it is off",
    ),
    _kind("status", {}, [], "the channel's latest status text"),
    _kind(
        "location",
        {"points": {"type": "integer", "minimum": 1, "maximum": MAX_TRACK, "default": 100}},
        [],
        "the channel's latest positions (latitude, longitude) plotted as a track",
    ),
    _kind(
        "switch",
        {"target": _TARGET, "on": {**_SEND, "default": "1"}, "off": {**_SEND, "default": "0"}},
        ["target"],
        "sends `on` or `off` (owner only)",
    ),
    _kind("button", {"target": _TARGET, "send": _SEND}, ["target", "send"], "sends `send` (owner only)"),
    _kind(
        "slider",
        {
            "target": _TARGET,
            "min": _NUMBER,
            "max": _NUMBER,
            "step": {"type": "number", "exclusiveMinimum": 0, "default": 1, "description": "at most max - min"},
            "command": {**_SEND, "default": "{value}", "description": "what is sent; must contain {value}"},
        },
        ["target", "min", "max"],
        "sends the chosen value (owner only)",
    ),
]
SCHEMAS: dict[str, JSON] = {
    "Widget": {"oneOf": _KINDS},
    "ChannelWidgets": obj(
        {
            "channel_id": INTEGER,
            "widgets": array(ref("Widget")),
            "updated_at": {**nullable(TIME), "description": "when they were last saved (null: never)"},
        }
    ),
}


def paths() -> dict[str, dict[str, JSON]]:
    book = ApiBook(path_params=PATH_PARAMS)
    widgets = "/api/channels/{channel_id}/widgets"
    owner: list[JSON] = [{"bearerAuth": []}, {"userApiKeyQuery": []}, {"userApiKeyHeader": []}]
    suspended = "`account_suspended`: the user API key's account is suspended."
    book.op(
        "GET",
        widgets,
        tag="iot",
        summary="A channel's dashboard widgets, in their order",
        description="The owner sees every widget; anyone sees the display widgets of a public channel.",
        auth="none",
        security=[*owner, {}],
        ok={200: reply("The widgets.", ref("ChannelWidgets"))},
        errors={
            401: "A Bearer token that is not valid.",
            403: suspended,
            404: "`channel_not_found`: no such channel, or a private one of someone else's.",
        },
    )
    book.op(
        "PUT",
        widgets,
        tag="iot",
        summary="Replace a channel's dashboard widgets (their order is the arrangement)",
        fields=SAVE_FIELDS,
        refine={"widgets": array(ref("Widget"), maxItems=MAX_WIDGETS)},
        limit=BODY_LIMIT,
        security=owner,
        ok={200: reply("The widgets as saved, defaults filled in.", ref("ChannelWidgets"))},
        errors={
            400: "A widget that is not valid (`field` names it, e.g. `widgets[2].max`), or a TalkBack not the owner's.",
            403: suspended,
            404: "`channel_not_found`: no such channel of the caller's.",
        },
    )
    return book.paths
