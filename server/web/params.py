"""The one way to read a whole number from a path, a query or a form: ASCII digits only, within bounds.

`str.isdigit()` and the regex `\\d` also accept "²" or "٣", which `int()` then refuses or reads as another
number, and an unbounded number overflows the databases' 64-bit integers. Every integer a client sends in text
goes through here, so each is refused with a clear 4xx naming its field.
"""

from __future__ import annotations

import re

from server.errors import NotFound, ValidationError

INT64_MAX = 2**63 - 1
ID = "[0-9]{1,19}"  # an id in a route's path (`{channel_id:[0-9]{1,19}}`); `id_in_path` checks its range
_DIGITS = re.compile(r"[0-9]{1,19}")
_SIGNED = re.compile(r"[+-]?[0-9]{1,19}")


def whole_number(value: object, *, low: int = 0, high: int = INT64_MAX, signed: bool = False) -> int | None:
    """`value` as an int when it is ASCII digits (an optional sign when `signed`) within [low, high], else None.

    A JSON integer (not a bool) is taken as it is; surrounding blanks are not (a form's value is exact).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and (_SIGNED if signed else _DIGITS).fullmatch(value):
        number = int(value)
    else:
        return None
    return number if low <= number <= high else None


def int_param(
    value: object,
    name: str,
    *,
    low: int = 0,
    high: int = INT64_MAX,
    default: int | None = None,
    signed: bool = False,
) -> int | None:
    """An optional integer parameter: `default` when absent or empty, else `whole_number` or a 400 naming it."""
    if value is None or value == "":
        return default
    number = whole_number(value, low=low, high=high, signed=signed)
    if number is None:
        raise ValidationError("{field} must be a whole number from {low} to {high}", field=name, low=low, high=high)
    return number


def require_int(value: object, name: str, *, low: int = 0, high: int = INT64_MAX, signed: bool = False) -> int:
    """A required integer parameter (see `int_param`); absent is a 400 too."""
    number = int_param(value, name, low=low, high=high, signed=signed)
    if number is None:
        raise ValidationError("{field} is required", field=name, code="required")
    return number


def id_in_path(value: str, message: str) -> int:
    """An id from a route's path; anything else names nothing there, so a 404 with `message`."""
    number = whole_number(value)
    if number is None:
        raise NotFound(message)
    return number
