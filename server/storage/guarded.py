"""The database behind a circuit breaker: when it cannot be reached, callers get `DatabaseUnavailable` at once
(the web layer answers 503 with Retry-After) instead of each waiting on a dead server or a closed pool. Every
statement through it is timed, by name (server/storage/timing.py), for /metrics and the slow-statement log."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from time import perf_counter
from typing import Any, TypeVar

from server.breaker import CircuitBreaker, CircuitOpenError
from server.storage.database import Database, Executor, Row
from server.storage.timing import StatementTimings, rows_name, statement_name

T = TypeVar("T")
DISK_FULL_RETRY_AFTER = 30.0  # seconds: an operator has to free space first


class DatabaseUnavailable(Exception):
    """The database cannot be reached just now (down, closed, or its breaker is open)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("the database is unavailable")
        self.retry_after = retry_after


def lost_connection(exc: BaseException) -> bool:
    """Whether `exc` says the database could not be reached, rather than that a statement was wrong."""
    if isinstance(exc, (OSError, TimeoutError, ConnectionError)):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        return "unable to open" in str(exc) or "disk i/o" in str(exc).lower()
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    return isinstance(exc, (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError))


def disk_full(exc: BaseException) -> bool:
    """Whether `exc` says the database's disk is full: it cannot write now, but it still reads, so this is a 503
    for the write alone and no reason to open the breaker."""
    if isinstance(exc, sqlite3.OperationalError):
        return "database or disk is full" in str(exc)
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    return isinstance(exc, asyncpg.DiskFullError)


class GuardedDatabase:
    """A `Database` whose every use goes through `breaker`. It implements the Database interface method by method:
    a method added to Database must be added here too (mypy says so where the app stores it as a Database)."""

    def __init__(self, db: Database, breaker: CircuitBreaker, timings: StatementTimings | None = None) -> None:
        self.inner = db
        self.breaker = breaker
        self.backend = db.backend
        self.timings = StatementTimings() if timings is None else timings

    @property
    def closed(self) -> bool:
        return self.inner.closed

    @closed.setter
    def closed(self, value: bool) -> None:
        self.inner.closed = value

    def _before(self) -> None:
        if self.inner.closed:
            raise DatabaseUnavailable(self.breaker.retry_after())
        try:
            self.breaker.before()
        except CircuitOpenError as exc:
            raise DatabaseUnavailable(exc.retry_after) from None

    def _failed(self, exc: BaseException) -> None:
        if lost_connection(exc) or (isinstance(exc, ValueError) and self.inner.closed):
            self.breaker.failed()
            raise DatabaseUnavailable(self.breaker.retry_after()) from exc
        self.breaker.succeeded()  # it answered, if only to refuse the statement
        if disk_full(exc):
            raise DatabaseUnavailable(DISK_FULL_RETRY_AFTER) from exc

    async def _call(self, name: str, work: Awaitable[T]) -> T:
        # The time the caller waited, a connection's or the writer's turn included: what a slow request shows.
        started = perf_counter()
        try:
            result = await work
        except Exception as exc:
            self._failed(exc)
            raise
        finally:
            self.timings.add(name, perf_counter() - started)
        self.breaker.succeeded()
        return result

    async def execute(self, sql: str, *args: Any) -> int:
        self._before()
        return await self._call(statement_name(sql), self.inner.execute(sql, *args))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._before()
        await self._call(statement_name(sql), self.inner.executemany(sql, rows))

    async def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self._before()
        await self._call(rows_name(table), self.inner.insert_rows(table, columns, rows))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        self._before()
        return await self._call(statement_name(sql), self.inner.fetch(sql, *args))

    async def fetch_many(self, sql: str, columns: Sequence[str], *args: Any) -> list[tuple[Any, ...]]:
        self._before()
        return await self._call(statement_name(sql), self.inner.fetch_many(sql, columns, *args))

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        self._before()
        return await self._call(statement_name(sql), self.inner.fetchrow(sql, *args))

    async def fetchval(self, sql: str, *args: Any) -> Any:
        self._before()
        return await self._call(statement_name(sql), self.inner.fetchval(sql, *args))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        self._before()
        try:
            async with self.inner.transaction() as tx:
                yield TimedExecutor(tx, self.timings)
        except Exception as exc:
            self._failed(exc)
            raise
        self.breaker.succeeded()

    async def run_transaction(self, work: Callable[[Executor], Awaitable[T]], *, name: str = "transaction") -> T:
        # Timed as one statement: on SQLite the whole of it runs in the writer thread, in one step.
        self._before()
        return await self._call(name, self.inner.run_transaction(work, name=name))

    async def stream(self, sql: str, *args: Any, batch: int = 1000) -> AsyncIterator[Row]:
        self._before()
        name = statement_name(sql)
        started: float | None = perf_counter()  # timed to its first batch: the rest waits on the stream's reader
        try:
            async for row in self.inner.stream(sql, *args, batch=batch):
                if started is not None:
                    self.timings.add(name, perf_counter() - started)
                    started = None
                yield row
        except Exception as exc:
            self._failed(exc)
            raise
        self.breaker.succeeded()

    async def ping(self) -> bool:
        if self.inner.closed:
            return False
        ok = await self.inner.ping()
        if ok:
            self.breaker.succeeded()
        return ok

    def stats(self) -> dict[str, float]:
        return self.inner.stats()

    async def close(self) -> None:
        await self.inner.close()


class TimedExecutor(Executor):
    """A transaction's executor whose statements are timed like the database's own."""

    def __init__(self, inner: Executor, timings: StatementTimings) -> None:
        self.inner = inner
        self.timings = timings

    async def _timed(self, name: str, work: Awaitable[T]) -> T:
        started = perf_counter()
        try:
            return await work
        finally:
            self.timings.add(name, perf_counter() - started)

    async def execute(self, sql: str, *args: Any) -> int:
        return await self._timed(statement_name(sql), self.inner.execute(sql, *args))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._timed(statement_name(sql), self.inner.executemany(sql, rows))

    async def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        await self._timed(rows_name(table), self.inner.insert_rows(table, columns, rows))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._timed(statement_name(sql), self.inner.fetch(sql, *args))

    async def fetch_many(self, sql: str, columns: Sequence[str], *args: Any) -> list[tuple[Any, ...]]:
        return await self._timed(statement_name(sql), self.inner.fetch_many(sql, columns, *args))

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        return await self._timed(statement_name(sql), self.inner.fetchrow(sql, *args))

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._timed(statement_name(sql), self.inner.fetchval(sql, *args))
