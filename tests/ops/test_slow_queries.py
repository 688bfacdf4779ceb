"""Slow statements and the database seen: with SLOW_QUERY_MS at 0 every statement counts as slow, so each is logged
by its name and duration, never with its values, and counted in /metrics per statement; /metrics also shows the
database's connections and the batch writers' queues. On both databases."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import Settings
from server.keys import database_key, metrics_key
from server.ops.metrics import metrics_app
from server.storage.database import Executor
from server.storage.timing import MAX_STATEMENTS, OTHER, StatementTimings, statement_name
from tests.helpers import new_channel

CANARY = "canary-7f3e9b1c-do-not-log"


def slow_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [vars(r) for r in caplog.records if r.name == "server.storage.timing"]


async def test_slow_statements_are_logged_by_name_without_values_and_counted_per_statement(
    aiohttp_client: Any, make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    client: TestClient = await aiohttp_client(create_app(make_settings(slow_query_ms=0.0)))
    metrics = await aiohttp_client(metrics_app(client.app[metrics_key]))
    db = client.app[database_key]
    caplog.set_level(logging.WARNING, logger="server.storage.timing")
    caplog.clear()

    await db.execute("CREATE TABLE canaries (id INTEGER PRIMARY KEY, note TEXT NOT NULL)")
    insert = "INSERT INTO canaries (id, note) VALUES ($1, $2)"
    await db.execute(insert, 1, CANARY)
    count = "SELECT count(*) FROM canaries WHERE note = $1"
    assert await db.fetchval(count, CANARY) == 1
    update = "UPDATE canaries SET note = $1 WHERE id = $2"
    async with db.transaction() as tx:  # statements inside a transaction are timed one by one
        await tx.execute(update, CANARY + "!", 1)

    async def write(tx: Executor) -> int:
        return await tx.execute(insert, 2, CANARY)

    await db.run_transaction(write, name="batch canaries")  # timed as one, named after its writer

    lines = slow_lines(caplog)
    logged = {line["statement"] for line in lines}
    for name in (statement_name(insert), statement_name(count), statement_name(update), "batch canaries"):
        assert name in logged
    assert statement_name(insert).startswith("insert canaries ")
    assert statement_name(update).startswith("update canaries ")
    for line in lines:
        assert line["duration_ms"] >= 0
        assert line["statement"] in line["msg"] % line["args"]
        assert CANARY not in repr(line)
    assert CANARY not in caplog.text

    text = await (await metrics.get("/metrics")).text()
    assert f'database_slow_statements_total{{statement="{statement_name(insert)}"}} 1.0' in text
    assert f'database_statements_total{{statement="{statement_name(count)}"}} 1.0' in text
    assert 'database_slow_statements_total{statement="batch canaries"} 1.0' in text
    assert f'database_statement_seconds_total{{statement="{statement_name(update)}"}}' in text
    assert CANARY not in text


async def test_metrics_show_pool_use_batch_writer_queues_and_writes_named_after_their_writer(
    client: TestClient, aiohttp_client: Any
) -> None:
    metrics = await aiohttp_client(metrics_app(client.app[metrics_key]))
    channel = await new_channel(client)
    assert (await client.post("/update", data={"api_key": channel["write_key"], "field1": "1"})).status == 200
    text = await (await metrics.get("/metrics")).text()
    backend = client.app[database_key].backend
    figures = ("in_use", "waiting") if backend == "postgresql" else ("readers_in_use", "readers_waiting")
    for figure in (*figures, "connections"):
        assert f'database_pool{{backend="{backend}",figure="{figure}"}}' in text
    for writer in ("feeds", "messages"):
        assert f'batch_writer_queued_rows{{writer="{writer}"}} 0.0' in text
        assert f'batch_writer_writing_rows{{writer="{writer}"}} 0.0' in text
    assert 'database_statements_total{statement="batch feeds"} 1.0' in text  # the point's batch
    assert 'database_slow_statements_total{statement="batch feeds"}' in text


def test_statement_names_are_stable_and_carry_no_values() -> None:
    sql = "SELECT id FROM accounts WHERE email_index = $1 AND id IN ($2, $3, $4) LIMIT 50"
    name = statement_name(sql)
    assert re.fullmatch(r"select accounts [0-9a-f]{6}", name)
    # Whitespace, the length of a list of placeholders and numbers written into the text do not make another name.
    assert statement_name("SELECT id FROM accounts\n   WHERE email_index = $1 AND id IN ($2) LIMIT 10") == name
    assert statement_name("SELECT name FROM accounts WHERE id = $1") != name
    assert statement_name("WITH x AS (SELECT 1) DELETE FROM sessions WHERE id = $1").startswith("with sessions ")
    assert re.fullmatch(r"sql [0-9a-f]{6}", statement_name("EXPLAIN SELECT 1"))


def test_names_beyond_the_bound_are_counted_together() -> None:
    timings = StatementTimings(slow_ms=1000)
    for n in range(MAX_STATEMENTS + 10):
        timings.add(f"select t{n} abcdef", 0.001)
    assert len(timings.figures) == MAX_STATEMENTS + 1
    assert timings.figures[OTHER][0] == 10
