"""Base64, read strictly and written one way: every decoder raises Base64Error saying what was wrong.

Clients send public keys, push keys and end-to-end ciphertext in base64; the environment and the development
secrets file hold keys in it. Each reader names the form it takes: standard base64 with its padding, base64url
with or without padding, or either alphabet (not both in one value) for the key directory.
"""

from __future__ import annotations

import base64
import binascii
import re

_STANDARD = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_URL_SAFE = re.compile(r"[A-Za-z0-9_-]*={0,2}")


class Base64Error(ValueError):
    """Text that is not base64 of the form asked for; its message says how (e.g. "not base64")."""


def decode_base64(text: str) -> bytes:
    """Standard base64 (A-Z a-z 0-9 + /) with its padding; any other character is an error."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):  # ValueError: a character outside ASCII
        raise Base64Error("not base64") from None


def decode_base64url(text: str) -> bytes:
    """base64url (- and _ for + and /), padding optional, as browsers and VAPID tools write it. Standard base64's
    + and / are read as well."""
    bare = text.rstrip("=")
    try:
        return base64.b64decode(bare + "=" * (-len(bare) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise Base64Error("not base64url") from None


def decode_base64_either(text: str) -> bytes:
    """Standard or url-safe base64 (one alphabet per value), padding optional but whole where it is given."""
    if _STANDARD.fullmatch(text):
        altchars = None
    elif _URL_SAFE.fullmatch(text):
        altchars = b"-_"
    else:
        raise Base64Error("not base64")
    bare = text.rstrip("=")
    if len(bare) % 4 == 1 or (bare != text and len(text) % 4 != 0):
        raise Base64Error("not base64 (wrong length or padding)")
    try:
        return base64.b64decode(bare + "=" * (-len(bare) % 4), altchars=altchars, validate=True)
    except binascii.Error:
        raise Base64Error("not base64") from None


def encode_base64(data: bytes) -> str:
    """Standard base64 with padding."""
    return base64.b64encode(data).decode()


def encode_base64url(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
