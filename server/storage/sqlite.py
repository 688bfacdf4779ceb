"""SQLite backend: WAL, one writer connection behind a lock, a few reader connections."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import aiosqlite
import orjson

from server.storage.database import Executor, IntegrityError, Row, T
from server.storage.sql import EXACT_UP_TO

_PLACEHOLDER = re.compile(r"\$(\d+)")


@functools.lru_cache(maxsize=2048)
def to_sqlite(sql: str) -> str:
    """Rewrite `$1` placeholders as SQLite's numbered `?1` (remembered: the same statements come again)."""
    return _PLACEHOLDER.sub(r"?\1", sql)


_MAX_VARIABLES = 32_000  # parameters per statement (SQLite allows 32,766)
_ROWS_PER_INSERT = 500


@functools.lru_cache(maxsize=256)
def _insert_sql(table: str, columns: tuple[str, ...], count: int) -> str:
    row = "(" + ", ".join("?" for _ in columns) + ")"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join([row] * count)


_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # With WAL, NORMAL keeps the database consistent; a commit is durable once the WAL is synced at checkpoint.
    # We use FULL so an acknowledged write survives power loss too, not only a process crash.
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
)
# The writer's own. Messages and events go into indexes with random keys (chat ids, client ids), so a batch of a
# thousand messages dirties about a page per row per index. SQLite's default cache (2 MB) then rereads those pages
# from the file for every batch, and the default checkpoint (every 1,000 pages of WAL, about one per big batch)
# copies them back into the database at once; pages that many batches touch are copied again each time. A larger
# cache and a checkpoint every 10,000 pages (a WAL of about 40 MB; a checkpoint cuts the file back to 64 MB if
# it ever grew past that) cut the writer's cost a message by about a third (bench/chat.py's direct chats;
# 100,000-row tables timed alone: 78 us to 50 us a message with its event row). Every commit still syncs the WAL.
_WRITER_PRAGMAS = (
    "PRAGMA cache_size=-32768",  # KiB
    "PRAGMA wal_autocheckpoint=10000",
    "PRAGMA journal_size_limit=67108864",
)


class _Connection(Executor):
    """One aiosqlite connection speaking the Executor interface."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        try:
            cursor = await self.conn.execute(to_sqlite(sql), args)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc
        rowcount = cursor.rowcount
        await cursor.close()
        return rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            await self.conn.executemany(to_sqlite(sql), rows)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc

    async def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        for sql, values in _insert_statements(table, columns, rows):
            try:
                await self.conn.execute(sql, values)
            except sqlite3.IntegrityError as exc:
                raise IntegrityError(str(exc)) from exc

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        try:
            return list(await self.conn.execute_fetchall(to_sqlite(sql), args))
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc

    async def fetch_many(self, sql: str, columns: Sequence[str], *args: Any) -> list[tuple[Any, ...]]:
        names = ", ".join(f"[{name}]" for name in columns)  # (a misspelt "name" would be taken as a string)
        packed = await self.fetchval(f"SELECT json_group_array(json_array({names})) FROM ({sql})", *args)
        return [tuple(row) for row in orjson.loads(packed)]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]


class _InThread(Executor):
    """The writer's sqlite3 connection as an Executor for code running in the writer thread itself: each method
    does its work before it returns, so a coroutine that awaits only these never suspends (`_drive`)."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    async def execute(self, sql: str, *args: Any) -> int:
        return self.raw.execute(to_sqlite(sql), args).rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.raw.executemany(to_sqlite(sql), rows)

    async def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        for sql, values in _insert_statements(table, columns, rows):
            self.raw.execute(sql, values)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return self.raw.execute(to_sqlite(sql), args).fetchall()

    async def fetch_many(self, sql: str, columns: Sequence[str], *args: Any) -> list[tuple[Any, ...]]:
        cursor = self.raw.cursor()
        cursor.row_factory = None  # plain tuples, made by sqlite3 itself: no Row, nor a tuple() of it, per row
        rows: list[tuple[Any, ...]] = cursor.execute(to_sqlite(sql), args).fetchall()
        return rows

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row: Row | None = self.raw.execute(to_sqlite(sql), args).fetchone()
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = self.raw.execute(to_sqlite(sql), args).fetchone()
        return None if row is None else row[0]


