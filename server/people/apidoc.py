"""Finding people in the OpenAPI document: server/people/routes.py."""

from __future__ import annotations

from server.auth.apidoc import USERNAME_RULE
from server.people.routes import LOOKUP, MAX_USERNAME
from server.web.apidoc.kit import (
    JSON,
    PAGE_ERRORS,
    PAGE_PARAMS,
    STRING,
    TIME,
    ApiBook,
    nullable,
    obj,
    paged,
    ref,
    reply,
)

SCHEMAS: dict[str, JSON] = {
    "Person": obj(
        {
            "id": {"type": "string", "description": "the user id other routes take (`POST /api/chats` `user_id`)"},
            "display_name": STRING,
            "username": {**nullable(STRING), "description": "their `@name` without the @; null: none"},
            "avatar_url": {"type": "string", "description": "their picture, when they have one"},
        },
        required=["id", "display_name", "username"],
    ),
    "Contact": {
        "allOf": [
            ref("Person"),
            obj({"active_at": {**TIME, "description": "the latest activity in a chat you share (seconds)"}}),
        ]
    },
    "UsernameCheck": obj(
        {
            "username": {"type": "string", "description": "the name as checked (a leading @ dropped)"},
            "available": {"type": "boolean"},
            "reason": {
                "type": ["string", "null"],
                "enum": ["taken", "reserved", None],
                "description": "why it is not available; null when it is",
            },
        }
    ),
}


def paths() -> dict[str, dict[str, JSON]]:
    book = ApiBook(path_params={"username": {"type": "string", "maxLength": MAX_USERNAME}})
    book.op(
        "GET",
        "/api/people/usernames/{username}",
        tag="people",
        summary="Whether a username is free",
        description="For the sign-up form and the account page, as the user types; no sign-in needed. Limited per"
        " address (60 a minute). The caller's own username counts as taken.",
        auth="none",
        path_params={"username": {"type": "string", "maxLength": MAX_USERNAME, **USERNAME_RULE}},
        ok={200: reply("Free, taken or reserved.", ref("UsernameCheck"))},
        errors={
            400: "`invalid_username`: not a username at all (the message says which rule it breaks).",
            429: "Too many checks from this address; see `Retry-After`.",
        },
    )
    book.op(
        "POST",
        "/api/people/lookup",
        tag="people",
        summary="Find one person by exact username or exact e-mail address",
        description="Send `username` or `email`, not both. A username is matched without regard to case. An e-mail"
        " address finds only a person who turned on `email_discoverable` (PATCH /api/me; off by default), and only"
        " by the whole address: there is no partial match and never a list. Every e-mail lookup counts, found or"
        " not: 10 an hour per account and 30 an hour per address; username lookups 60 a minute. Unconfirmed and"
        " suspended accounts are never found. The address travels in the body so that it never appears in a URL.",
        fields=LOOKUP,
        refine={
            "username": USERNAME_RULE,
            "email": {"description": "the person's exact address (letter case does not matter)"},
        },
        body_extra={"minProperties": 1, "maxProperties": 1},
        ok={200: reply("The person.", ref("Person"))},
        errors={
            400: "Neither or both of `username` and `email`, a username that is not valid (`invalid_username`) or"
            " reserved (`username_reserved`), or a malformed body; `field` names it.",
            404: "`person_not_found`: one answer whether no account has it or its owner does not let others find"
            " them by it.",
            429: "Too many lookups; see `Retry-After`.",
        },
    )
    book.op(
        "GET",
        "/api/people/contacts",
        tag="people",
        summary="Your contacts: the people you share chats with, most recently active first",
        description="People in your groups, and in your direct chats that have a message or that you started. "
        "Suspended accounts and people you blocked are left out.",
        params=PAGE_PARAMS,
        ok={200: reply("A page of contacts.", paged("contacts", ref("Contact")))},
        errors=PAGE_ERRORS,
    )
    return book.paths
