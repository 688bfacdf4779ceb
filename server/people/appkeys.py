"""The people domain's typed application keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from server.people.service import PeopleService

people_key: web.AppKey[PeopleService] = web.AppKey("people")