def _drive(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends to its end, here and now."""
    try:
        work.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    work.close()
    raise RuntimeError("a one-step transaction awaited something other than its executor")


def _one_step(raw: sqlite3.Connection, work: Callable[[Executor], Awaitable[T]]) -> T:
    """In the writer thread: BEGIN, `work`, COMMIT (ROLLBACK if it raises)."""
    raw.execute("BEGIN IMMEDIATE")
    try:
        coroutine = work(_InThread(raw))
        if not isinstance(coroutine, Coroutine):
            raise TypeError("a one-step transaction must be a coroutine function")
        result = _drive(cast("Coroutine[Any, Any, T]", coroutine))
        raw.execute("COMMIT")
    except BaseException:
        # SQLite may have rolled back already (a full disk does), or the COMMIT failed and left it open: either
        # way the next writer must find no transaction.
        if raw.in_transaction:
            raw.execute("ROLLBACK")
        raise
    return result


def _insert_statements(
    table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> Iterator[tuple[str, list[Any]]]:
    """Many rows per INSERT: one step of SQLite (and one release of the GIL) for each, not one per row. Made one
    at a time, so a large write holds one statement's values at once, not all of them. Each takes the most one
    takes, a power of two of rows, or what is left once that is at most EXACT_UP_TO, so the statements come in a
    few sizes that stay prepared."""
    per = max(1, min(_ROWS_PER_INSERT, _MAX_VARIABLES // len(columns)))
    names = tuple(columns)
    start = 0
    while start < len(rows):
        left = len(rows) - start
        count = per if left >= per else left if left <= EXACT_UP_TO else 1 << (left.bit_length() - 1)
        chunk = rows[start : start + count]
        start += count
        yield _insert_sql(table, names, count), list(itertools.chain.from_iterable(chunk))


class SqliteDatabase:
    backend = "sqlite"

    def __init__(
        self, writer: aiosqlite.Connection, readers: list[aiosqlite.Connection], streamers: list[aiosqlite.Connection]
    ) -> None:
        self._writer = _Connection(writer)
        self._write_lock = asyncio.Lock()
        self._readers: asyncio.Queue[_Connection] = asyncio.Queue()
        self._reader_count = len(readers)
        for conn in readers:
            self._readers.put_nowait(_Connection(conn))
        # Streams (exports) are held as long as their client takes to read them, so they get connections of
        # their own: slow downloads can only keep other downloads waiting, never ordinary reads.
        self._streamers: asyncio.Queue[_Connection] = asyncio.Queue()
        for conn in streamers:
            self._streamers.put_nowait(_Connection(conn))
        self._waiting_writers = 0
        self._waiting_readers = 0
        self.closed = False

    @classmethod
    async def open(cls, path: str, *, readers: int = 3) -> SqliteDatabase:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        writer = await _open(path)
        for pragma in _WRITER_PRAGMAS:
            await writer.execute(pragma)
        reader_conns = [await _open(path) for _ in range(max(1, readers))]
        stream_conns = [await _open(path) for _ in range(max(1, readers))]
        for conn in reader_conns + stream_conns:
            await conn.execute("PRAGMA query_only=ON")
        return cls(writer, reader_conns, stream_conns)

    # Writes go to the one writer connection, each in its own transaction.
    async def execute(self, sql: str, *args: Any) -> int:
        async with self.transaction() as tx:
            return await tx.execute(sql, *args)

    async def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        async with self.transaction() as tx:
            await tx.insert_rows(table, columns, rows)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        self._waiting_writers += 1
        try:
            await self._write_lock.acquire()
        finally:
            self._waiting_writers -= 1
        try:
            conn = self._writer.conn
            begin = asyncio.ensure_future(conn.execute("BEGIN IMMEDIATE"))
            try:
                await asyncio.shield(begin)
            except asyncio.CancelledError:
                # The BEGIN runs on in the database thread: let it finish, then undo it, so the next writer
                # does not find a transaction already open (aiohttp cancels handlers of closed sockets).
                with contextlib.suppress(Exception):
                    await begin
                await conn.rollback()
                raise
            try:
                yield self._writer
                await conn.commit()
            except BaseException:
                await conn.rollback()  # also after a failed COMMIT (a full disk), which leaves it open
                raise
        finally:
            self._write_lock.release()

    async def run_transaction(self, work: Callable[[Executor], Awaitable[T]], *, name: str = "transaction") -> T:
        # aiosqlite runs a function in its connection's thread with `_execute` (private, in 0.22 as in every
        # release since 0.11; requirements.txt pins it and tests/storage cover this path on every run).
        conn = self._writer.conn
        self._waiting_writers += 1
        try:
            await self._write_lock.acquire()
        finally:
            self._waiting_writers -= 1
        try:
            in_thread: Callable[[Callable[[], T]], Awaitable[T]] = conn._execute
            step = asyncio.ensure_future(in_thread(lambda: _one_step(conn._conn, work)))
            try:
                return await asyncio.shield(step)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await step  # it runs on in the thread: the next writer waits for its COMMIT or ROLLBACK
                raise
            except sqlite3.IntegrityError as exc:
                raise IntegrityError(str(exc)) from exc
        finally:
            self._write_lock.release()

    # Reads go to a free reader connection.
    @asynccontextmanager
    async def _reader(self, pool: asyncio.Queue[_Connection] | None = None) -> AsyncIterator[_Connection]:
        queue = self._readers if pool is None else pool
        self._waiting_readers += 1  # (a free connection is taken without suspending: no scrape sees it counted)
        try:
            conn = await queue.get()
        finally:
            self._waiting_readers -= 1
        try:
            yield conn
        finally:
            queue.put_nowait(conn)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._reader() as conn:
            return await conn.fetch(sql, *args)

    async def fetch_many(self, sql: str, columns: Sequence[str], *args: Any) -> list[tuple[Any, ...]]:
        async with self._reader() as conn:
            return await conn.fetch_many(sql, columns, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        async with self._reader() as conn:
            return await conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with self._reader() as conn:
            return await conn.fetchval(sql, *args)

    async def stream(self, sql: str, *args: Any, batch: int = 1000) -> AsyncIterator[Row]:
        async with self._reader(self._streamers) as conn:
            # One read transaction, so the rows form a consistent snapshot however long the stream takes.
            await conn.conn.execute("BEGIN")
            try:
                async with conn.conn.execute(to_sqlite(sql), args) as cursor:
                    while rows := await cursor.fetchmany(batch):
                        for row in rows:
                            yield row
            finally:
                await conn.conn.rollback()

    async def ping(self) -> bool:
        if self.closed:
            return False
        try:
            return bool(await self.fetchval("SELECT 1") == 1)
        except (sqlite3.Error, ValueError):
            return False

    def stats(self) -> dict[str, float]:
        return {
            "connections": 1 + 2 * self._reader_count,
            "readers_in_use": self._reader_count - self._readers.qsize(),
            "writer_in_use": 1.0 if self._write_lock.locked() else 0.0,
            "writers_waiting": self._waiting_writers,
            "readers_waiting": self._waiting_readers,
        }

    async def close(self) -> None:
        self.closed = True
        async with self._write_lock:
            for queue in (self._readers, self._streamers):
                while not queue.empty():
                    await queue.get_nowait().conn.close()
            await self._writer.conn.close()


async def _open(path: str) -> aiosqlite.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction is exactly our block.
    # cached_statements: the batch writers' statements come in a few sizes each (storage/sql.py bucket), and all
    # of them together should stay prepared (Python's default keeps 128).
    conn = await aiosqlite.connect(path, isolation_level=None, cached_statements=512)
    conn.row_factory = sqlite3.Row
    for pragma in _PRAGMAS:
        await conn.execute(pragma)
    return conn
