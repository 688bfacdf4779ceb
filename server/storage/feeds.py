"""Feed reads: windows of entries, single entries, and per-bucket aggregates computed in SQL on both backends.

Aggregates run over the numeric shadow columns n1..n8 (NULL where a value is not a number). Only the median
differs per backend: PostgreSQL has percentile_cont; SQLite gets the same value from window functions.
Long reads come through `Database.stream`, a batch at a time.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any

from server.storage.channels import FIELDS, NUMBERS
from server.storage.database import Database, Row

ENTRY_COLUMNS = ", ".join(("entry_id", "created_at", *FIELDS, *NUMBERS, "latitude", "longitude", "elevation", "status"))
KINDS = ("timescale", "sum", "average", "median")


@dataclass(frozen=True)
class Window:
    """The raw entries a read starts from: the newest `limit` with created_at in [start, end] (either end open)."""

    channel_id: int
    start: float | None = None
    end: float | None = None
    limit: int = 100
    status_only: bool = False


@dataclass(frozen=True)
class Bounds:
    """The fields a read shows; an entry with one of their values below `minimum` or above `maximum` is left out."""

    fields: tuple[int, ...]
    minimum: float | None = None
    maximum: float | None = None


class _Args:
    """Numbered placeholders for a statement built in pieces: `args(value)` gives `$n`."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def _in_time(window: Window, args: _Args) -> list[str]:
    """The conditions for the window's channel and its time span."""
    where = [f"channel_id = {args(window.channel_id)}"]
    if window.start is not None:
        where.append(f"created_at >= {args(float(window.start))}")
    if window.end is not None:
        where.append(f"created_at <= {args(float(window.end))}")
    return where


def _recent(window: Window, args: _Args, columns: str) -> str:
    where = _in_time(window, args)
    if window.status_only:
        where.append("status IS NOT NULL")
    # The newest `limit` (ThingSpeak's `results` counts raw entries, before any aggregation).
    return (
        f"SELECT {columns} FROM feeds WHERE {' AND '.join(where)}"
        f" ORDER BY created_at DESC, entry_id DESC LIMIT {args(window.limit)}"
    )


def _within(bounds: Bounds, args: _Args, column: str) -> str:
    """The min/max condition on each shown field's `column` (a template with {n}); NULLs always pass."""
    parts: list[str] = []
    for limit, op in ((bounds.minimum, ">="), (bounds.maximum, "<=")):
        if limit is None or not bounds.fields:  # no field shown: bind nothing, or the placeholders miscount
            continue
        mark = args(float(limit))
        parts += [f"({column.format(n=n)} IS NULL OR {column.format(n=n)} {op} {mark})" for n in bounds.fields]
    return " AND ".join(parts) or "1 = 1"


def _shift(offsets: Sequence[tuple[int, int]]) -> str:
    """Seconds to add to created_at to get local time: offsets are (from when, UTC offset), oldest first.

    Only our own integers go into the text (never input), so they are written inline.
    """
    if not offsets:
        return "0"
    if len(offsets) == 1:
        return str(int(offsets[0][1]))
    whens = [
        f"WHEN created_at < {int(at)} THEN {int(before)}"
        for (at, _), (_, before) in zip(offsets[1:], offsets[:-1], strict=True)
    ]
    return f"(CASE {' '.join(whens)} ELSE {int(offsets[-1][1])} END)"


def _columns(prefix: str, fields: Sequence[int], template: str) -> str:
    return "".join(f", {template.format(n=n)} AS {prefix}{n}" for n in fields)


async def _rows(db: Database, sql: str, args: Sequence[Any]) -> AsyncGenerator[Row, None]:
    """`db.stream`, closed as soon as the reader stops (a client that went away frees its connection at once)."""
    stream = db.stream(sql, *args)
    try:
        async for row in stream:
            yield row
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


class FeedReadRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def entries(self, window: Window, bounds: Bounds) -> AsyncGenerator[Row, None]:
        """Raw entries of the window, oldest first, without those outside the bounds."""
        args = _Args()
        sql = (
            f"SELECT * FROM ({_recent(window, args, ENTRY_COLUMNS)}) AS recent"
            f" WHERE {_within(bounds, args, 'n{n}')} ORDER BY created_at, entry_id"
        )
        async for row in _rows(self.db, sql, args.values):
            yield row

    async def buckets(
        self, window: Window, bounds: Bounds, *, kind: str, seconds: int, offsets: Sequence[tuple[int, int]] = ()
    ) -> AsyncGenerator[Row, None]:
        """One row per non-empty bucket, in order: `bucket` (its number) and `v1`..`v8` for the shown fields.

        A bucket is floor((created_at + local offset) / seconds): buckets align to the epoch, or to local
        midnights when `offsets` (see `_shift`) are given with a day's seconds. `timescale` gives the first
        entry's text of each bucket (and its `entry_id`), `sum` and `median` numbers over the numeric values only,
        `average` their sum over all the bucket's entries.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown aggregate {kind!r}")
        fields = bounds.fields
        args = _Args()
        wanted = ", ".join(("entry_id", "created_at", *(f"field{n}" for n in fields), *(f"n{n}" for n in fields)))
        recent = _recent(window, args, wanted)
        key = f"floor((created_at + {_shift(offsets)}) / {int(seconds)})"
        ctes = [f"recent AS ({recent})", f"bucketed AS (SELECT {key} AS bucket, recent.* FROM recent)"]
        if kind == "timescale":
            ctes.append(
                "firsts AS (SELECT bucket, entry_id"
                + _columns("v", fields, "field{n}")
                + _columns("n", fields, "n{n}")
                + ", ROW_NUMBER() OVER (PARTITION BY bucket ORDER BY created_at, entry_id) AS rn FROM bucketed)"
            )
            values = "".join(f", v{n}" for n in fields)
            within = _within(bounds, args, "n{n}")
            sql = f"SELECT bucket, entry_id{values} FROM firsts WHERE rn = 1 AND {within} ORDER BY bucket"
        else:
            ctes += self._totals(kind, fields)
            values = "".join(f", v{n}" for n in fields)
            sql = f"SELECT bucket{values} FROM totals WHERE {_within(bounds, args, 'v{n}')} ORDER BY bucket"
        sql = f"WITH {', '.join(ctes)} {sql}"
        async for row in _rows(self.db, sql, args.values):
            yield row

    def _totals(self, kind: str, fields: Sequence[int]) -> list[str]:
        """CTEs ending in `totals (bucket, v1..)` for sum, average or median."""
        if kind in ("sum", "average"):
            # ThingSpeak's average divides by every entry in the bucket: a value that is no number counts as 0.
            total = "SUM(n{n})" if kind == "sum" else "SUM(n{n}) * 1.0 / COUNT(*)"
            return [f"totals AS (SELECT bucket{_columns('v', fields, total)} FROM bucketed GROUP BY bucket)"]
        if self.db.backend == "postgresql":
            median = "percentile_cont(0.5) WITHIN GROUP (ORDER BY n{n})"
            return [f"totals AS (SELECT bucket{_columns('v', fields, median)} FROM bucketed GROUP BY bucket)"]
        # SQLite has no median: rank each field's numbers within the bucket (NULLs last), take the middle one or
        # two, and interpolate as percentile_cont does (lo + 0.5 * (hi - lo)), so both backends agree exactly.
        ranked = (
            _columns("n", fields, "n{n}")
            + _columns("r", fields, "ROW_NUMBER() OVER (PARTITION BY bucket ORDER BY n{n} IS NULL, n{n})")
            + _columns("c", fields, "COUNT(n{n}) OVER (PARTITION BY bucket)")
        )
        middles = _columns("lo", fields, "MAX(CASE WHEN r{n} = (c{n} + 1) / 2 THEN n{n} END)") + _columns(
            "hi", fields, "MAX(CASE WHEN r{n} = (c{n} + 2) / 2 THEN n{n} END)"
        )
        return [
            f"ranked AS (SELECT bucket{ranked} FROM bucketed)",
            f"middles AS (SELECT bucket{middles} FROM ranked GROUP BY bucket)",
            f"totals AS (SELECT bucket{_columns('v', fields, 'lo{n} + 0.5 * (hi{n} - lo{n})')} FROM middles)",
        ]

    async def time_range(self, window: Window) -> tuple[float, float] | None:
        """The oldest and newest created_at in the window (to know which time zone rules apply)."""
        args = _Args()
        where = _in_time(window, args)
        row = await self.db.fetchrow(
            f"SELECT min(created_at) AS lo, max(created_at) AS hi FROM feeds WHERE {' AND '.join(where)}", *args.values
        )
        if row is None or row["lo"] is None:
            return None
        return float(row["lo"]), float(row["hi"])

    async def entry(self, channel_id: int, entry_id: int) -> Row | None:
        return await self.db.fetchrow(
            f"SELECT {ENTRY_COLUMNS} FROM feeds WHERE channel_id = $1 AND entry_id = $2", channel_id, entry_id
        )

    async def last(self, channel_id: int, field: int | None = None) -> Row | None:
        """The newest entry (by entry id), or the newest with a value in `field`."""
        having = f" AND field{int(field)} IS NOT NULL" if field is not None else ""
        return await self.db.fetchrow(
            f"SELECT {ENTRY_COLUMNS} FROM feeds WHERE channel_id = $1{having} ORDER BY entry_id DESC LIMIT 1",
            channel_id,
        )
