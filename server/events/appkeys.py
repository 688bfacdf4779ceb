"""The events domain's typed application keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from server.events.log import EventLog

event_log_key: web.AppKey[EventLog] = web.AppKey("event_log")
