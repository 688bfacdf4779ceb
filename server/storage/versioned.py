"""What a process read of a set of rows the database versions (a chat's members, the counters following its
stream), kept across transactions under the version it was read at and used again only while the database
still shows that version.

The database sets a version, in the same transaction as any change of the rows it covers, to a value never used
before (triggers: migration 0022). So a copy is used only while nothing it covers has changed, whichever process
changed it, and a copy read inside a transaction that rolled back (under a version that never committed) can
never match again. A caller reads the version and the rows in one transaction that no change of them can commit
in the middle of (under the locks such changes take), and never mutates what it put in.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")


class VersionedCache(Generic[V]):
    """Copies by key, each under its version; the least recently used go first once their sizes (as the caller
    counts them: rows, say) add up to more than `budget`."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._entries: OrderedDict[str, tuple[int, V, int]] = OrderedDict()
        self._size = 0
        self.hits = self.misses = 0

    def get(self, key: str, version: int) -> V | None:
        """The copy of `key` read under `version`, if kept."""
        entry = self._entries.get(key)
        if entry is None or entry[0] != version:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[1]

    def put(self, key: str, version: int, value: V, size: int) -> None:
        """Keep `value`, read under `version`, in place of any older copy of `key`."""
        old = self._entries.pop(key, None)
        if old is not None:
            self._size -= old[2]
        if size > self.budget:
            return
        self._entries[key] = (version, value, size)
        self._size += size
        while self._size > self.budget:
            _, (_, _, dropped) = self._entries.popitem(last=False)
            self._size -= dropped

    def __len__(self) -> int:
        return len(self._entries)
