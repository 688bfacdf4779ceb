"""The database behind its circuit breaker: failures to connect open it, and then the database is not tried at
all until the cool-down has passed; one trial call then closes it again."""

from __future__ import annotations

from typing import Any

import pytest

from server.breaker import CircuitBreaker
from server.storage.guarded import DatabaseUnavailable, GuardedDatabase


class FlakyDatabase:
    """Counts how often it is tried; fails to connect while `down`."""

    backend = "sqlite"
    closed = False

    def __init__(self) -> None:
        self.tries = 0
        self.down = True

    async def fetchval(self, sql: str, *args: Any) -> Any:
        self.tries += 1
        if self.down:
            raise ConnectionRefusedError("nothing listens there")
        return 1


async def test_the_breaker_opens_after_failures_and_tries_again_after_the_cooldown() -> None:
    now = [0.0]
    inner = FlakyDatabase()
    db = GuardedDatabase(inner, CircuitBreaker("the database", failures=3, cooldown=10, clock=lambda: now[0]))  # type: ignore[arg-type]
    for _ in range(3):
        with pytest.raises(DatabaseUnavailable):
            await db.fetchval("SELECT 1")
    assert inner.tries == 3
    for _ in range(20):  # open: refused without trying
        with pytest.raises(DatabaseUnavailable) as refused:
            await db.fetchval("SELECT 1")
        assert refused.value.retry_after == 10
    assert inner.tries == 3
    now[0] = 11.0  # half-open: one trial, which fails and opens it again
    with pytest.raises(DatabaseUnavailable):
        await db.fetchval("SELECT 1")
    with pytest.raises(DatabaseUnavailable):
        await db.fetchval("SELECT 1")
    assert inner.tries == 4
    now[0] = 22.0
    inner.down = False
    assert await db.fetchval("SELECT 1") == 1
    assert await db.fetchval("SELECT 1") == 1
    assert inner.tries == 6


async def test_a_wrong_statement_is_no_outage() -> None:
    class Refusing(FlakyDatabase):
        async def fetchval(self, sql: str, *args: Any) -> Any:
            self.tries += 1
            raise ValueError("bad statement")

    inner = Refusing()
    db = GuardedDatabase(inner, CircuitBreaker("the database", failures=1))  # type: ignore[arg-type]
    for _ in range(3):
        with pytest.raises(ValueError, match="bad statement"):
            await db.fetchval("SELECT nonsense")
    assert inner.tries == 3
