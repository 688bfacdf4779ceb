"""The calls domain: audio and video calls over WebRTC.

1:1 calls are peer to peer, signalled over the WebSocket (`direct.py`, `ws.py`), with TURN credentials for
coturn (`turn.py`). Group calls are rooms on the in-process SFU (`rooms.py`, `sfu/`). With several processes
each chat's calls live in one, and the others forward to it (`cluster.py`). Every call ends as an entry in its
chat's history, and rings devices with no socket by Web Push (`history.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from server.calls import apidoc, routes, ws
from server.calls.appkeys import call_history_key, calls_key, decline_links_key
from server.calls.cluster import CallRouter
from server.calls.direct import DirectCalls, RedisLedger
from server.calls.gate import ChatGate
from server.calls.history import CallHistory, DeclineLinks
from server.calls.rooms import GroupRooms
from server.calls.service import CallService
from server.chat.appkeys import chat_key, messages_key, presence_key, push_key
from server.keys import (
    blind_index_key,
    broker_key,
    database_key,
    limiter_key,
    redis_key,
    settings_key,
    ws_authenticated_key,
    ws_commands_key,
)
from server.storage.chat.blocks import BlockRepository
from server.web.openapi import add_part
from server.web.ratelimit import enforce
from server.wiring import provide


def setup(app: web.Application) -> None:
    app.add_routes(routes.routes)
    app[ws_commands_key].add_all(ws.commands)
    app[ws_authenticated_key].connect(ws.on_authenticated)  # hear the user's calls; replay them on reconnect
    add_part(app, apidoc, tags=[("calls", "Audio and video calls: ICE servers, TURN credentials, declining")])
    app.cleanup_ctx.append(_calls_ctx)


async def _calls_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    blind_index = app[blind_index_key]
    links = provide(
        app,
        decline_links_key,
        lambda: DeclineLinks(lambda v: blind_index(v, purpose="call.decline"), settings.public_url),
    )
    presence, accounts_names = app[presence_key], app[chat_key].names
    history = provide(
        app,
        call_history_key,
        lambda: CallHistory(app[messages_key], app[push_key], presence, links, names=accounts_names),
    )
    gate = ChatGate(app[chat_key], BlockRepository(app[database_key]))
    limiter, limit = app[limiter_key], settings.rate_call_invite

    async def invite_limit(user_id: str) -> None:
        await enforce(limiter, limit, f"call-invite:{user_id}")

    redis = app[redis_key]
    ledger = RedisLedger(redis) if redis is not None else None
    direct = DirectCalls(
        gate, presence, ws.publisher(app[broker_key]), history, ledger=ledger, enforce_invite_limit=invite_limit
    )
    rooms = None
    if settings.call_max_rooms > 0:
        rooms = GroupRooms(
            gate,
            ws.publisher(app[broker_key]),
            history,
            max_rooms=settings.call_max_rooms,
            max_participants=settings.call_max_participants,
        )
    service = CallService(direct, gate, rooms)
    router = provide(app, calls_key, lambda: CallRouter(service, app[broker_key], redis))
    await router.start()
    yield
    await router.close()
    await service.close()
    await history.close()
