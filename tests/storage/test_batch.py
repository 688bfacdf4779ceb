"""Group commit: batches by size and time, each caller gets its own committed result, one bad row fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from server.storage.batch import BatchWriter, WriterClosedError
from server.storage.database import Database, Executor, connect
from server.storage.migrations import migrate


@pytest.fixture(name="db")
async def db_fixture(database_url: str) -> AsyncIterator[Database]:
    db = await connect(database_url)
    await migrate(db)
    await db.execute("CREATE TABLE points (seq INTEGER PRIMARY KEY, value TEXT NOT NULL CHECK (value <> 'bad'))")
    yield db
    await db.close()


class Recorder:
    """Writes rows with sequential ids assigned inside the transaction, as an IoT feed does."""

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []

    async def __call__(self, tx: Executor, values: list[str]) -> list[int]:
        self.batch_sizes.append(len(values))
        last = await tx.fetchval("SELECT COALESCE(MAX(seq), 0) FROM points")
        ids = []
        for value in values:
            last += 1
            await tx.execute("INSERT INTO points (seq, value) VALUES ($1, $2)", last, value)
            ids.append(last)
        return ids


async def test_concurrent_writes_get_their_own_ids(db: Database) -> None:
    recorder = Recorder()
    writer: BatchWriter[str, int] = BatchWriter(db, recorder, name="t", max_rows=100, max_delay_ms=5)
    writer.start()
    ids = await asyncio.gather(*(writer.submit(f"v{i}") for i in range(1000)))
    await writer.close()
    assert sorted(ids) == list(range(1, 1001))
    # Every caller's id holds that caller's value.
    rows = {r["seq"]: r["value"] for r in await db.fetch("SELECT seq, value FROM points")}
    assert all(rows[seq] == f"v{i}" for i, seq in enumerate(ids))
    # Grouped: far fewer transactions than rows, none larger than max_rows.
    assert len(recorder.batch_sizes) < 100
    assert max(recorder.batch_sizes) <= 100
    assert writer.stats.rows == 1000


async def test_a_lone_row_waits_at_most_the_delay(db: Database) -> None:
    recorder = Recorder()
    writer: BatchWriter[str, int] = BatchWriter(db, recorder, name="t", max_rows=1000, max_delay_ms=20)
    writer.start()
    assert await asyncio.wait_for(writer.submit("only"), timeout=5) == 1
    await writer.close()
    assert recorder.batch_sizes == [1]


async def test_one_bad_row_fails_alone(db: Database) -> None:
    writer: BatchWriter[str, int] = BatchWriter(db, Recorder(), name="t", max_rows=50, max_delay_ms=50)
    writer.start()
    results = await asyncio.gather(
        *(writer.submit("bad" if i == 7 else f"v{i}") for i in range(20)), return_exceptions=True
    )
    await writer.close()
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 1
    assert isinstance(results[7], Exception)
    good = [r for r in results if isinstance(r, int)]
    assert sorted(good) == list(range(1, 20))
    assert await db.fetchval("SELECT count(*) FROM points") == 19
    assert writer.stats.failed_rows == 1


async def test_close_flushes_everything_queued_then_refuses(db: Database) -> None:
    writer: BatchWriter[str, int] = BatchWriter(db, Recorder(), name="t", max_rows=10, max_delay_ms=1000)
    writer.start()
    pending = [asyncio.ensure_future(writer.submit(f"v{i}")) for i in range(25)]
    await asyncio.sleep(0)
    await writer.close()
    assert sorted([await p for p in pending]) == list(range(1, 26))
    assert await db.fetchval("SELECT count(*) FROM points") == 25
    with pytest.raises(WriterClosedError):
        await writer.submit("late")


async def test_acknowledged_means_committed(db: Database, database_url: str) -> None:
    """A result is handed back only after commit: another connection already sees the row."""
    other = await connect(database_url)
    writer: BatchWriter[str, int] = BatchWriter(db, Recorder(), name="t", max_rows=10, max_delay_ms=1)
    writer.start()
    try:
        for i in range(20):
            seq = await writer.submit(f"v{i}")
            assert await other.fetchval("SELECT value FROM points WHERE seq = $1", seq) == f"v{i}"
    finally:
        await writer.close()
        await other.close()
