"""Small pieces of SQL every repository builds: placeholders, SET lists, chunks of ids, IN lists, and sealed columns.

Placeholders are `$1, $2, ...` on both backends (the SQLite backend rewrites them). Lists of ids are cut into
chunks, because both backends cap the parameters of one statement. A sealed column is encrypted with the
keyring, its additional data naming its table, column and row; `Sealer` checks each (table, column) against
ENCRYPTED_COLUMNS, so a column that rotate-keys would not walk can never be written encrypted.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar, overload

import orjson

from server.crypto.keyring import Keyring
from server.storage.encrypted import ENCRYPTED_COLUMNS

T = TypeVar("T")

CHUNK = 500  # ids per statement: well under both backends' parameter limits


@functools.lru_cache(maxsize=256)  # the batch writers' statements ask for the same few sizes again and again
def marks(first: int, count: int) -> str:
    """`$first, ..., $(first + count - 1)`: placeholders for `count` values."""
    return ", ".join(f"${i}" for i in range(first, first + count))


def assignments(columns: Sequence[str], first: int = 1) -> str:
    """`a = $first, b = $(first + 1), ...`: an UPDATE's SET list for these columns, in their order."""
    return ", ".join(f"{column} = ${n}" for n, column in enumerate(columns, start=first))


def chunked(values: Sequence[T], size: int = CHUNK) -> Iterator[list[T]]:
    """`values` in consecutive lists of at most `size`."""
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


@functools.lru_cache(maxsize=256)
def in_list(column: str, count: int, first: int = 1) -> str:
    """`column IN ($first, ...)` for `count` values."""
    return f"{column} IN ({marks(first, count)})"


EXACT_UP_TO = 16  # sizes a hot statement is written for as they are; above, rounded up to a power of two


def bucket(count: int, most: int = CHUNK) -> int:
    """How many values a hot statement is written for: `count` itself up to EXACT_UP_TO, above that rounded up to a
    power of two (at most `most`), so its text comes in a few sizes the database keeps prepared, not one per size
    (preparing costs about as much as running, per value)."""
    return count if count <= EXACT_UP_TO else min(most, 1 << (count - 1).bit_length())


def padded(values: Sequence[T]) -> list[T]:
    """`values` made up to their bucket's size by repeating the last one (harmless in an IN list)."""
    return [*values, *[values[-1]] * (bucket(len(values)) - len(values))]


class Sealer:
    """Encrypts and decrypts the encrypted columns of one table, each value bound to its row."""

    def __init__(self, keyring: Keyring, table: str) -> None:
        if table not in ENCRYPTED_COLUMNS:
            raise ValueError(f"{table} has no encrypted columns in ENCRYPTED_COLUMNS")
        self._keyring = keyring
        self.table = table
        self._columns = frozenset(ENCRYPTED_COLUMNS[table][1])

    def _column(self, column: str) -> str:
        if column not in self._columns:
            raise ValueError(f"{self.table}.{column} is not listed in ENCRYPTED_COLUMNS")
        return column

    # Typed per case: a NOT NULL column's value seals to bytes and opens to str, a missing value stays None.
    @overload
    def seal(self, value: str | bytes, column: str, row_id: str) -> bytes: ...
    @overload
    def seal(self, value: None, column: str, row_id: str) -> None: ...
    @overload
    def seal(self, value: str | bytes | None, column: str, row_id: str) -> bytes | None: ...
    def seal(self, value: str | bytes | None, column: str, row_id: str) -> bytes | None:
        if value is None:
            return None
        return self._keyring.encrypt(value, table=self.table, column=self._column(column), row_id=row_id)

    def seal_json(self, value: Any, column: str, row_id: str) -> bytes | None:
        """A JSON value, sealed; an empty or missing value is stored as NULL."""
        return self.seal(orjson.dumps(value), column, row_id) if value else None

    @overload
    def open(self, blob: bytes, column: str, row_id: str) -> str: ...
    @overload
    def open(self, blob: None, column: str, row_id: str) -> None: ...
    @overload
    def open(self, blob: bytes | None, column: str, row_id: str) -> str | None: ...
    def open(self, blob: bytes | None, column: str, row_id: str) -> str | None:
        if blob is None:
            return None
        return self._keyring.decrypt(bytes(blob), table=self.table, column=self._column(column), row_id=row_id)

    def open_json(self, blob: bytes | None, column: str, row_id: str) -> dict[str, Any]:
        """A sealed JSON object; {} when missing (or not an object)."""
        text = self.open(blob, column, row_id)
        value = orjson.loads(text) if text else {}
        return value if isinstance(value, dict) else {}
