"""TalkBack in the OpenAPI document: server/iot/talkback_routes.py, ThingSpeak's command queues. TalkBack routes
come with `.json` / `.xml` and without an extension (see `ThingSpeakBook.variants`)."""

from __future__ import annotations

from typing import Any

from server.iot.apidoc.thingspeak import (
    KEY_MEMBERS,
    PATH_PARAMS,
    TIMESTAMP,
    TIMEZONE,
    USER_KEY,
    WRITE_FORMATS,
    ThingSpeakBook,
    body,
    error_content,
)
from server.iot.talkback import MAX_COMMAND, MAX_POSITION, MAX_QUEUE, MAX_TALKBACKS
from server.iot.talkback import MAX_NAME as MAX_TALKBACK_NAME
from server.iot.talkback_routes import BODY_LIMIT as TALKBACK_BODY_LIMIT
from server.web.apidoc.kit import (
    INTEGER,
    JSON,
    PAGE_ERRORS,
    PAGE_PARAMS,
    STRING,
    TIME,
    ApiBook,
    array,
    nullable,
    obj,
    paged,
    query,
    ref,
    reply,
)

QUEUE_KEY: list[JSON] = [{"talkbackApiKeyQuery": []}, {"talkbackApiKeyHeader": []}, *USER_KEY]

SCHEMAS: dict[str, JSON] = {
    "TalkBack": obj(
        {
            "id": INTEGER,
            "name": STRING,
            "channel_id": {**nullable(INTEGER), "description": "the channel executed commands are logged to"},
            "api_key": {**nullable(STRING), "description": "the TalkBack's key (null in a delete's answer)"},
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        }
    ),
    "TalkBackCommand": obj(
        {
            "id": INTEGER,
            "command_string": STRING,
            "position": nullable(INTEGER),
            "executed_at": nullable(TIMESTAMP),
            "created_at": TIMESTAMP,
        }
    ),
    "ExecutedCommand": obj(
        {"id": INTEGER, "command_string": STRING, "executed_at": TIME, "created_at": TIME},
    ),
}


def paths() -> dict[str, dict[str, JSON]]:
    book = ThingSpeakBook(path_params=PATH_PARAMS, error_content=error_content(WRITE_FORMATS))
    _talkbacks(book)
    _commands(book)
    return {**book.paths, **_executed()}


def _executed() -> dict[str, dict[str, JSON]]:
    """The web app's JSON route (errors are the API's `Error`)."""
    book = ApiBook(path_params={"talkback_id": PATH_PARAMS["talkback_id"]})
    book.op(
        "GET",
        "/api/talkbacks/{talkback_id}/executed",
        tag="talkback",
        summary="A TalkBack's executed commands, newest first, a page at a time",
        description="The newest 100 executed commands are kept. For the TalkBack's owner.",
        security=[{"bearerAuth": []}, {"userApiKeyQuery": []}, {"userApiKeyHeader": []}],
        params=PAGE_PARAMS,
        ok={200: reply("A page of executed commands.", paged("commands", ref("ExecutedCommand")))},
        errors={
            **PAGE_ERRORS,
            403: "`account_suspended`: the user API key's account is suspended.",
            404: "`talkback_not_found`: no such TalkBack of the caller's.",
        },
    )
    return book.paths


# -- TalkBack -----------------------------------------------------------------------------------------------------

TALKBACK = "/talkbacks/{talkback_id}"
COMMANDS = TALKBACK + "/commands"
COMMAND = COMMANDS + "/{command_id}"
_TB_ERRORS = {
    400: "A refused parameter; `details` names it.",
    401: "No valid key or session.",
    404: "No such TalkBack of the caller's.",
    413: f"The body is larger than {TALKBACK_BODY_LIMIT} bytes.",
    422: "The form body is not UTF-8.",
}
_QUEUE_ERRORS = {**_TB_ERRORS, 404: "No such TalkBack (or command)."}
_TALKBACK_TEXT = "Without an extension the answer is still JSON; only errors are text (`0`, or `-1` for 404)."
_COMMAND_TEXT = {"type": "string", "description": "the command string"}
# A command id of `last` or `execute` names another route of the queue, which takes other methods.
_SIBLING = "The command id is `last` or `execute`: another route of the queue, which does not take this method."


