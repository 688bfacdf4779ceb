"""Types the IoT modules share, kept apart from routes and storage so no module has to import a route module
for them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from server.wiring import Signal

# What to do once an update's point is committed: gives the fields to add to the reply.
AfterWrite = Callable[[], Awaitable[dict[str, Any]]]
# Fired for each /update with the request and its parameters (TalkBack: the next command goes back in the reply).
# Listeners run before the write, so they can refuse bad input (a wrong talkback_key) while nothing is written yet;
# each returns an AfterWrite, or None.
UpdateReceived = Signal[[web.Request, Mapping[str, Any]], Awaitable[AfterWrite | None]]
