"""Accounts in the OpenAPI document: server/auth/routes.py (sign-up, e-mail links, tokens, sessions, profile, the
admin's account routes) and the pages e-mail links open (server/auth/pages.py)."""

from __future__ import annotations

from server.auth.admin import SCAN_MAX
from server.auth.pages import MAX_FORM_BYTES
from server.auth.routes import MAX_SEARCH
from server.auth.service import ROLES
from server.texts.language import LANGUAGES
from server.web.apidoc.kit import (
    BOOLEAN,
    JSON,
    NONE,
    PAGE_ERRORS,
    PAGE_PARAMS,
    STRING,
    TIME,
    ApiBook,
    no_content,
    nullable,
    obj,
    paged,
    query,
    ref,
    reply,
)
from server.web.validation import Field

PATH_PARAMS: dict[str, JSON] = {
    "user_id": {"type": "string", "maxLength": 64},
    "session_id": {"type": "string", "maxLength": 64},
}

SCHEMAS: dict[str, JSON] = {
    "User": obj(
        {
            "id": STRING,
            "email": {"type": "string", "format": "email"},
            "display_name": STRING,
            "username": {
                **nullable(STRING),
                "description": "the `@name` others find the account by (without the @), as its owner wrote it;"
                " null: none. One asked for at sign-up is the account's once the address is confirmed",
            },
            "email_discoverable": {
                "type": "boolean",
                "description": "others may find the account by its exact e-mail address (off unless turned on)",
            },
            "language": {
                "type": "string",
                "enum": list(LANGUAGES),
                "description": "the language of the e-mails the server sends this account and of the pages their"
                " links open; chosen at sign-up (else from its Accept-Language), changed with PATCH /api/me",
            },
            "phone": nullable(STRING),
            "role": {"type": "string", "enum": list(ROLES)},
            "email_verified": BOOLEAN,
            "suspended": BOOLEAN,
            "created_at": TIME,
        }
    ),
    "Grant": obj(
        {
            "access_token": {"type": "string", "description": "a JWT for `Authorization: Bearer`"},
            "token_type": {"const": "Bearer"},
            "expires_in": {"type": "integer", "description": "seconds the access token lives"},
            "refresh_token": {"type": "string", "description": "one use: /api/auth/refresh swaps it for a new pair"},
            "user": ref("User"),
            "device_token": {
                "type": "string",
                "description": "sign-in only: keep it on this device and send it with the next sign-in, which then"
                " skips the account's slowdown (see /api/auth/login)",
            },
        },
        required=["access_token", "token_type", "expires_in", "refresh_token", "user"],
    ),
    "Session": obj(
        {
            "id": STRING,
            "device": {"type": "string", "description": 'a short label such as "Firefox on Linux"'},
            "user_agent": nullable(STRING),
            "ip": nullable(STRING),
            "created_at": TIME,
            "last_seen_at": TIME,
            "current": {"type": "boolean", "description": "the session of this request"},
        }
    ),
}


def paths() -> dict[str, dict[str, JSON]]:
    book = ApiBook(path_params=PATH_PARAMS)
    _accounts(book)
    _admin(book)
    return book.paths


EMAIL = Field(str, max_length=254, min_length=1, email=True)
PASSWORD = Field(str, max_length=1024, min_length=1, strip=False)
TOKEN = Field(str, max_length=200, min_length=1)
LANGUAGE = Field(str, required=False, choices=LANGUAGES, strip=False)
_PASSWORD_RULE = {"description": "at least PASSWORD_MIN_LENGTH characters (a setting; 10 by default)"}
USERNAME_RULE: JSON = {
    "pattern": r"^@?[A-Za-z][A-Za-z0-9_]{2,31}$",
    "description": "a username: 3 to 32 characters, Latin letters, digits and underscores, starting with a letter (a"
    " leading @ is dropped). Unique without regard to case; names such as admin, support, root, system and api"
    " (also with an underscore or digits added) are reserved",
}


def _status(*values: str, user: bool = False) -> JSON:
    properties: JSON = {"status": {"type": "string", "enum": list(values)}}
    if user:
        properties["user"] = ref("User")
    return obj(properties)


