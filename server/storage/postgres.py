"""PostgreSQL backend: an asyncpg pool."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from server.storage.database import Executor, IntegrityError, Row, T

# From this many rows on, COPY beats a pipelined INSERT.
_COPY_FROM = 50


class _Connection(Executor):
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        try:
            status: str = await self.conn.execute(sql, *args)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(str(exc)) from exc
        # asyncpg returns the command tag, e.g. "UPDATE 3"; its last word is the row count.
        last = status.rsplit(" ", 1)[-1]
        return int(last) if last.isdigit() else 0

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            await self.conn.executemany(sql, rows)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(str(exc)) from exc

    async def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        try:
            if len(rows) >= _COPY_FROM:
                await self.conn.copy_records_to_table(table, records=rows, columns=list(columns))
            else:
                marks = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
                await self.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(str(exc)) from exc

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        try:
            return list(await self.conn.fetch(sql, *args))
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(str(exc)) from exc

    async def fetch_many(self, sql: str, columns: Sequence[str], *args: Any) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await self.fetch(sql, *args)]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        try:
            row: Row | None = await self.conn.fetchrow(sql, *args)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(str(exc)) from exc
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        try:
            return await self.conn.fetchval(sql, *args)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(str(exc)) from exc


class PostgresDatabase:
    backend = "postgresql"

    def __init__(self, pool: asyncpg.Pool, timeout: float = 60.0) -> None:
        self._pool = pool
        self._timeout = timeout
        self.closed = False
        self._waiting = 0  # callers waiting for a free connection
        # Streams are held as long as their client takes to read them: at most half the pool, so slow
        # downloads never take every connection from ordinary requests.
        self._streams = asyncio.Semaphore(max(1, pool.get_max_size() // 2))

    @classmethod
    async def open(cls, url: str, *, pool_size: int = 10, timeout: float = 60.0) -> PostgresDatabase:
        # A server that stops answering (a partition, not a refusal) must cost a bounded wait, not a hang: the
        # connect, the wait for a pooled connection and every statement give up after `timeout` seconds.
        pool = await asyncpg.create_pool(url, min_size=1, max_size=pool_size, command_timeout=timeout, timeout=timeout)
        return cls(pool, timeout)

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[Any]:
        """A connection of the pool, counted among the waiting callers until it is free."""
        self._waiting += 1
        try:
            conn = await self._pool.acquire(timeout=self._timeout)  # its release is bounded by it too
        finally:
            self._waiting -= 1
        try:
            yield conn
        finally:
            await self._pool.release(conn)

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[_Connection]:
        async with self._acquire() as conn:
            yield _Connection(conn)

    async def execute(self, sql: str, *args: Any) -> int:
        async with self._conn() as conn:
            return await conn.execute(sql, *args)

    async def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        async with self.transaction() as tx:
            await tx.insert_rows(table, columns, rows)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._conn() as conn:
            return await conn.fetch(sql, *args)

    async def fetch_many(self, sql: str, columns: Sequence[str], *args: Any) -> list[tuple[Any, ...]]:
        async with self._conn() as conn:
            return await conn.fetch_many(sql, columns, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        async with self._conn() as conn:
            return await conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with self._conn() as conn:
            return await conn.fetchval(sql, *args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._acquire() as conn, conn.transaction():
            yield _Connection(conn)

    async def run_transaction(self, work: Callable[[Executor], Awaitable[T]], *, name: str = "transaction") -> T:
        async with self.transaction() as tx:
            return await work(tx)

    async def stream(self, sql: str, *args: Any, batch: int = 1000) -> AsyncIterator[Row]:
        async with self._streams, self._acquire() as conn, conn.transaction(readonly=True):
            async for row in conn.cursor(sql, *args, prefetch=batch):
                yield row

    async def ping(self) -> bool:
        if self.closed:
            return False
        try:
            return bool(await self.fetchval("SELECT 1") == 1)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            return False

    def stats(self) -> dict[str, float]:
        size = self._pool.get_size()
        return {
            "connections": size,
            "in_use": size - self._pool.get_idle_size(),
            "max": self._pool.get_max_size(),
            "waiting": self._waiting,
        }

    async def close(self) -> None:
        self.closed = True
        await self._pool.close()
