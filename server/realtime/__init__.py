"""The realtime house: the one WebSocket, its connections and command table, and the broker between processes.

It knows no domain: authentication comes through `ws_authenticate_key`, and each domain adds its commands to
`ws_commands_key` and its per-connection listeners to the `ws_authenticated_key` signal.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable

from aiohttp import web

from server.keys import broker_key, connections_key, metrics_key, redis_key, ws_authenticated_key, ws_commands_key
from server.realtime import routes
from server.realtime.broker import open_broker
from server.realtime.commands import CommandTable
from server.realtime.connections import Connection, ConnectionRegistry
from server.wiring import Signal


def setup(app: web.Application) -> None:
    connections = ConnectionRegistry()
    app[connections_key] = connections
    app[metrics_key].open_websockets = lambda: len(connections)
    app[ws_commands_key] = CommandTable()
    authenticated: Signal[[web.Request, Connection], Awaitable[None]] = Signal("ws_authenticated")
    app[ws_authenticated_key] = authenticated
    app.cleanup_ctx.append(_broker_ctx)  # after Redis (which it may ride on); before every domain that publishes
    app.add_routes(routes.routes)
    app.on_shutdown.append(_close_websockets)


async def _broker_ctx(app: web.Application) -> AsyncIterator[None]:
    broker = await open_broker(app[redis_key])
    app[broker_key] = broker
    yield
    await broker.close()


async def _close_websockets(app: web.Application) -> None:
    await app[connections_key].close_all()
