"""The people domain: usernames' availability, finding a person by username or e-mail address, and contacts."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from server.auth.appkeys import accounts_key
from server.keys import blind_index_key, database_key, limiter_key, settings_key
from server.people import apidoc, routes
from server.people.appkeys import people_key
from server.people.service import PeopleService
from server.storage.people import ContactRepository
from server.web.openapi import add_part
from server.wiring import provide


def setup(app: web.Application) -> None:
    app.add_routes(routes.routes)
    app.cleanup_ctx.append(_people_ctx)
    add_part(app, apidoc, tags=[("people", "Finding people: usernames, lookup by username or e-mail, contacts")])


async def _people_ctx(app: web.Application) -> AsyncIterator[None]:
    provide(
        app,
        people_key,
        lambda: PeopleService(
            app[accounts_key].repo,
            ContactRepository(app[database_key]),
            settings=app[settings_key],
            limiter=app[limiter_key],
            blind_index=app[blind_index_key],
        ),
    )
    yield
