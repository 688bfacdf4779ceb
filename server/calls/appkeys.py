"""The calls domain's typed application keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from server.calls.cluster import CallRouter
    from server.calls.history import CallHistory, DeclineLinks

calls_key: web.AppKey[CallRouter] = web.AppKey("calls")
call_history_key: web.AppKey[CallHistory] = web.AppKey("call_history")
decline_links_key: web.AppKey[DeclineLinks] = web.AppKey("decline_links")
