"""Streaming authenticated encryption for backup archives: AES-256-GCM per chunk, composed as in the STREAM
construction (Hoang, Reyhanitabar, Rogaway and Vizár, 2015; what Tink's streaming AEAD does).

An archive is a header and then chunks:

    header  = b"RTBACKUP" | version (1) | salt (16) | chunk size (4, big-endian) | key check (16)
    chunk   = length of the ciphertext (4, big-endian) | AES-256-GCM ciphertext and tag

The archive's own key and the key check come from the backup key through HKDF-SHA256 with the random salt, so no
two archives share a key and a wrong backup key is told apart from a damaged archive before anything is read.
Chunk n is sealed with the nonce n (11 bytes) | final flag (1 byte) and the whole header as associated data:
a chunk moved, dropped, changed or taken from another archive fails its tag, and an archive cut short at a chunk
boundary fails too, because its new last chunk was not sealed as the final one.
"""

from __future__ import annotations

import hmac
import struct
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"RTBACKUP"
VERSION = 1
CHUNK_SIZE = 1 << 20
_TAG = 16
_HEADER = struct.Struct(">8sB16sI16s")
_LENGTH = struct.Struct(">I")
_INFO = b"realtime backup archive v1"


class SealedError(Exception):
    """The archive cannot be opened: not an archive, another key, damaged, changed or cut short."""


def _derive(key: bytes, salt: bytes) -> tuple[AESGCM, bytes]:
    material = HKDF(algorithm=hashes.SHA256(), length=48, salt=salt, info=_INFO).derive(key)
    return AESGCM(material[:32]), material[32:]


def _nonce(counter: int, final: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


class SealedWriter:
    """A write-only file object: what is written to it goes to `out` sealed. `close()` seals the final chunk
    (it does not close `out`)."""

    def __init__(self, out: BinaryIO, key: bytes, *, salt: bytes, chunk_size: int = CHUNK_SIZE) -> None:
        if len(key) != 32:
            raise ValueError("the backup key must be 32 bytes")
        self._out = out
        self._chunk_size = chunk_size
        self._aead, check = _derive(key, salt)
        self._header = _HEADER.pack(MAGIC, VERSION, salt, chunk_size, check)
        self._out.write(self._header)
        self._buffer = bytearray()
        self._counter = 0
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self.closed:
            raise ValueError("write to a closed archive")
        self._buffer += data
        while len(self._buffer) > self._chunk_size:  # keep the last full chunk back: it may be the final one
            self._seal(bytes(self._buffer[: self._chunk_size]), final=False)
            del self._buffer[: self._chunk_size]
        return len(data)

    def _seal(self, plain: bytes, *, final: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._counter, final), plain, self._header)
        self._out.write(_LENGTH.pack(len(sealed)) + sealed)
        self._counter += 1

    def close(self) -> None:
        if not self.closed:
            self._seal(bytes(self._buffer), final=True)
            self._buffer.clear()
            self.closed = True


class SealedReader:
    """A read-only file object over a sealed archive: `read()` returns only authenticated bytes, and raises
    SealedError at the first chunk that does not authenticate. Call `finish()` after the last read you need:
    it reads to the end and checks that the final chunk is there."""

    def __init__(self, source: BinaryIO, key: bytes) -> None:
        self._in = source
        raw = source.read(_HEADER.size)
        if len(raw) < _HEADER.size:
            raise SealedError("not a backup archive: it is shorter than its header")
        magic, version, salt, chunk_size, check = _HEADER.unpack(raw)
        if magic != MAGIC:
            raise SealedError("not a backup archive (it does not start with RTBACKUP)")
        if version != VERSION:
            raise SealedError(f"backup archive format {version} is not known to this version (it reads {VERSION})")
        if not 1 <= chunk_size <= 1 << 28:
            raise SealedError("the archive's header is damaged (chunk size)")
        self._header = raw
        self._chunk_size = chunk_size
        self._aead, expected = _derive(key, salt)
        if not hmac.compare_digest(expected, check):
            raise SealedError("this archive was made with another BACKUP_KEY (or its header was changed)")
        self._buffer = bytearray()
        self._counter = 0
        self._next_length = self._read_length()
        self._done = False

    def _read_length(self) -> int | None:
        raw = self._in.read(_LENGTH.size)
        if not raw:
            return None
        if len(raw) < _LENGTH.size:
            raise SealedError(f"the archive is cut short in chunk {self._counter}")
        length: int = _LENGTH.unpack(raw)[0]
        if not _TAG <= length <= self._chunk_size + _TAG:
            raise SealedError(f"the archive is damaged: chunk {self._counter} has an impossible length")
        return length

    def _open_next(self) -> None:
        length = self._next_length
        if length is None:
            raise SealedError("the archive is cut short: its final chunk is missing")
        sealed = self._in.read(length)
        if len(sealed) < length:
            raise SealedError(f"the archive is cut short in chunk {self._counter}")
        self._next_length = self._read_length()
        final = self._next_length is None
        try:
            plain = self._aead.decrypt(_nonce(self._counter, final), sealed, self._header)
        except InvalidTag:
            where = "cut short or changed" if final else "damaged or changed"
            raise SealedError(f"the archive is {where}: chunk {self._counter} does not authenticate") from None
        self._counter += 1
        self._buffer += plain
        self._done = final

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            self._open_next()
        if size < 0:
            size = len(self._buffer)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def finish(self) -> None:
        """Read and authenticate the rest of the archive (what tar left unread, up to the final chunk)."""
        while not self._done:
            self._open_next()
            self._buffer.clear()
