"""HTTP routes for finding people: /api/people/* (username availability, lookup, contacts)."""

from __future__ import annotations

from aiohttp import web

from server.auth.guard import require_user
from server.auth.service import Caller
from server.keys import settings_key
from server.people.appkeys import people_key
from server.web.client import client_ip, user_agent
from server.web.paging import decode_cursor, encode_cursor, page_limit
from server.web.validation import Field, read_json

routes = web.RouteTableDef()

MAX_USERNAME = 64  # longer than any username (32), so a long one gets the rule rather than a bare "too long"
LOOKUP = {
    "username": Field(str, required=False, max_length=MAX_USERNAME, min_length=1),
    "email": Field(str, required=False, max_length=254, min_length=1, email=True),
}


def _caller(request: web.Request) -> Caller:
    return Caller(client_ip(request, request.app[settings_key].trusted_proxies), user_agent(request))


@routes.get("/api/people/usernames/{username}")
async def username_available(request: web.Request) -> web.Response:
    """Whether a username is free; asked by the sign-up form as the user types, so no sign-in is needed."""
    raw = request.match_info["username"][:MAX_USERNAME]
    name, reason = await request.app[people_key].username_available(raw, _caller(request))
    return web.json_response({"username": name, "available": reason is None, "reason": reason})


@routes.post("/api/people/lookup")
async def lookup(request: web.Request) -> web.Response:
    # A POST, so an e-mail address travels in the body and never in a URL (which proxies and browsers keep).
    principal = await require_user(request)
    body = await read_json(request, LOOKUP)
    person = await request.app[people_key].find(
        principal, _caller(request), username=body.get("username"), email=body.get("email")
    )
    return web.json_response(person.public())


@routes.get("/api/people/contacts")
async def contacts(request: web.Request) -> web.Response:
    principal = await require_user(request)
    limit = page_limit(request)
    cursor = decode_cursor(request, lambda v: (float(v[0]), str(v[1])))
    page = await request.app[people_key].contacts(principal, before=cursor, limit=limit)
    return web.json_response(
        {
            "contacts": [{**person.public(), "active_at": active_at} for person, active_at in page.people],
            "next": encode_cursor(list(page.next)) if page.next else None,
        }
    )
