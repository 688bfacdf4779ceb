"""Types the IoT modules share, kept apart from routes and storage so no module has to import a route module
for them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

# What to do once an update's point is committed: gives the fields to add to the reply.
AfterWrite = Callable[[], Awaitable[dict[str, Any]]]
# A listener of every /update (TalkBack: the next command goes back in the reply). It runs before the write, so it
# can refuse bad input (a wrong talkback_key) while nothing is written yet; it returns an AfterWrite, or None.
UpdateExtra = Callable[[web.Request, Mapping[str, Any]], Awaitable[AfterWrite | None]]
