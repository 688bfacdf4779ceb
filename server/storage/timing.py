"""How long database statements take, by statement name: counts and seconds for /metrics, and a log line for each
statement slower than SLOW_QUERY_MS.

A statement's name comes from its SQL text alone, never from its parameters: its verb, its table and a short hash
of the normalised text (`select accounts 1c9e2f`), so the same statement has the same name in every process and
after every restart. The figures are plain numbers, turned into metric families when /metrics is scraped
(server/ops/metrics.py): timing a statement costs two clock reads and a dict update.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import time

log = logging.getLogger(__name__)

# Distinct names kept; statements beyond are counted under OTHER, so a bug that builds SQL text from values can
# never grow /metrics without bound.
MAX_STATEMENTS = 500
OTHER = "other"
# A slow statement's name is logged at most once a second; the lines in between are counted into the next one.
_LOG_EVERY_SECONDS = 1.0

_WORDS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN)\s+([A-Za-z_][A-Za-z0-9_.]*)", re.IGNORECASE)
# Normalising: lists of placeholders (`IN ($1, $2, $3)`) and numbers count as one, whitespace as one space.
_PLACEHOLDERS = re.compile(r"(?:\$\d+|\?\d*)(?:\s*,\s*(?:\$\d+|\?\d*))*")
_NUMBERS = re.compile(r"\b\d+\b")
_SPACES = re.compile(r"\s+")
_VERBS = frozenset(
    {"select", "insert", "update", "delete", "with", "create", "alter", "drop", "copy", "begin", "pragma", "vacuum"}
)


@functools.lru_cache(maxsize=4096)
def statement_name(sql: str) -> str:
    """A stable, parameter-free name for `sql`: verb, first table, and 6 hex digits of the normalised text."""
    words = _WORDS.findall(sql[:200])
    verb = words[0].lower() if words and words[0].lower() in _VERBS else "sql"
    table = _TABLE.search(sql)
    normalised = _SPACES.sub(" ", _NUMBERS.sub("0", _PLACEHOLDERS.sub("$", sql))).strip().lower()
    digest = hashlib.blake2s(normalised.encode(), digest_size=3).hexdigest()
    return f"{verb} {table[1].lower()} {digest}" if table else f"{verb} {digest}"


def rows_name(table: str) -> str:
    """The name of `insert_rows` into `table` (its SQL depends on the number of rows, so it is not named by text)."""
    return f"insert {table} rows"


class StatementTimings:
    """Per statement name: calls, seconds and slow calls. Kept by server/storage/guarded.py, on the event loop."""

    def __init__(self, slow_ms: float = 200.0) -> None:
        self.slow_seconds = slow_ms / 1000
        # name -> [calls, seconds, slow calls]
        self.figures: dict[str, list[float]] = {}
        self._logged: dict[str, tuple[float, int]] = {}  # name -> (when last logged, slow calls not logged since)

    def add(self, name: str, seconds: float) -> None:
        figures = self.figures.get(name)
        if figures is None:
            if len(self.figures) >= MAX_STATEMENTS:
                name = OTHER
            figures = self.figures.setdefault(name, [0, 0.0, 0])
        figures[0] += 1
        figures[1] += seconds
        if seconds >= self.slow_seconds:
            figures[2] += 1
            self._slow(name, seconds)

    def _slow(self, name: str, seconds: float) -> None:
        now = time.monotonic()
        last, unlogged = self._logged.get(name, (-_LOG_EVERY_SECONDS, 0))
        if now - last < _LOG_EVERY_SECONDS:
            self._logged[name] = (last, unlogged + 1)
            return
        self._logged[name] = (now, 0)
        log.warning(
            "slow statement %s took %.1f ms",
            name,
            seconds * 1000,
            extra={"statement": name, "duration_ms": round(seconds * 1000, 3), "slow_since_last_line": unlogged},
        )
