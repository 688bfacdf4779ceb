"""The one database interface the services use, with an SQLite and a PostgreSQL backend behind it.

SQL is written once with PostgreSQL's `$1, $2` placeholders; the SQLite backend rewrites them to `?1, ?2`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Row(Protocol):
    """A result row: by column name or position (sqlite3.Row and asyncpg.Record both are)."""

    def __getitem__(self, key: str | int) -> Any: ...

    def __iter__(self) -> Iterator[Any]:
        """The values in column order."""

    def keys(self) -> Any: ...


class Executor(Protocol):
    """What both a database and one of its transactions can do."""

    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; returns the number of rows it changed."""

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert many rows at once (PostgreSQL: COPY; SQLite: INSERTs of many rows each)."""

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetch_many(self, sql: str, columns: Sequence[str], *args: Any) -> list[tuple[Any, ...]]:
        """The rows of a query that returns many, as tuples of `columns` (names of its result columns). For
        text, integers and nulls only (SQLite hands floats over with 15 digits and cannot pack bytes), and in
        no promised order. SQLite hands each row over separately, and the sqlite3 module
        lets go of the GIL and takes it back for every one, which a busy event loop turns into a wait per row:
        there the rows come back packed into one JSON value, in one step."""

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...

    async def fetchval(self, sql: str, *args: Any) -> Any: ...


class Database(Executor, Protocol):
    """A connected database. Reads may go to a reader; `execute` and transactions go to the writer."""

    backend: str  # "sqlite" or "postgresql"
    closed: bool

    def transaction(self) -> AbstractAsyncContextManager[Executor]:
        """A write transaction: committed when the block ends, rolled back if it raises."""

    async def run_transaction(self, work: Callable[[Executor], Awaitable[T]], *, name: str = "transaction") -> T:
        """`work(tx)` in one write transaction, committed once it returns, rolled back if it raises. `work` may
        await only `tx`'s methods: SQLite runs all of it, BEGIN to COMMIT, in its writer thread in one step
        (a batch writer's transaction, so the event loop hands it over once instead of once per statement).
        `name` is what /metrics and the slow-statement log call it (it is timed as one statement)."""

    def stream(self, sql: str, *args: Any, batch: int = 1000) -> AsyncIterator[Row]:
        """Rows one at a time, fetched in batches, for results too large to hold in memory."""

    async def ping(self) -> bool: ...

    def stats(self) -> dict[str, float]:
        """Figures for /metrics: connections, those in use, callers waiting for one."""

    async def close(self) -> None: ...


async def connect(url: str, *, readers: int = 3, pool_size: int = 10, timeout: float | None = None) -> Database:
    """Open the database named by `url` (sqlite:///path or postgresql://...). PostgreSQL: `timeout` bounds each
    connect, pool wait and statement (None: a minute, for the command line's long jobs)."""
    if url.startswith(("postgresql:", "postgres:")):
        from server.storage.postgres import PostgresDatabase

        return await PostgresDatabase.open(url, pool_size=pool_size, timeout=timeout or 60.0)
    from server.storage.sqlite import SqliteDatabase

    path = url.removeprefix("sqlite://").removeprefix("/")
    return await SqliteDatabase.open(path, readers=readers)


async def size_on_disk(db: Database) -> int | None:
    """The database's size on disk: SQLite's pages (without its WAL file), PostgreSQL's pg_database_size."""
    if db.backend == "postgresql":
        value = await db.fetchval("SELECT pg_database_size(current_database())")
    else:
        value = await db.fetchval("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
    return int(value) if value is not None else None


class IntegrityError(Exception):
    """A unique or foreign-key constraint refused a write (either backend)."""
