"""The WebSocket's command table: each domain declares the frame types it answers, with their schemas.

A domain collects its commands in a `CommandTableDef` with the `command` decorator, next to each handler (as
aiohttp's RouteTableDef collects routes), and its `setup(app)` adds them to the app's table. A command with a
schema gets its frame's fields (all but `type` and `id`) checked against it before the handler runs, so the
handler receives clean arguments; one without a schema checks its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from server.realtime.connections import Connection
from server.web.validation import Field, validate, validate_known

# (request, connection, the frame's fields) -> the reply's result; raise ApiError for an error reply.
CommandHandler = Callable[[web.Request, Connection, dict[str, Any]], Awaitable[dict[str, Any]]]
RESERVED = ("auth", "ping")  # answered by the socket itself


@dataclass(frozen=True)
class Command:
    name: str
    handler: CommandHandler
    schema: dict[str, Field] | None = None  # None: the handler checks its own fields
    # Most commands need a signed-in connection; a few (following a public channel) do not.
    anonymous: bool = False
    _accepted: frozenset[str] = field(init=False, repr=False, compare=False)  # the schema's fields, type and id

    def __post_init__(self) -> None:
        # A schema naming type or id itself (none does) always takes the path that leaves them out.
        plain = self.schema is not None and not {"type", "id"} & set(self.schema)
        accepted = frozenset(self.schema or ()) | {"type", "id"} if plain else frozenset()
        object.__setattr__(self, "_accepted", accepted)  # (frozen: set once, here)

    def arguments(self, frame: dict[str, Any]) -> dict[str, Any]:
        """The frame's fields, checked against the schema (ValidationError names the field at fault)."""
        if self.schema is not None and frame.keys() <= self._accepted:
            return validate_known(frame, self.schema)  # no copy of the frame without type and id first
        fields = {k: v for k, v in frame.items() if k not in ("type", "id")}
        return fields if self.schema is None else validate(fields, self.schema)


class CommandTableDef:
    """A domain's commands, declared with `@commands.command(name, schema)` beside their handlers."""

    def __init__(self) -> None:
        self._commands: list[Command] = []

    def __iter__(self) -> Iterator[Command]:
        return iter(self._commands)

    def command(
        self, name: str, schema: dict[str, Field] | None = None, *, anonymous: bool = False
    ) -> Callable[[CommandHandler], CommandHandler]:
        def add(handler: CommandHandler) -> CommandHandler:
            self._commands.append(Command(name, handler, schema, anonymous))
            return handler

        return add


class CommandTable:
    """Every command the app's WebSocket answers, by frame type."""

    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}

    def add(self, command: Command) -> None:
        if command.name in self._commands or command.name in RESERVED:
            raise ValueError(f"command {command.name!r} is registered twice")
        self._commands[command.name] = command

    def add_all(self, commands: Iterable[Command]) -> None:
        for command in commands:
            self.add(command)

    def get(self, name: str) -> Command | None:
        return self._commands.get(name)
