"""The Database interface behaves the same on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.storage.database import Database, Executor, IntegrityError, connect
from server.storage.migrations import load, migrate, split_statements


@pytest.fixture(name="db")
async def db_fixture(database_url: str) -> AsyncIterator[Database]:
    db = await connect(database_url, readers=2, pool_size=4)
    await migrate(db)
    await db.execute("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, data BYTEA)")
    yield db
    await db.close()


async def test_write_and_read(db: Database) -> None:
    assert await db.execute("INSERT INTO things (id, name, data) VALUES ($1, $2, $3)", 1, "one", b"\x00\xff") == 1
    await db.executemany("INSERT INTO things (id, name) VALUES ($1, $2)", [(2, "two"), (3, "three")])
    rows = await db.fetch("SELECT id, name, data FROM things ORDER BY id")
    assert [(r["id"], r["name"]) for r in rows] == [(1, "one"), (2, "two"), (3, "three")]
    assert bytes(rows[0]["data"]) == b"\x00\xff"
    assert await db.fetchval("SELECT count(*) FROM things WHERE id > $1", 1) == 2
    assert await db.fetchrow("SELECT * FROM things WHERE id = $1", 99) is None
    assert await db.execute("UPDATE things SET name = name || $1 WHERE id >= $2", "!", 2) == 2


async def test_many_rows_in_and_out(db: Database) -> None:
    rows = [(n, f"thing {n}", bytes([n % 256])) for n in range(1, 1234)]  # more than one INSERT's worth
    await db.insert_rows("things", ("id", "name", "data"), rows)
    got = await db.fetch_many(
        "SELECT id, name, CAST(id AS DOUBLE PRECISION) / 2 AS half, NULL AS missing"
        " FROM things WHERE id > $1 ORDER BY id",
        ("id", "name", "half", "missing"),
        1000,
    )
    assert got == [(n, f"thing {n}", n / 2, None) for n in range(1001, 1234)]
    assert all(isinstance(half, float) for _, _, half, _ in got)
    assert bytes(await db.fetchval("SELECT data FROM things WHERE id = $1", 300)) == bytes([300 % 256])
    assert await db.fetch_many("SELECT id FROM things WHERE id < $1", ("id",), 0) == []
    async with db.transaction() as tx:  # and inside a transaction, seeing its own writes
        await tx.execute("UPDATE things SET name = $1 WHERE id = $2", "renamed", 7)
        assert await tx.fetch_many("SELECT name FROM things WHERE id = $1", ("name",), 7) == [("renamed",)]
    # A clash in any chunk fails the whole insert, the same way on both backends.
    with pytest.raises(IntegrityError):
        async with db.transaction() as tx:
            await tx.insert_rows("things", ("id", "name"), [(n, f"new {n}") for n in range(5000, 5600)] + [(1, "x")])
    assert await db.fetchval("SELECT count(*) FROM things") == len(rows)


async def test_transaction_rolls_back_on_error(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO things (id, name) VALUES ($1, $2)", 1, "one")
            raise RuntimeError("boom")
    assert await db.fetchval("SELECT count(*) FROM things") == 0
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO things (id, name) VALUES ($1, $2)", 1, "one")
        assert await tx.fetchval("SELECT name FROM things WHERE id = $1", 1) == "one"
    assert await db.fetchval("SELECT name FROM things WHERE id = 1") == "one"


async def test_integrity_error_is_the_same_on_both(db: Database) -> None:
    await db.execute("INSERT INTO things (id, name) VALUES (1, 'one')")
    with pytest.raises(IntegrityError):
        await db.execute("INSERT INTO things (id, name) VALUES (2, 'one')")
    with pytest.raises(IntegrityError):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO things (id, name) VALUES (3, 'three')")
            await tx.execute("INSERT INTO things (id, name) VALUES (3, 'again')")
    assert await db.fetchval("SELECT count(*) FROM things") == 1


async def test_run_transaction_commits_what_it_returns_and_rolls_back_what_raises(db: Database) -> None:
    async def write(tx: Executor) -> list[object]:
        assert await tx.execute("INSERT INTO things (id, name) VALUES ($1, $2)", 1, "one") == 1
        await tx.executemany("INSERT INTO things (id, name) VALUES ($1, $2)", [(2, "two"), (3, "three")])
        await tx.insert_rows("things", ("id", "name"), [(n, f"thing {n}") for n in range(4, 1300)])
        row = await tx.fetchrow("SELECT name FROM things WHERE id = $1", 2)
        assert row is not None
        many = await tx.fetch_many("SELECT id FROM things WHERE id < $1 ORDER BY id", ("id",), 3)
        rows = await tx.fetch("SELECT id FROM things WHERE id = $1", 3)
        return [await tx.fetchval("SELECT count(*) FROM things"), row["name"], many, [r["id"] for r in rows]]

    assert await db.run_transaction(write) == [1299, "two", [(1,), (2,)], [3]]
    assert await db.fetchval("SELECT count(*) FROM things") == 1299

    async def clash(tx: Executor) -> None:
        await tx.execute("INSERT INTO things (id, name) VALUES ($1, $2)", 5000, "new")
        await tx.execute("INSERT INTO things (id, name) VALUES ($1, $2)", 5001, "one")  # the name is taken

    with pytest.raises(IntegrityError):
        await db.run_transaction(clash)

    async def fails(tx: Executor) -> None:
        await tx.execute("INSERT INTO things (id, name) VALUES ($1, $2)", 6000, "later")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await db.run_transaction(fails)
    assert await db.fetchval("SELECT count(*) FROM things WHERE id >= 5000") == 0
    async with db.transaction() as tx:  # and the writer is free again
        await tx.execute("INSERT INTO things (id, name) VALUES ($1, $2)", 7000, "after")
    assert await db.fetchval("SELECT name FROM things WHERE id = 7000") == "after"


async def test_one_step_transactions_refuse_other_awaits_and_finish_when_their_caller_is_cancelled(
    tmp_path: Path,
) -> None:
    # SQLite only: it runs a transaction in one step in its writer thread; PostgreSQL awaits each statement.
    db = await connect(f"sqlite:///{tmp_path / 'one-step.db'}")
    try:
        await db.execute("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")

        async def sleeps(tx: Executor) -> None:
            await tx.execute("INSERT INTO things (id, name) VALUES (1, 'one')")
            await asyncio.sleep(0)  # not the executor: the transaction cannot run in one step

        with pytest.raises(RuntimeError, match="awaited something other than its executor"):
            await db.run_transaction(sleeps)
        assert await db.fetchval("SELECT count(*) FROM things") == 0

        async def many(tx: Executor) -> int:
            await tx.insert_rows("things", ("id", "name"), [(n, f"thing {n}") for n in range(1, 20_001)])
            return 20_000

        task = asyncio.create_task(db.run_transaction(many))
        await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Cancelled or not, it committed whole in its thread, and the writer is free for the next.
        assert await db.fetchval("SELECT count(*) FROM things") in (0, 20_000)
        await db.execute("INSERT INTO things (id, name) VALUES (30000, 'next')")
    finally:
        await db.close()


async def test_stream_reads_in_batches(db: Database) -> None:
    await db.executemany("INSERT INTO things (id, name) VALUES ($1, $2)", [(i, f"n{i}") for i in range(2500)])
    seen = [row["id"] async for row in db.stream("SELECT id FROM things ORDER BY id", batch=300)]
    assert seen == list(range(2500))


async def test_migrations_are_idempotent(db: Database) -> None:
    assert await migrate(db) == []
    versions = [r["version"] for r in await db.fetch("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [m.version for m in load(db.backend)]


async def test_ping_and_stats(db: Database) -> None:
    assert await db.ping() is True
    stats = db.stats()
    assert stats["connections"] >= 1


def test_split_statements() -> None:
    script = "-- a comment\nCREATE TABLE a (x TEXT DEFAULT ';');\n\nCREATE INDEX b ON a (x);\n-- trailing\n"
    assert split_statements(script) == [
        "-- a comment\nCREATE TABLE a (x TEXT DEFAULT ';');",
        "CREATE INDEX b ON a (x);",
    ]
    with pytest.raises(ValueError, match="incomplete"):
        split_statements("CREATE TABLE a (x TEXT")


async def test_open_streams_never_take_every_reader(database_url: str) -> None:
    db = await connect(database_url, readers=1, pool_size=2)
    await migrate(db)
    try:
        await db.execute("CREATE TABLE nums (n INTEGER PRIMARY KEY)")
        await db.executemany("INSERT INTO nums (n) VALUES ($1)", [(i,) for i in range(3000)])
        # A slow export: it has read its first rows and waits for its client.
        export = db.stream("SELECT n FROM nums ORDER BY n", batch=100)
        first = await anext(export)
        assert first["n"] == 0
        # Ordinary reads still get through meanwhile.
        assert await asyncio.wait_for(db.fetchval("SELECT count(*) FROM nums"), timeout=5) == 3000
        await export.aclose()
    finally:
        await db.close()
