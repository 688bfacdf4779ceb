"""Username rules (`@name`, as Telegram has them): the form a username may take, its folded form that makes it
unique without regard to case, and the names nobody may take."""

from __future__ import annotations

import re

from server.errors import ApiError, ValidationError
from server.storage.accounts import AccountRepository, fold_username

MIN_LENGTH = 3
MAX_LENGTH = 32
# ASCII only: letters of other scripts that look like Latin ones (Cyrillic a, o, e, p, c...) would let one name
# pass for another.
PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{2,31}$")
RULE = "3 to 32 characters: Latin letters, digits and underscores, starting with a letter"

# Names that would pass for the service or its staff, or for parts of it. Compared folded, and also without
# underscores and trailing digits ("admin_1", "Support2" are refused as well).
RESERVED = frozenset(
    {
        "abuse",
        "account",
        "accounts",
        "admin",
        "administrator",
        "anonymous",
        "api",
        "app",
        "bot",
        "channels",
        "chat",
        "chats",
        "contact",
        "contacts",
        "help",
        "helpdesk",
        "info",
        "me",
        "moderator",
        "mod",
        "noreply",
        "null",
        "official",
        "operator",
        "owner",
        "postmaster",
        "root",
        "security",
        "server",
        "service",
        "settings",
        "staff",
        "support",
        "sysadmin",
        "system",
        "team",
        "test",
        "undefined",
        "user",
        "username",
        "webmaster",
    }
)


def is_reserved(username: str) -> bool:
    folded = fold_username(username)
    return folded in RESERVED or folded.replace("_", "").rstrip("0123456789") in RESERVED


def check_username(value: str, field: str = "username") -> str:
    """`value` as a username (a leading "@" dropped), or a 400 naming `field` that says what is wrong."""
    name = value.strip().removeprefix("@")
    if not PATTERN.match(name):
        if not MIN_LENGTH <= len(name) <= MAX_LENGTH:
            raise ValidationError(
                "a username has {low} to {high} characters",
                field=field,
                code="invalid_username",
                low=MIN_LENGTH,
                high=MAX_LENGTH,
            )
        if not name[:1].isascii() or not name[:1].isalpha():
            raise ValidationError("a username starts with a Latin letter", field=field, code="invalid_username")
        raise ValidationError(
            "a username may hold Latin letters, digits and underscores only", field=field, code="invalid_username"
        )
    if is_reserved(name):
        raise ValidationError(
            "@{username} is reserved; choose another username", field=field, code="username_reserved", username=name
        )
    return name


def username_taken(username: str) -> ApiError:
    return ApiError(
        "@{username} is taken; choose another username",
        field="username",
        code="username_taken",
        status=409,
        username=username,
    )


async def require_free(accounts: AccountRepository, username: str, user_id: str | None) -> None:
    """A 409 unless the username is free or already `user_id`'s (in any case)."""
    owner = await accounts.username_owner(username)
    if owner is not None and owner != user_id:
        raise username_taken(username)
