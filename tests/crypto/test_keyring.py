"""The keyring: authenticated, bound to table/column/row, rotatable; the blind index is keyed and stable."""

from __future__ import annotations

import os

import pytest

from server.crypto.keyring import BlindIndex, DecryptionError, Keyring


def test_round_trip_and_binding() -> None:
    ring = Keyring([("k1", os.urandom(32))])
    blob = ring.encrypt("ada@example.test", table="users", column="email", row_id="u1")
    assert b"ada" not in blob
    assert ring.decrypt(blob, table="users", column="email", row_id="u1") == "ada@example.test"
    # The same value twice encrypts differently (fresh nonce).
    assert blob != ring.encrypt("ada@example.test", table="users", column="email", row_id="u1")
    for where in (
        {"table": "users", "column": "email", "row_id": "u2"},
        {"table": "users", "column": "phone", "row_id": "u1"},
        {"table": "sessions", "column": "email", "row_id": "u1"},
    ):
        with pytest.raises(DecryptionError):
            ring.decrypt(blob, **where)
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(DecryptionError):
        ring.decrypt(tampered, table="users", column="email", row_id="u1")


def test_old_keys_decrypt_new_key_encrypts() -> None:
    old_key, new_key = os.urandom(32), os.urandom(32)
    old = Keyring([("old", old_key)])
    blob = old.encrypt("x", table="t", column="c", row_id="1")
    rotated = Keyring([("new", new_key), ("old", old_key)])
    assert rotated.decrypt(blob, table="t", column="c", row_id="1") == "x"
    assert rotated.needs_rotation(blob)
    fresh = rotated.encrypt("x", table="t", column="c", row_id="1")
    assert rotated.key_id_of(fresh) == "new"
    assert not rotated.needs_rotation(fresh)
    with pytest.raises(DecryptionError, match="no key with id 'new'"):
        old.decrypt(fresh, table="t", column="c", row_id="1")


def test_blind_index() -> None:
    key = os.urandom(32)
    index = BlindIndex(key)
    assert index("a@b.c", purpose="users.email") == BlindIndex(key)("a@b.c", purpose="users.email")
    assert index("a@b.c", purpose="users.email") != index("a@b.c", purpose="other")
    assert index("a@b.c", purpose="users.email") != BlindIndex(os.urandom(32))("a@b.c", purpose="users.email")