def _accounts(book: ApiBook) -> None:
    limited = {429: "Too many attempts from this address or for this account; see `Retry-After`."}
    book.op(
        "POST",
        "/api/auth/register",
        tag="auth",
        summary="Register an account",
        description="Sends a confirmation link. An address already registered gets a notice by e-mail instead; "
        "the answer is the same either way.",
        auth="none",
        fields={
            "email": EMAIL,
            "password": PASSWORD,
            "display_name": Field(str, max_length=100, min_length=1),
            "username": Field(str, required=False, max_length=64, min_length=1),
            "language": LANGUAGE,
        },
        refine={
            "password": _PASSWORD_RULE,
            "language": {
                "description": "optional: the language of the account's e-mails and of the pages their links open;"
                " without it, the first of these the request's Accept-Language prefers, else en",
            },
            "username": {
                **USERNAME_RULE,
                "description": "optional; " + USERNAME_RULE["description"] + ". It becomes the account's when the"
                " address is confirmed, unless someone took it first (then the account has none)",
            },
        },
        ok={202: reply("The link is on its way.", _status("verification_sent"))},
        errors={
            400: "A malformed body, a password too short (`too_short`), a language other than en or ru, or a"
            " username that is not valid"
            " (`invalid_username`) or reserved (`username_reserved`); `field` names it.",
            409: "`username_taken`: another account has this username.",
            **limited,
        },
    )
    book.op(
        "POST",
        "/api/auth/verify",
        tag="auth",
        summary="Confirm an e-mail address with the token from its link",
        auth="none",
        fields={"token": TOKEN},
        ok={200: reply("Confirmed.", _status("verified", user=True))},
        errors={400: "`invalid_token`: used, expired or mistyped; or a malformed body.", **limited},
    )
    book.op(
        "POST",
        "/api/auth/verify/resend",
        tag="auth",
        summary="Send a new confirmation link",
        description="Answers the same whether or not the address has an unconfirmed account.",
        auth="none",
        fields={"email": EMAIL},
        ok={202: reply("Accepted.", _status("accepted"))},
        errors=limited,
    )
    book.op(
        "POST",
        "/api/auth/login",
        tag="auth",
        summary="Sign in: an access token and a refresh token",
        description=(
            "Throttling counts failures only, never successes. Failures are counted per account and address"
            " (10 in 15 minutes, then that address waits for that account) and per address over all accounts"
            " (100 in 15 minutes: an office behind one NAT fits; a password spray does not). After 5 failures in an"
            " hour from anywhere, the account slows down: each attempt waits 1, 2, 4... seconds (at most 60) after"
            " the latest failure, answered 429 with `Retry-After`; the owner is never locked out. A sign-in answers a"
            " `device_token`: sent back with a later sign-in to the same account, it skips these limits (its own"
            " failures are limited to 10 in 15 minutes, after which it counts as an unknown device)."
        ),
        auth="none",
        fields={"email": EMAIL, "password": PASSWORD, "device_token": Field(str, required=False, max_length=200)},
        ok={200: reply("Signed in; a new session.", ref("Grant"))},
        errors={
            401: "`invalid_credentials`: the address or the password is wrong (one answer for both).",
            403: "`email_not_verified` or `account_suspended`.",
            429: "Too many failed sign-ins from this address, or for this account (it is slowed down); see"
            " `Retry-After`.",
        },
    )
    book.op(
        "POST",
        "/api/auth/refresh",
        tag="auth",
        summary="Swap a refresh token for a new pair",
        description="A refresh token works once; presenting one already swapped ends its session.",
        auth="none",
        fields={"refresh_token": TOKEN},
        ok={200: reply("A new pair.", ref("Grant"))},
        errors={401: "`invalid_refresh_token`: unknown, already used, or its session ended."},
    )
    book.op(
        "POST",
        "/api/auth/logout",
        tag="auth",
        summary="End this session",
        fields={},
        ok={204: no_content("Signed out; this session's WebSockets close.")},
    )
    book.op(
        "POST",
        "/api/auth/password-reset",
        tag="auth",
        summary="E-mail a password reset link",
        description="Answers the same whether or not the address has an account.",
        auth="none",
        fields={"email": EMAIL},
        ok={202: reply("Accepted.", _status("accepted"))},
        errors=limited,
    )
    book.op(
        "POST",
        "/api/auth/password-reset/confirm",
        tag="auth",
        summary="Set a new password with the token from the reset link",
        description="Every session of the account ends.",
        auth="none",
        fields={"token": TOKEN, "password": PASSWORD},
        refine={"password": _PASSWORD_RULE},
        ok={200: reply("Changed.", _status("password_changed", user=True))},
        errors={400: "`invalid_token`, a password too short (`too_short`), or a malformed body.", **limited},
    )
    html = {"text/html": {"schema": STRING}}
    token = query("token", {"type": "string", "maxLength": 200}, "the token from the e-mail link", required=True)
    book.add(
        "GET",
        "/verify-email",
        tag="auth",
        summary="The page a confirmation link opens: confirms the address",
        security=NONE,
        params=[token],
        ok={200: reply("A page saying the address is confirmed.", content=html)},
        errors={
            400: "A page: the link has no token, or it is used, expired or mistyped.",
            429: "A page: too many attempts.",
        },
        error_content=html,
    )
    book.add(
        "GET",
        "/reset-password",
        tag="auth",
        summary="The page a reset link opens: a form for the new password",
        security=NONE,
        params=[token],
        ok={200: reply("The form.", content=html)},
        errors={400: "A page: the link has no token."},
        error_content=html,
    )
    form = obj(
        {
            "token": {"type": "string", "maxLength": 200},
            "password": {"type": "string", "maxLength": 1024},
            "repeat": {"type": "string", "maxLength": 1024, "description": "must equal password"},
        }
    )
    book.add(
        "POST",
        "/reset-password",
        tag="auth",
        summary="The reset form's submission: sets the new password",
        description="Every session of the account ends. Answers are HTML pages.",
        security=NONE,
        body={"application/x-www-form-urlencoded": {"schema": form}},
        ok={200: reply("A page saying the password is changed.", content=html)},
        errors={
            400: "The form again (passwords differ, password too short) or a page saying the link does not work.",
            413: f"A page: the form is larger than {MAX_FORM_BYTES} bytes.",
            429: "A page: too many attempts.",
        },
        error_content=html,
    )
    book.op("GET", "/api/me", tag="auth", summary="The signed-in account", ok={200: reply("The account.", ref("User"))})
    book.op(
        "PATCH",
        "/api/me",
        tag="auth",
        summary="Change the display name, phone number, username, e-mail discoverability or language",
        description="Every member sent is checked before any is stored: a refused one changes nothing. A new username"
        " frees the old one at once (`null` gives it up).",
        fields={
            "display_name": Field(str, required=False, max_length=100, min_length=1),
            "phone": Field(str, required=False, nullable=True, max_length=32),
            "username": Field(str, required=False, nullable=True, max_length=64, min_length=1),
            "email_discoverable": Field(bool, required=False),
            "language": LANGUAGE,
        },
        refine={
            "phone": {"pattern": r"^[0-9+\-(). ]*$"},
            "language": {"description": "the language of this account's e-mails and of the pages their links open"},
            "username": {"anyOf": [{"type": "string", **USERNAME_RULE}, {"type": "null"}]},
            "email_discoverable": {
                "description": "true: people who type this account's exact e-mail address find it"
                " (POST /api/people/lookup); false (the default): nobody does",
            },
        },
        ok={200: reply("The account as changed.", ref("User"))},
        errors={
            400: "A malformed body, an empty display name, a phone number with other characters, a language other"
            " than en or ru, or a username that is not valid (`invalid_username`) or reserved (`username_reserved`);"
            " `field` names it.",
            409: "`username_taken`: another account has this username.",
            429: "Too many username changes (10 an hour); see `Retry-After`.",
        },
    )
    book.op(
        "GET",
        "/api/me/sessions",
        tag="auth",
        summary="This account's live sessions, most recently seen first",
        params=PAGE_PARAMS,
        ok={200: reply("A page of sessions.", paged("sessions", ref("Session")))},
        errors=PAGE_ERRORS,
    )
    book.op(
        "DELETE",
        "/api/me/sessions/{session_id}",
        tag="auth",
        summary="End one of this account's sessions",
        ok={204: no_content("Ended; its WebSockets close.")},
        errors={404: "No such live session of this account."},
    )