def _talkbacks(book: ThingSpeakBook) -> None:
    talkback = ref("TalkBack")
    members: dict[str, JSON] = {
        "name": {"type": "string", "minLength": 1, "maxLength": MAX_TALKBACK_NAME},
        "channel_id": {**nullable({"type": ["integer", "string"]}), "description": "log executed commands to it"},
        **KEY_MEMBERS,
    }
    owner: dict[str, Any] = {"tag": "talkback", "security": USER_KEY, "description": _TALKBACK_TEXT}
    book.variants(
        "POST",
        "/talkbacks",
        summary="Create a TalkBack (a command queue with its own key)",
        body=body(members),
        ok={201: ("Created, with its key.", talkback)},
        errors={**_TB_ERRORS, 409: f"The account has {MAX_TALKBACKS} TalkBacks already."},
        **owner,
    )
    book.variants(
        "GET",
        "/talkbacks",
        summary="The owner's TalkBacks",
        params=[query("timezone", TIMEZONE)],
        ok={200: ("The TalkBacks.", array(talkback))},
        errors={400: _TB_ERRORS[400], 401: _TB_ERRORS[401]},
        **owner,
    )
    book.variants(
        "GET",
        TALKBACK,
        summary="A TalkBack",
        params=[query("timezone", TIMEZONE)],
        ok={200: ("The TalkBack.", talkback)},
        errors={k: _TB_ERRORS[k] for k in (400, 401, 404)},
        **owner,
    )
    book.variants(
        "PUT",
        TALKBACK,
        summary="Rename a TalkBack or change its log channel",
        body=body(members),
        ok={200: ("The TalkBack as changed.", talkback)},
        errors=_TB_ERRORS,
        **owner,
    )
    book.variants(
        "DELETE",
        TALKBACK,
        summary="Delete a TalkBack and its queue",
        body=body(KEY_MEMBERS),
        ok={200: ("The TalkBack as it was (api_key null).", talkback)},
        errors=_TB_ERRORS,
        **owner,
    )
    book.variants(
        "POST",
        f"{TALKBACK}/api_key",
        summary="Replace a TalkBack's key",
        body=body(KEY_MEMBERS),
        ok={200: ("The TalkBack with its new key.", talkback)},
        errors=_TB_ERRORS,
        **owner,
    )


def _commands(book: ThingSpeakBook) -> None:
    command = ref("TalkBackCommand")
    queue: dict[str, Any] = {
        "tag": "talkback",
        "security": QUEUE_KEY,
        "description": "With the TalkBack's key, or the owner's credentials.",
    }
    position: JSON = {
        "type": ["integer", "string"],
        "minimum": 1,
        "maximum": MAX_POSITION,
        "description": "1 is first; absent: the end",
    }
    text: JSON = {"type": "string", "minLength": 1, "maxLength": MAX_COMMAND}
    next_one: JSON = {"anyOf": [command, {"type": "object", "maxProperties": 0}]}
    book.variants(
        "POST",
        COMMANDS,
        summary="Queue a command",
        body=body({"command_string": text, "position": position, **KEY_MEMBERS}, required=["command_string"]),
        ok={200: ("Queued (as text: the command id).", command)},
        text={"type": "string", "description": "the command id"},
        errors={**_QUEUE_ERRORS, 409: f"The queue holds {MAX_QUEUE} commands already."},
        **queue,
    )
    book.variants(
        "GET",
        COMMANDS,
        summary="The queued commands, in order (JSON also without an extension)",
        params=[query("timezone", TIMEZONE)],
        ok={200: ("The queue.", array(command))},
        errors={k: _QUEUE_ERRORS[k] for k in (400, 401, 404)},
        **queue,
    )
    book.variants(
        "DELETE",
        COMMANDS,
        summary="Empty the queue (JSON also without an extension)",
        body=body(KEY_MEMBERS),
        ok={200: ("An empty list.", {"type": "array", "maxItems": 0})},
        errors=_QUEUE_ERRORS,
        **queue,
    )
    for method in ("GET", "POST"):
        book.variants(
            method,
            f"{COMMANDS}/execute",
            summary="Execute the next command: take it off the queue",
            body=body(KEY_MEMBERS) if method == "POST" else None,
            params=[query("timezone", TIMEZONE)] if method == "GET" else (),
            ok={200: ("The command; `{}` (empty text without an extension) when the queue is empty.", next_one)},
            text=_COMMAND_TEXT,
            errors=_QUEUE_ERRORS,
            **queue,
        )
    one = {k: _QUEUE_ERRORS[k] for k in (400, 401, 404)}
    book.variants(
        "GET",
        f"{COMMANDS}/last",
        summary="The last executed command",
        params=[query("timezone", TIMEZONE)],
        ok={200: ("The command (as text: its string).", command)},
        text=_COMMAND_TEXT,
        errors={**one, 404: "No such TalkBack, or nothing executed yet."},
        **queue,
    )
    book.variants(
        "GET",
        COMMAND,
        summary="A command",
        params=[query("timezone", TIMEZONE)],
        ok={200: ("The command (as text: its string).", command)},
        text=_COMMAND_TEXT,
        errors=one,
        **queue,
    )
    book.variants(
        "PUT",
        COMMAND,
        summary="Change a queued command's string or position",
        body=body({"command_string": text, "position": position, **KEY_MEMBERS}),
        ok={200: ("The command (as text: its string).", command)},
        text=_COMMAND_TEXT,
        errors=_QUEUE_ERRORS,
        **queue,
    )
    book.variants(
        "DELETE",
        COMMAND,
        summary="Delete a command",
        body=body(KEY_MEMBERS),
        ok={200: ("The deleted command (as text: its string).", command)},
        text=_COMMAND_TEXT,
        errors=_QUEUE_ERRORS,
        **queue,
    )
    for method in ("put", "delete"):  # a command id of `last` or `execute` is another route's: the API's 405
        for path in (f"{COMMAND}.{{fmt}}", COMMAND):
            responses = book.paths[path][method]["responses"]
            responses["405"] = {"description": _SIBLING, "content": {"application/json": {"schema": ref("Error")}}}
