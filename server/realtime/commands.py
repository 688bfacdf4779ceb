"""The WebSocket's command table: each domain registers the frame types it answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from server.realtime.connections import Connection

# (request, connection, frame) -> the reply's result; raise ApiError for an error reply.
# Run once a connection has authenticated (request, connection); it may add connection cleanups.
WsAuthHook = Callable[[web.Request, Connection], Awaitable[None]]
CommandHandler = Callable[[web.Request, Connection, dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Command:
    handler: CommandHandler
    # Most commands need a signed-in connection; a few (following a public channel) do not.
    anonymous: bool = False


class CommandTable:
    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}

    def add(self, name: str, handler: CommandHandler, *, anonymous: bool = False) -> None:
        if name in self._commands or name in ("auth", "ping"):
            raise ValueError(f"command {name!r} is registered twice")
        self._commands[name] = Command(handler, anonymous)

    def get(self, name: str) -> Command | None:
        return self._commands.get(name)
