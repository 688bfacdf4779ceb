"""How domains plug into the app: signals (the one listener mechanism) and services a test may override.

A `Signal` is a typed list of listeners for one kind of happening ("a WebSocket signed in", "a message was sent",
"points were written"). The domain that owns the happening creates it and fires it; other domains connect to it
in their `setup(app)`. Listeners run in the order they connected. Firing is the owner's choice: `send` calls
plain listeners and returns their answers, `send_async` awaits async ones in turn.

`provide(app, key, build)` puts a service under its AppKey unless `create_app(..., overrides=...)` gave one
already (the way svcs' `register_value` lets a test swap one piece and keep the rest real).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Generic, ParamSpec, TypeVar

from aiohttp import web

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class Signal(Generic[P, R]):
    """Listeners of one kind of happening, called in the order they connected."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._listeners: list[Callable[P, R]] = []

    def __repr__(self) -> str:
        return f"<Signal {self.name}: {len(self._listeners)} listeners>"

    def __len__(self) -> int:
        return len(self._listeners)

    def __iter__(self) -> Iterator[Callable[P, R]]:
        return iter(self._listeners)

    def connect(self, listener: Callable[P, R]) -> Callable[P, R]:
        """Add a listener (usable as a decorator); returns it."""
        self._listeners.append(listener)
        return listener

    def disconnect(self, listener: Callable[P, R]) -> None:
        """Remove a listener, if it is connected."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def send(self, *args: P.args, **kwargs: P.kwargs) -> list[R]:
        return [listener(*args, **kwargs) for listener in self._listeners]


async def send_async(signal: Signal[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> list[T]:
    """Fire a signal whose listeners are coroutines: each is awaited in turn; returns their answers."""
    return [await listener(*args, **kwargs) for listener in signal]


overrides_key: web.AppKey[Mapping[web.AppKey[Any], Any]] = web.AppKey("overrides")


def provide(app: web.Application, key: web.AppKey[T], build: Callable[[], T]) -> T:
    """Store the override given for `key` to create_app, or else what `build()` makes; returns it."""
    overrides = app.get(overrides_key, {})
    value: T = overrides[key] if key in overrides else build()
    app[key] = value
    return value
