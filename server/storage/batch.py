"""Group commit: callers enqueue rows, one task writes a batch per transaction, each caller awaits its own result.

A batch is written when it holds `max_rows` rows or `max_delay_ms` after its first row arrived, whichever
comes first. A caller's future resolves only after the transaction that holds its row committed, so an
acknowledged write is never lost. If a batch fails, its rows are retried one transaction each, so one bad
row fails alone and the others still commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from server.storage.database import Database, Executor

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

WriteBatch = Callable[[Executor, list[T]], Awaitable[list[R]]]


class WriterClosedError(Exception):
    """The writer is shutting down and takes no new rows."""


class QueueFullError(Exception):
    """The writer already holds `max_pending` rows: this one is refused at once (not queued, so not written),
    and the caller is told to send it again after `retry_after` seconds."""

    def __init__(self, name: str, retry_after: float = 1.0) -> None:
        super().__init__(f"{name} writer is full")
        self.retry_after = retry_after


@dataclass
class BatchWriterStats:
    batches: int = 0
    rows: int = 0
    failed_rows: int = 0
    refused_full: int = 0  # rows refused because the queue was full
    last_batch_rows: int = 0
    last_commit_seconds: float = 0.0
    commit_seconds: float = 0.0  # all batches' commits together: over `batches`, the mean time one takes


class BatchWriter(Generic[T, R]):
    def __init__(
        self,
        db: Database,
        write: WriteBatch[T, R],
        *,
        name: str,
        max_rows: int = 1000,
        max_delay_ms: float = 2.0,
        max_pending: int = 100_000,
    ) -> None:
        self.name = name
        self._db = db
        self._write = write
        self._max_rows = max_rows
        self._max_delay = max_delay_ms / 1000
        self._max_pending = max_pending
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()  # set when a batch's worth is waiting: no need to wait out the delay
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._writing = 0
        self.stats = BatchWriterStats()

    @property
    def queued(self) -> int:
        """Rows waiting for a batch (what `max_pending` bounds)."""
        return len(self._pending)

    @property
    def writing(self) -> int:
        """Rows in the batch being written now."""
        return self._writing

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"batch-writer-{self.name}")

    async def submit(self, item: T) -> R:
        """Enqueue one row; returns its result once its transaction has committed. QueueFullError at once when
        `max_pending` rows are already waiting (a caller is never left waiting for room)."""
        if self._closing or self._task is None:
            raise WriterClosedError(f"{self.name} writer is not accepting writes")
        if len(self._pending) >= self._max_pending:
            self.stats.refused_full += 1
            raise QueueFullError(self.name)
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        self._arrived.set()
        if len(self._pending) >= self._max_rows:
            self._full.set()
        return await future

    async def close(self) -> None:
        """Refuse new rows, write every row already queued, then stop."""
        self._closing = True
        self._arrived.set()
        self._full.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._arrived.clear()
                await self._arrived.wait()
                continue
            # Wait for the batch to fill, or for the delay after its first row: one wait per batch, woken
            # early only by a full batch or by close (not by every row that arrives).
            if len(self._pending) < self._max_rows and not self._closing and self._max_delay > 0:
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._max_delay):  # (wait_for would make a task per batch)
                        await self._full.wait()
            batch = self._pending[: self._max_rows]
            del self._pending[: self._max_rows]
            self._writing = len(batch)
            try:
                await self._commit(batch)
            finally:
                self._writing = 0

    async def _commit(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        started = time.monotonic()
        try:
            results = await self._transaction([item for item, _ in batch])
        except Exception as exc:  # noqa: BLE001 - whatever failed, each caller must get an answer
            if len(batch) == 1:
                self.stats.failed_rows += 1
                _settle(batch[0][1], exc=exc)
                return
            log.warning("%s batch of %d failed (%s); retrying its rows one by one", self.name, len(batch), exc)
            for one in batch:
                await self._commit([one])
            return
        self.stats.batches += 1
        self.stats.rows += len(batch)
        self.stats.last_batch_rows = len(batch)
        self.stats.last_commit_seconds = took = time.monotonic() - started
        self.stats.commit_seconds += took
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result=result)

    async def _transaction(self, items: list[T]) -> list[R]:
        async def write(tx: Executor) -> list[R]:
            results = await self._write(tx, items)
            if len(results) != len(items):  # inside the transaction, so it rolls back
                raise RuntimeError(f"{self.name} writer returned {len(results)} results for {len(items)} rows")
            return results

        # In one step: SQLite runs the whole transaction in its writer thread (the write function awaits nothing
        # but the executor), so a batch costs the event loop one hand-over instead of one per statement.
        return await self._db.run_transaction(write, name=f"batch {self.name}")


def _settle(future: asyncio.Future[R], *, result: R | None = None, exc: BaseException | None = None) -> None:
    # A caller that gave up (cancelled) no longer wants its answer; the row is written all the same.
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)  # type: ignore[arg-type]
