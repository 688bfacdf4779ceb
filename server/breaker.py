"""A circuit breaker, so a dependency that is down (Redis, the database) is not waited on by every request.

Closed: calls go through and consecutive failures are counted. After `failures` in a row it opens: calls are
refused at once (`CircuitOpenError`) for `cooldown` seconds. Then it is half-open: one trial call goes through;
its success closes the breaker, its failure opens it for another cool-down.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitOpenError(Exception):
    """The dependency failed too often just now; it is not tried until `retry_after` seconds have passed."""

    def __init__(self, name: str, retry_after: float) -> None:
        super().__init__(f"{name} is unavailable")
        self.name = name
        self.retry_after = retry_after


class CircuitBreaker:
    def __init__(
        self, name: str, *, failures: int = 3, cooldown: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self._threshold = max(1, failures)
        self._cooldown = cooldown
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "open" if self._clock() - self._opened_at < self._cooldown else "half-open"

    def retry_after(self) -> float:
        """Seconds until the next trial (the whole cool-down while closed, as a hint for clients)."""
        if self._opened_at is None:
            return self._cooldown
        return max(1.0, self._opened_at + self._cooldown - self._clock())

    def before(self) -> None:
        """Call before using the dependency: raises CircuitOpenError while it is open."""
        state = self.state
        if state == "open":
            raise CircuitOpenError(self.name, self.retry_after())
        if state == "half-open":
            # This call is the trial: the others wait out another cool-down (also if the trial never reports).
            self._opened_at = self._clock()

    def succeeded(self) -> None:
        self._failures = 0
        self._opened_at = None

    def failed(self) -> None:
        self._failures += 1
        if self._failures >= self._threshold:  # a failed trial is past the threshold already: open again
            self._opened_at = self._clock()
