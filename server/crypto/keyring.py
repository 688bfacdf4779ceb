"""Field encryption at rest: AES-256-GCM with key ids, additional data bound to table, column and row.

Ciphertext layout: version byte (1) | key id length (1) | key id | 12-byte nonce | ciphertext and tag.
The additional data is "table.column:row_id", so a value copied to another row or column fails to decrypt.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = 1
_NONCE = 12


class DecryptionError(Exception):
    """The value was not made by a key we hold for this table, column and row."""


class Keyring:
    def __init__(self, keys: Iterable[tuple[str, bytes]]) -> None:
        entries = list(keys)
        if not entries:
            raise ValueError("a keyring needs at least one key")
        self._ciphers = {kid: AESGCM(key) for kid, key in entries}
        self.primary_id = entries[0][0]
        self._primary = self._ciphers[self.primary_id]
        self._primary_prefix = bytes([_VERSION, len(self.primary_id)]) + self.primary_id.encode()

    @staticmethod
    def _aad(table: str, column: str, row_id: str) -> bytes:
        return f"{table}.{column}:{row_id}".encode()

    def encrypt(self, plaintext: str | bytes, *, table: str, column: str, row_id: str) -> bytes:
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        nonce = os.urandom(_NONCE)
        return self._primary_prefix + nonce + self._primary.encrypt(nonce, data, self._aad(table, column, row_id))

    def decrypt_bytes(self, blob: bytes, *, table: str, column: str, row_id: str) -> bytes:
        kid, nonce, body = self._split(blob)
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise DecryptionError(f"no key with id {kid!r} in the keyring")
        try:
            return cipher.decrypt(nonce, body, self._aad(table, column, row_id))
        except InvalidTag as exc:
            raise DecryptionError(f"{table}.{column} of row {row_id} does not decrypt") from exc

    def decrypt(self, blob: bytes, *, table: str, column: str, row_id: str) -> str:
        return self.decrypt_bytes(blob, table=table, column=column, row_id=row_id).decode()

    def key_id_of(self, blob: bytes) -> str:
        return self._split(blob)[0]

    def needs_rotation(self, blob: bytes) -> bool:
        return not bytes(blob).startswith(self._primary_prefix)

    @staticmethod
    def _split(blob: bytes) -> tuple[str, bytes, bytes]:
        blob = bytes(blob)
        if len(blob) < 2 or blob[0] != _VERSION:
            raise DecryptionError("not a ciphertext of a known format")
        end = 2 + blob[1]
        if len(blob) < end + _NONCE + 16:
            raise DecryptionError("ciphertext is truncated")
        return blob[2:end].decode("ascii", "replace"), blob[end : end + _NONCE], blob[end + _NONCE :]


class BlindIndex:
    """Keyed HMAC of a normalised value, so equal values can be found without storing them in the clear."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("a blind index key needs 32 bytes")
        self._key = key

    def __call__(self, value: str, *, purpose: str) -> bytes:
        # The purpose keeps indexes of different columns apart: equal values in two columns do not match.
        message = purpose.encode() + b"\x00" + value.encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()
