"""The to-device inbox in the OpenAPI document: server/chat/inbox_routes.py (rules in server/chat/inbox.py)."""

from __future__ import annotations

from server.chat.inbox import MAX_CONTENT_BYTES, MAX_PAGE, MAX_PENDING, MAX_TARGETS, SENDS
from server.chat.inbox_routes import BODY_LIMIT, INT53
from server.web.apidoc.kit import INTEGER, JSON, STRING, TIME, ApiBook, array, nullable, obj, query, ref, reply
from server.web.validation import Field

_ID = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}
_TYPE = {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$", "description": "e.g. `m.room.encrypted`"}
_CONTENT = {"type": "object", "description": f"opaque to the server; at most {MAX_CONTENT_BYTES} bytes as JSON"}
_BY_DEVICE = {"type": "object", "additionalProperties": _CONTENT, "description": "device id (or `*`) -> content"}

SCHEMAS: dict[str, JSON] = {
    "ToDeviceMessage": obj(
        {
            "id": {"type": "integer", "description": "counts up per device, never repeats; not contiguous"},
            "sender_id": STRING,
            "sender_device_id": nullable(STRING),
            "type": _TYPE,
            "content": _CONTENT,
            "created_at": TIME,
        }
    ),
}


def paths() -> dict[str, dict[str, JSON]]:
    book = ApiBook(path_params={})
    not_published = "`not_published`: this device (session) has no keys in the directory; PUT /api/keys/device first."
    book.op(
        "POST",
        "/api/todevice",
        tag="todevice",
        summary="Send a payload to each of some devices (Olm ciphertext, key requests)",
        description="`messages` is `{user_id: {device_id: content}}`; the device id `*` names every live device of "
        f"that user but the sender's own. At most {MAX_TARGETS} payloads. Each target device gets its payload once: "
        "it waits in the device's inbox until acknowledged (or until the device's session ends, which empties its "
        "inbox) and is pushed live (`todevice`) to the device's sockets. "
        "A device that is not a live device of that user, or whose inbox is full "
        f"({MAX_PENDING} waiting), is listed in `undelivered`; the others get theirs. "
        f"Rate-limited: {SENDS.count} sends per {int(SENDS.seconds)} s per user.",
        fields={"type": Field(str), "messages": Field(dict)},
        refine={
            "type": _TYPE,
            "messages": {"type": "object", "additionalProperties": _BY_DEVICE},
        },
        limit=BODY_LIMIT,
        ok={
            200: reply(
                "Stored for each device listed by `sent`.",
                obj(
                    {
                        "sent": INTEGER,
                        "undelivered": array(
                            obj(
                                {
                                    "user_id": STRING,
                                    "device_id": STRING,
                                    "reason": {"type": "string", "enum": ["unknown_device", "inbox_full"]},
                                }
                            )
                        ),
                    }
                ),
            )
        },
        errors={429: "Too many sends; see `Retry-After`."},
    )
    book.op(
        "GET",
        "/api/todevice",
        tag="todevice",
        summary="This device's waiting to-device messages, oldest first",
        params=[
            query("after", {"type": "integer", "minimum": 0, "maximum": INT53, "default": 0}, "only ids above this"),
            query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 100}),
        ],
        ok={
            200: reply(
                "The messages; `more` when more wait after the last.",
                obj({"device_id": _ID, "messages": array(ref("ToDeviceMessage")), "more": {"type": "boolean"}}),
            )
        },
        errors={400: "`after` or `limit` is not valid.", 404: not_published},
    )
    book.op(
        "POST",
        "/api/todevice/ack",
        tag="todevice",
        summary="Acknowledge this device's messages up to an id: they are deleted",
        fields={"up_to": Field(int)},
        refine={"up_to": {"type": "integer", "minimum": 0, "maximum": INT53}},
        ok={200: reply("Removed; `pending` still wait.", obj({"removed": INTEGER, "pending": INTEGER}))},
        errors={404: not_published},
    )
    return book.paths