def _admin(book: ApiBook) -> None:
    book.op(
        "GET",
        "/api/admin/users",
        tag="admin",
        summary="Every account, a page at a time; or those matching `q`",
        description="With `q`: the account whose id or e-mail address is exactly `q`, else the accounts whose display "
        "name or address contains it, in any case. Names and addresses are stored encrypted, so a search decrypts "
        f"and looks at up to {SCAN_MAX} accounts per page: a page may hold fewer than `limit` (even none) while "
        "`next` is set; follow `next` until it is null.",
        auth="admin",
        params=[
            query("q", {"type": "string", "maxLength": MAX_SEARCH}, "search text; empty or blank: every account"),
            *PAGE_PARAMS,
        ],
        ok={200: reply("A page of accounts.", paged("users", ref("User")))},
        errors={400: "`q` is too long, or `limit` or `cursor` is not valid."},
    )
    book.op(
        "GET",
        "/api/admin/users/{user_id}/sessions",
        tag="admin",
        summary="An account's live sessions, most recently seen first",
        auth="admin",
        params=PAGE_PARAMS,
        ok={200: reply("A page of sessions (`current`: the admin's own session).", paged("sessions", ref("Session")))},
        errors={**PAGE_ERRORS, 404: "`user_not_found`."},
    )
    book.op(
        "DELETE",
        "/api/admin/users/{user_id}/sessions/{session_id}",
        tag="admin",
        summary="End one session of an account",
        auth="admin",
        ok={204: no_content("Ended; its WebSockets close.")},
        errors={404: "`session_not_found`: no such live session of this account."},
    )
    book.op(
        "DELETE",
        "/api/admin/users/{user_id}/sessions",
        tag="admin",
        summary="End every session of an account (but the admin's own, on their own account)",
        auth="admin",
        ok={204: no_content("Ended; their WebSockets close.")},
        errors={404: "`user_not_found`."},
    )
    for action, summary, fields in (
        ("role", "Give an account a role", {"role": Field(str, choices=ROLES)}),
        ("suspend", "Suspend an account; its sessions end", {}),
        ("unsuspend", "Lift an account's suspension", {}),
    ):
        book.op(
            "POST",
            f"/api/admin/users/{{user_id}}/{action}",
            tag="admin",
            summary=summary,
            auth="admin",
            fields=fields,
            ok={200: reply("The account as changed.", ref("User"))},
            errors={404: "No such user."},
        )
