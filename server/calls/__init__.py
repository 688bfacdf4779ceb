"""The calls domain: audio and video calls over WebRTC. So far: TURN credentials for coturn (`turn.py`)."""

from __future__ import annotations

from aiohttp import web

from server.calls import apidoc, routes
from server.web.openapi import add_part


def setup(app: web.Application) -> None:
    app.add_routes(routes.routes)
    add_part(app, apidoc, tags=[("calls", "Audio and video calls: ICE servers and TURN credentials")])
