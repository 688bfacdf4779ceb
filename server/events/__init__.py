"""The events domain: each user's numbered, resumable event log, which every other domain appends to."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from server.events import ws
from server.events.appkeys import event_log_key
from server.events.log import EventLog
from server.keys import broker_key, database_key, keyring_key, ws_authenticated_key, ws_commands_key
from server.storage.events import EventRepository
from server.wiring import provide


def setup(app: web.Application) -> None:
    app[ws_commands_key].add_all(ws.commands)
    app[ws_authenticated_key].connect(ws.hear_user)
    app.cleanup_ctx.append(_events_ctx)  # after the database and broker; before every domain that appends


async def _events_ctx(app: web.Application) -> AsyncIterator[None]:
    provide(app, event_log_key, lambda: EventLog(EventRepository(app[database_key], app[keyring_key]), app[broker_key]))
    yield
