"""The ThingSpeak-compatible routes in the OpenAPI document: channels and writes (server/iot/routes.py), and the
book and shapes that reads.py (server/iot/read_routes.py) and talkback.py use too.

They keep ThingSpeak's habits, and the document says so: keys go in an `api_key` parameter (query, form or JSON
body) or the THINGSPEAKAPIKEY header; a path ending `.json` / `.xml` (`.csv` for reads) picks the answer's format;
a path without one answers plain text where ThingSpeak does; errors are ThingSpeak's error object in the asked
format, or `0` (`-1` for 404) as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from server.iot.channels import MAX_READ_KEYS
from server.iot.ingest import MAX_BULK
from server.iot.routes import BULK_BODY_LIMIT, CHANNEL_BODY_LIMIT, UPDATE_BODY_LIMIT
from server.iot.thingspeak import ERRORS, MAX_FIELD
from server.web.apidoc.kit import (
    BOOLEAN,
    INTEGER,
    JSON,
    NONE,
    STRING,
    PathBook,
    array,
    digits,
    json_content,
    nullable,
    obj,
    query,
    ref,
)

WRITE_FORMATS = ("json", "xml")
READ_FORMATS = ("json", "csv", "xml")
FIELDS = tuple(f"field{n}" for n in range(1, 9))

PATH_PARAMS: dict[str, JSON] = {
    "fmt": {"type": "string", "enum": list(WRITE_FORMATS), "description": "the answer's format"},
    "channel_id": digits(18),
    "key_id": {"type": "string", "maxLength": 64},
    "field": {"type": "integer", "minimum": 1, "maximum": 8},
    "entry": digits(18, "an entry id"),
    "talkback_id": digits(18),
    "command_id": digits(18),
}
_READ_FMT = {"fmt": {**PATH_PARAMS["fmt"], "enum": list(READ_FORMATS)}}

# Security alternatives (schemes in server/web/openapi.py). A key may also be the `api_key` member of a form or
# JSON body on POST, PUT and DELETE; OpenAPI has no scheme for that, so the bodies list it.
USER_KEY: list[JSON] = [{"userApiKeyQuery": []}, {"userApiKeyHeader": []}, {"bearerAuth": []}]
WRITE_KEY: list[JSON] = [{"writeApiKeyQuery": []}, {"writeApiKeyHeader": []}]
READ_ACCESS: list[JSON] = [
    {},
    {"readApiKeyQuery": []},
    {"readApiKeyHeader": []},
    {"userApiKeyQuery": []},
    {"userApiKeyHeader": []},
    {"bearerAuth": []},
]

VALUE: JSON = {
    "type": ["string", "number", "boolean"],
    "maxLength": MAX_FIELD,
    "description": "no control characters other than tab, line feed and carriage return (a 400 names the field)",
}
TIMESTAMP: JSON = {"type": "string", "description": "ISO 8601 (`2014-02-26T12:42:01Z`, or with the zone's offset)"}
DECIMAL: JSON = nullable({"type": "string", "description": "a decimal number, as text"})
TIMEZONE: JSON = {"type": "string", "description": "an IANA time zone name (`Europe/Berlin`); UTC when absent"}
_ERROR_CODES = [code for code, _ in ERRORS.values()]
_SOME_FIELDS = "field1..field8: the channel's named fields only (feeds) or the one asked for (fields/{field})"

SCHEMAS: dict[str, JSON] = {
    "ThingSpeakError": obj(
        {
            "status": {"type": "string", "description": "the HTTP status, as text"},
            "error": obj(
                {
                    "error_code": {"type": "string", "enum": _ERROR_CODES},
                    "message": STRING,
                    "details": {"type": "string", "description": "what was wrong"},
                    "field": {
                        "type": "string",
                        "description": "the parameter at fault: `created_at`, `updates[3].field2`",
                    },
                },
                required=["error_code", "message", "details"],
            ),
        }
    ),
    "ThingSpeakApiKey": obj({"api_key": STRING, "write_flag": BOOLEAN, "id": STRING, "note": nullable(STRING)}),
    "ThingSpeakChannel": obj(
        {
            "id": INTEGER,
            "name": STRING,
            "description": nullable(STRING),
            "latitude": DECIMAL,
            "longitude": DECIMAL,
            "elevation": DECIMAL,
            **{name: {"type": "string", "description": "present when the field is named"} for name in FIELDS},
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
            "last_entry_id": nullable(INTEGER),
            "public_flag": BOOLEAN,
            "url": nullable(STRING),
            "tags": array(obj({"id": INTEGER, "name": STRING})),
            "ranking": {"type": "integer", "minimum": 0, "maximum": 100, "description": "ThingSpeak's completeness"},
            "username": {"type": "string", "description": "the owner's pseudonym (stable per owner)"},
            "metadata": {**nullable(STRING), "description": "on single channels, and with `metadata=true` on feeds"},
            "api_keys": {**array(ref("ThingSpeakApiKey")), "description": "for the channel's owner only"},
            "retention_days": {**nullable(INTEGER), "description": "for the owner only"},
            "min_update_seconds": {**nullable({"type": "number"}), "description": "for the owner only"},
        },
        required=[
            "id",
            "name",
            "description",
            "latitude",
            "longitude",
            "elevation",
            "created_at",
            "updated_at",
            "last_entry_id",
            "public_flag",
            "url",
            "tags",
        ],
    ),
    "ThingSpeakEntry": obj(
        {
            "created_at": TIMESTAMP,
            "entry_id": {"type": ["integer", "null"], "description": "absent from sums, averages and medians"},
            **{name: {**nullable(STRING), "description": _SOME_FIELDS} for name in FIELDS},
            "latitude": {**DECIMAL, "description": "with location=true"},
            "longitude": {**DECIMAL, "description": "with location=true"},
            "elevation": {**DECIMAL, "description": "with location=true"},
            "status": {**nullable(STRING), "description": "with status=true"},
        },
        required=["created_at"],
    ),
    "ThingSpeakWritten": obj(
        {
            "channel_id": INTEGER,
            "created_at": TIMESTAMP,
            "entry_id": INTEGER,
            **dict.fromkeys(FIELDS, nullable(STRING)),
            "latitude": DECIMAL,
            "longitude": DECIMAL,
            "elevation": DECIMAL,
            "status": nullable(STRING),
            "command": {**nullable(ref("TalkBackCommand")), "description": "with talkback_key: the executed command"},
        },
        required=["channel_id", "created_at", "entry_id", *FIELDS, "latitude", "longitude", "elevation", "status"],
    ),
    "ThingSpeakFeed": obj({"channel": ref("ThingSpeakChannel"), "feeds": array(ref("ThingSpeakEntry"))}),
}

_FORMAT_TYPES = {"json": "application/json", "xml": "application/xml", "csv": "text/csv", "text": "text/plain"}
_XML: JSON = {
    "type": "string",
    "description": "the same as XML, ThingSpeak's way (dashes in names, type attributes); always well-formed: a "
    "character XML cannot carry is shown as U+FFFD",
}
_CSV: JSON = {
    "type": "string",
    "description": "a header line, then rows; a cell that a spreadsheet would run as a formula (text starting with "
    "=, +, -, @, tab or carriage return that is not a plain number such as -12.5) starts with an apostrophe",
}
_ERROR_TEXT: JSON = {"type": "string", "enum": ["0", "-1"], "description": "`-1`: not found (on reads: or no access)"}


def content(schema: JSON, formats: Iterable[str], text: JSON | None = None) -> JSON:
    """The answer in each format: `schema` as JSON, XML text, CSV text, or `text` as plain text."""
    out: JSON = {}
    for fmt in formats:
        if fmt == "json":
            out[_FORMAT_TYPES[fmt]] = {"schema": schema}
        elif fmt == "xml":
            out[_FORMAT_TYPES[fmt]] = {"schema": _XML}
        elif fmt == "csv":
            out[_FORMAT_TYPES[fmt]] = {"schema": _CSV}
        else:
            out[_FORMAT_TYPES[fmt]] = {"schema": text or STRING}
    return out


def error_content(formats: Iterable[str]) -> JSON:
    out: JSON = {}
    for fmt in formats:
        if fmt == "json":
            out["application/json"] = {"schema": ref("ThingSpeakError")}
        elif fmt == "xml":
            out["application/xml"] = {"schema": {**_XML, "description": "ThingSpeak's error object as XML"}}
        else:
            out["text/plain"] = {"schema": _ERROR_TEXT}
    return out


class ThingSpeakBook(PathBook):
    def op(
        self,
        method: str,
        path: str,
        *,
        formats: Sequence[str],
        summary: str,
        ok: Mapping[int, tuple[str, JSON]],
        text: JSON | None = None,
        error_formats: Sequence[str] | None = None,
        tag: str = "iot",
        errors: Mapping[int, str] | Iterable[int] = (),
        **more: Any,
    ) -> None:
        """One operation answering in `formats` ("text": plain text, `text` its schema): `ok` maps a status to
        (description, JSON schema). Errors come in `error_formats` (by default those of `formats`; CSV's are text)."""
        replies = {status: {"description": d, "content": content(s, formats, text)} for status, (d, s) in ok.items()}
        if error_formats is None:
            error_formats = ["text" if f == "csv" else f for f in formats]
        more.setdefault("error_content", error_content(dict.fromkeys(error_formats)))
        if "fmt" in path and "csv" in formats:
            more.setdefault("path_params", _READ_FMT)
        self.add(method, path, tag=tag, summary=summary, ok=replies, errors=errors, **more)
        if "{fmt}" in path:
            self._unknown_ending(self.paths[path][method.lower()]["responses"])

    @staticmethod
    def _unknown_ending(responses: JSON) -> None:
        """A path with an ending other than those listed matches no route: the API's own 404 (`Error`) answers."""
        note = "An ending other than the listed formats matches no route: the API's plain 404 (`Error`)."
        found = responses.get("404")
        if found is None:
            responses["404"] = {"description": note, "content": {"application/json": {"schema": ref("Error")}}}
            return
        content = dict(found["content"])  # shared between operations: changed as a copy
        given = content.get("application/json")
        schema = {"anyOf": [given["schema"], ref("Error")]} if given else ref("Error")
        content["application/json"] = {"schema": schema}
        responses["404"] = {**found, "description": f"{found['description']} {note}", "content": content}

    def variants(self, method: str, path: str, *, text: JSON | None = None, **kwargs: Any) -> None:
        """A TalkBack route with `.json` / `.xml`, and without an extension: that one answers plain text where `text`
        is given and JSON otherwise, and its errors are always text."""
        self.op(method, f"{path}.{{fmt}}", formats=WRITE_FORMATS, **kwargs)
        plain = ["text"] if text is not None else ["json"]
        self.op(method, path, formats=plain, text=text, error_formats=["text"], **kwargs)


def paths() -> dict[str, dict[str, JSON]]:
    book = ThingSpeakBook(path_params=PATH_PARAMS, error_content=error_content(WRITE_FORMATS))
    _channels(book)
    _writes(book)
    return book.paths


# -- parameters and bodies ----------------------------------------------------------------------------------


def body(properties: Mapping[str, JSON], *, required: Sequence[str] = (), closed: bool = False) -> JSON:
    """The same members as a form or a JSON object (members may come in the query string instead)."""
    schema = obj(properties, required=required, closed=closed)
    return {
        "application/x-www-form-urlencoded": {"schema": schema},
        "application/json": {"schema": schema},
    }


def params(properties: Mapping[str, JSON]) -> list[JSON]:
    return [query(name, schema) for name, schema in properties.items()]


API_KEY: JSON = {"type": "string", "maxLength": 64, "description": "the key, when not in the query or the header"}
KEY_MEMBERS: dict[str, JSON] = {"api_key": API_KEY, "timezone": TIMEZONE}

CHANNEL_SETTINGS: dict[str, JSON] = {
    "name": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": {"type": "string", "maxLength": 2000},
    "metadata": {"type": "string", "maxLength": 4000},
    "tags": {"type": "string", "maxLength": 1000, "description": "comma-separated"},
    "url": {"type": "string", "maxLength": 500},
    **{name: {"type": "string", "maxLength": MAX_FIELD, "description": "the field's name"} for name in FIELDS},
    "latitude": {"type": ["number", "string", "null"], "minimum": -90, "maximum": 90},
    "longitude": {"type": ["number", "string", "null"], "minimum": -180, "maximum": 180},
    "elevation": {"type": ["number", "string", "null"], "minimum": -20_000, "maximum": 100_000},
    "public_flag": {"type": ["boolean", "string"], "enum": [True, False, "true", "false", "1", "0"]},
    "retention_days": {
        "type": ["integer", "string", "null"],
        "minimum": 1,
        "maximum": 36_500,
        "description": "points older than this many days are removed; null or empty: kept forever",
    },
    "min_update_seconds": {
        "type": ["number", "string", "null"],
        "minimum": 0,
        "maximum": 86_400,
        "description": "writes sooner than this after the last are refused with 429; null or empty: no limit",
    },
}

POINT: dict[str, JSON] = {
    **dict.fromkeys(FIELDS, VALUE),
    "lat": {"type": ["number", "string"], "minimum": -90, "maximum": 90},
    "latitude": {"type": ["number", "string"], "minimum": -90, "maximum": 90},
    "long": {"type": ["number", "string"], "minimum": -180, "maximum": 180},
    "longitude": {"type": ["number", "string"], "minimum": -180, "maximum": 180},
    "elevation": {"type": ["number", "string"], "minimum": -20_000, "maximum": 100_000},
    "status": {"type": "string", "maxLength": MAX_FIELD},
    "created_at": {
        "type": ["string", "number"],
        "description": "ISO 8601 (`2018-03-07T10:26:02Z`), ThingSpeak's `2018-03-07 10:26:02 UTC` or "
        "`2018-01-30 10:26:02 -0500` (one-digit parts too), `2018-03-07 10:26:02` (in `timezone`), or epoch "
        "seconds; from 1970 to 24 hours ahead of the server's clock",
    },
}
UPDATE = {
    **POINT,
    "timezone": TIMEZONE,
    "talkback_key": {"type": "string", "description": "also execute this TalkBack's next command and answer it"},
}

_NOTE_KEYS = (
    "The user API key (or a signed-in session) names the owner; it may be the `api_key` query parameter, the "
    "THINGSPEAKAPIKEY header, or an `api_key` member of the body."
)
OWNER_ERRORS = {
    400: "A refused parameter (unknown names are refused); `details` names it.",
    401: "No valid user API key or session.",
    404: "No such channel of the caller's.",
    413: f"The body is larger than {CHANNEL_BODY_LIMIT} bytes.",
    422: "The form body is not UTF-8.",
}


# -- channels -----------------------------------------------------------------------------------------------


def _channels(book: ThingSpeakBook) -> None:
    channel = ref("ThingSpeakChannel")
    settings = body({**CHANNEL_SETTINGS, **KEY_MEMBERS}, closed=True)
    tz = [query("timezone", TIMEZONE)]
    owner: dict[str, Any] = {"security": USER_KEY, "description": _NOTE_KEYS}
    book.op(
        "POST",
        "/channels.{fmt}",
        formats=WRITE_FORMATS,
        summary="Create a channel (with a write key and a read key)",
        body=settings,
        ok={200: ("The channel with its keys.", channel)},
        errors={k: v for k, v in OWNER_ERRORS.items() if k != 404},
        **owner,
    )
    book.op(
        "GET",
        "/channels.{fmt}",
        formats=WRITE_FORMATS,
        summary="The owner's channels, with their keys",
        params=tz,
        ok={200: ("The channels.", array(channel))},
        errors={400: OWNER_ERRORS[400], 401: OWNER_ERRORS[401]},
        **owner,
    )
    book.op(
        "GET",
        "/channels/public.{fmt}",
        formats=WRITE_FORMATS,
        summary="Public channels, 15 at a time, optionally with a tag",
        security=NONE,
        params=[
            query("tag", STRING),
            query("after", digits(18), "the `next_after` of the previous page"),
            query("page", {"type": "integer", "minimum": 1, "maximum": 10_000, "default": 1}, "ThingSpeak's pages"),
            *tz,
        ],
        ok={
            200: (
                "A page of channels.",
                obj(
                    {
                        "pagination": obj(
                            {
                                "current_page": INTEGER,
                                "per_page": {"const": 15},
                                "total_entries": INTEGER,
                                "next_after": nullable(INTEGER),
                            }
                        ),
                        "channels": array(channel),
                    }
                ),
            )
        },
        errors={400: "`page` or `after` is not valid."},
    )
    book.op(
        "GET",
        "/channels/{channel_id}.{fmt}",
        formats=WRITE_FORMATS,
        summary="A channel: public, or with a read key or the owner's credentials (keys shown to the owner)",
        security=READ_ACCESS,
        params=tz,
        ok={200: ("The channel.", channel)},
        errors={400: "A refused parameter.", 401: "A private channel, without a valid key.", 404: "No such channel."},
    )
    book.op(
        "PUT",
        "/channels/{channel_id}.{fmt}",
        formats=WRITE_FORMATS,
        summary="Change a channel's settings",
        body=settings,
        ok={200: ("The channel as changed.", channel)},
        errors=OWNER_ERRORS,
        **owner,
    )
    book.op(
        "DELETE",
        "/channels/{channel_id}.{fmt}",
        formats=WRITE_FORMATS,
        summary="Delete a channel and its points",
        body=body(KEY_MEMBERS),
        ok={200: ("The channel as it was.", channel)},
        errors=OWNER_ERRORS,
        **owner,
    )
    book.op(
        "DELETE",
        "/channels/{channel_id}/feeds.{fmt}",
        formats=WRITE_FORMATS,
        summary="Clear a channel's points (entry ids keep counting)",
        body=body(KEY_MEMBERS),
        ok={200: ("An empty list.", {"type": "array", "maxItems": 0})},
        errors=OWNER_ERRORS,
        **owner,
    )
    book.op(
        "POST",
        "/channels/{channel_id}/api_keys/write.{fmt}",
        formats=WRITE_FORMATS,
        summary="Replace the channel's write key",
        body=body(KEY_MEMBERS),
        ok={200: ("The new write key.", ref("ThingSpeakApiKey"))},
        errors=OWNER_ERRORS,
        **owner,
    )
    book.op(
        "POST",
        "/channels/{channel_id}/api_keys/read.{fmt}",
        formats=WRITE_FORMATS,
        summary="Add a read key",
        body=body({"note": {"type": "string", "maxLength": 255}, **KEY_MEMBERS}),
        ok={201: ("The new read key.", ref("ThingSpeakApiKey"))},
        errors={**OWNER_ERRORS, 409: f"The channel has {MAX_READ_KEYS} read keys already."},
        **owner,
    )
    book.op(
        "DELETE",
        "/channels/{channel_id}/api_keys/read/{key_id}.{fmt}",
        formats=WRITE_FORMATS,
        summary="Delete a read key",
        body=body(KEY_MEMBERS),
        ok={200: ("Deleted.", obj({"deleted": {"const": True}}))},
        errors={**OWNER_ERRORS, 404: "No such channel of the caller's, or no such read key."},
        **owner,
    )
    book.add(
        "GET",
        "/api/me/api-key",
        tag="iot",
        summary="The caller's user API key (made on first use)",
        ok={200: {"description": "The key.", "content": {"application/json": {"schema": obj({"api_key": STRING})}}}},
        errors=[401],
        error_content=json_content(ref("Error")),
    )
    book.add(
        "POST",
        "/api/me/api-key/regenerate",
        tag="iot",
        summary="Replace the caller's user API key",
        ok={
            200: {"description": "The new key.", "content": {"application/json": {"schema": obj({"api_key": STRING})}}}
        },
        errors=[401],
        error_content=json_content(ref("Error")),
    )


# -- writes ---------------------------------------------------------------------------------------------------

WRITE_ERRORS = {
    400: "A refused value, or nothing to write; `details` names it.",
    401: "No valid write key (or a wrong `talkback_key`).",
    404: "The channel was deleted meanwhile.",
    409: "A point with this `created_at` exists already.",
    413: f"The body is larger than {UPDATE_BODY_LIMIT} bytes.",
    422: "The form body is not UTF-8.",
    429: "Sooner than the channel's `min_update_seconds`; see `Retry-After`.",
    503: "Not stored (shutting down, or a database failure): send it again; see `Retry-After`.",
}


def _writes(book: ThingSpeakBook) -> None:
    written = ref("ThingSpeakWritten")
    description = (
        "Answered once the point is committed. The write key may be the `api_key` query parameter or body "
        "member, or the THINGSPEAKAPIKEY header."
    )
    text: JSON = {"type": "string", "description": "the entry id; with `talkback_key`, the executed command (or empty)"}
    for suffix, formats in (("", ["text"]), (".{fmt}", WRITE_FORMATS)):
        book.op(
            "GET",
            f"/update{suffix}",
            formats=formats,
            summary="Write a point (parameters in the query)",
            description=description,
            security=WRITE_KEY,
            params=params(UPDATE),
            ok={200: ("Written.", written)},
            text=text,
            errors=WRITE_ERRORS,
        )
        book.op(
            "POST",
            f"/update{suffix}",
            formats=formats,
            summary="Write a point (parameters in the body or the query)",
            description=description,
            security=WRITE_KEY,
            body=body({**UPDATE, "api_key": API_KEY}),
            ok={200: ("Written.", written)},
            text=text,
            errors=WRITE_ERRORS,
        )
    bulk_errors = {
        **WRITE_ERRORS,
        401: "No valid write key, or the key of another channel.",
        413: f"More than {MAX_BULK} updates, or a body over {BULK_BODY_LIMIT} bytes.",
    }
    del bulk_errors[422]
    done = obj(
        {"success": {"const": True}, "first_entry_id": INTEGER, "last_entry_id": INTEGER, "count": INTEGER},
    )
    json_update = obj(
        {**POINT, "delta_t": {"type": ["number", "string"], "minimum": 0, "description": "seconds after the previous"}},
        required=[],
        closed=True,
    )
    book.op(
        "POST",
        "/channels/{channel_id}/bulk_update.json",
        formats=["json"],
        summary="Write many points at once, all or none",
        description="Every update has `created_at`, or every update has `delta_t` (then the last one is placed at "
        "the upload time and the others before it).",
        security=NONE,
        body={
            "application/json": {
                "schema": obj(
                    {
                        "write_api_key": STRING,
                        "updates": array(json_update, minItems=1, maxItems=MAX_BULK),
                        "timezone": TIMEZONE,
                    },
                    required=["write_api_key", "updates"],
                    closed=True,
                )
            }
        },
        ok={202: ("Written.", done)},
        errors=bulk_errors,
    )
    bulk_errors[422] = "The body is not UTF-8."
    book.op(
        "POST",
        "/channels/{channel_id}/bulk_update.csv",
        formats=["json"],
        summary="Write many points at once from CSV, all or none",
        description="`updates` holds rows separated by `|`: `time,field1,…,field8,latitude,longitude,elevation,"
        "status`, with `time` absolute or seconds after the previous row (`time_format`).",
        security=NONE,
        body={
            "application/x-www-form-urlencoded": {
                "schema": obj(
                    {
                        "write_api_key": STRING,
                        "time_format": {"type": "string", "enum": ["absolute", "relative"]},
                        "updates": STRING,
                        "timezone": TIMEZONE,
                    },
                    required=["write_api_key", "time_format", "updates"],
                )
            }
        },
        ok={202: ("Written.", done)},
        errors=bulk_errors,
    )
