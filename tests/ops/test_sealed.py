"""The sealed archive format: what goes in comes out, and any other key or change to the bytes is refused."""

from __future__ import annotations

import io
import os
import struct

import pytest

from server.ops.sealed import SealedError, SealedReader, SealedWriter

HEADER = 45  # magic 8, version 1, salt 16, chunk size 4, key check 16
CHUNK = 64


def seal(data: bytes, key: bytes, chunk: int = CHUNK) -> bytes:
    out = io.BytesIO()
    writer = SealedWriter(out, key, salt=os.urandom(16), chunk_size=chunk)
    for start in range(0, len(data), 50):  # writes that do not line up with chunks
        writer.write(data[start : start + 50])
    writer.close()
    return out.getvalue()


def unseal(sealed: bytes, key: bytes) -> bytes:
    reader = SealedReader(io.BytesIO(sealed), key)
    data = reader.read()
    reader.finish()
    return data


def chunks(sealed: bytes) -> list[bytes]:
    """The framed chunks (length prefix and ciphertext) after the header."""
    found, at = [], HEADER
    while at < len(sealed):
        (length,) = struct.unpack(">I", sealed[at : at + 4])
        found.append(sealed[at : at + 4 + length])
        at += 4 + length
    return found


@pytest.mark.parametrize("size", [0, 1, CHUNK, 3 * CHUNK, 1000])
def test_what_goes_in_comes_out(size: int) -> None:
    key, data = os.urandom(32), os.urandom(size)
    assert unseal(seal(data, key), key) == data


def test_reads_in_small_pieces_as_tar_does() -> None:
    key, data = os.urandom(32), os.urandom(1000)
    reader = SealedReader(io.BytesIO(seal(data, key)), key)
    parts = []
    while piece := reader.read(7):
        parts.append(piece)
    assert b"".join(parts) == data


def test_the_plain_text_is_not_in_the_archive() -> None:
    data = b"the secret plan " * 40
    assert b"secret plan" not in seal(data, os.urandom(32))


def test_another_key_is_refused_before_reading() -> None:
    sealed = seal(b"data" * 100, os.urandom(32))
    with pytest.raises(SealedError, match="another BACKUP_KEY"):
        SealedReader(io.BytesIO(sealed), os.urandom(32))


def test_a_changed_byte_in_a_chunk_is_refused() -> None:
    key = os.urandom(32)
    sealed = bytearray(seal(os.urandom(500), key))
    sealed[HEADER + 4 + 10] ^= 1  # in the first chunk's ciphertext
    with pytest.raises(SealedError, match="chunk 0 does not authenticate"):
        unseal(bytes(sealed), key)


def test_a_changed_header_is_refused() -> None:
    key = os.urandom(32)
    sealed = bytearray(seal(os.urandom(500), key))
    sealed[12] ^= 1  # the salt
    with pytest.raises(SealedError, match="another BACKUP_KEY"):
        unseal(bytes(sealed), key)


def test_an_archive_cut_at_a_chunk_boundary_is_refused() -> None:
    key = os.urandom(32)
    sealed = seal(os.urandom(500), key)
    parts = chunks(sealed)
    assert len(parts) > 2
    cut = sealed[:HEADER] + b"".join(parts[:-1])
    with pytest.raises(SealedError, match="cut short or changed"):
        unseal(cut, key)


def test_an_archive_cut_inside_a_chunk_is_refused() -> None:
    key = os.urandom(32)
    sealed = seal(os.urandom(500), key)
    with pytest.raises(SealedError, match="cut short"):
        unseal(sealed[:-5], key)


def test_reordered_chunks_are_refused() -> None:
    key = os.urandom(32)
    sealed = seal(os.urandom(500), key)
    parts = chunks(sealed)
    swapped = sealed[:HEADER] + parts[1] + parts[0] + b"".join(parts[2:])
    with pytest.raises(SealedError, match="does not authenticate"):
        unseal(swapped, key)


def test_a_chunk_from_another_archive_is_refused() -> None:
    key = os.urandom(32)
    first, second = seal(os.urandom(500), key), seal(os.urandom(500), key)
    mixed = first[:HEADER] + chunks(second)[0] + b"".join(chunks(first)[1:])
    with pytest.raises(SealedError, match="chunk 0 does not authenticate"):
        unseal(mixed, key)


def test_not_an_archive() -> None:
    with pytest.raises(SealedError, match="not a backup archive"):
        SealedReader(io.BytesIO(b"PK\x03\x04" + bytes(100)), os.urandom(32))
