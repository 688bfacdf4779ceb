"""HTTP routes for accounts: /api/auth/*, /api/me, /api/admin/users."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.auth.admin import UserAdministration
from server.auth.appkeys import accounts_key
from server.auth.guard import require_admin, require_user
from server.auth.service import ROLES, AccountService, Caller
from server.auth.ws import announce_sessions_ended as _announce
from server.auth.ws import set_suspended_everywhere
from server.errors import ValidationError
from server.keys import broker_key, settings_key
from server.storage.accounts import Session
from server.texts.language import LANGUAGES, from_accept_language
from server.web.client import client_ip, user_agent
from server.web.paging import decode_cursor, encode_cursor, page_limit
from server.web.validation import Field, read_json

routes = web.RouteTableDef()

EMAIL = Field(str, max_length=254, min_length=1, email=True)
PASSWORD = Field(str, max_length=1024, min_length=1, strip=False)
DISPLAY_NAME = Field(str, max_length=100, min_length=1)
TOKEN = Field(str, max_length=200, min_length=1)
USERNAME = Field(str, required=False, max_length=64, min_length=1)  # its rules: server/auth/usernames.py
LANGUAGE = Field(str, required=False, choices=LANGUAGES, strip=False)
MAX_SEARCH = 254  # the longest e-mail address


def _service(request: web.Request) -> AccountService:
    return request.app[accounts_key]


def _admin(request: web.Request) -> UserAdministration:
    accounts = _service(request)
    return UserAdministration(accounts.repo, accounts.sessions_ended)


def _caller(request: web.Request) -> Caller:
    return Caller(client_ip(request, request.app[settings_key].trusted_proxies), user_agent(request))


def announce_sessions_ended(request: web.Request, user_id: str, session_id: str | None = None) -> None:
    """Close the WebSockets of an ended session (None: every session of the user), in every process."""
    _announce(request.app[broker_key], user_id, session_id)


def _accepted() -> web.Response:
    return web.json_response({"status": "accepted"}, status=202)


@routes.post("/api/auth/register")
async def register(request: web.Request) -> web.Response:
    body = await read_json(
        request,
        {
            "email": EMAIL,
            "password": PASSWORD,
            "display_name": DISPLAY_NAME,
            "username": USERNAME,
            "language": LANGUAGE,
        },
    )
    await _service(request).register(
        email=body["email"],
        password=body["password"],
        display_name=body["display_name"],
        caller=_caller(request),
        username=body.get("username"),
        language=body.get("language") or from_accept_language(request.headers.get("Accept-Language")),
    )
    return web.json_response({"status": "verification_sent"}, status=202)


@routes.post("/api/auth/verify")
async def verify(request: web.Request) -> web.Response:
    body = await read_json(request, {"token": TOKEN})
    user = await _service(request).verify_email(token=body["token"], caller=_caller(request))
    return web.json_response({"status": "verified", "user": user.public()})


@routes.post("/api/auth/verify/resend")
async def resend_verification(request: web.Request) -> web.Response:
    body = await read_json(request, {"email": EMAIL})
    await _service(request).resend_verification(email=body["email"], caller=_caller(request))
    return _accepted()


@routes.post("/api/auth/login")
async def login(request: web.Request) -> web.Response:
    body = await read_json(
        request, {"email": EMAIL, "password": PASSWORD, "device_token": Field(str, required=False, max_length=200)}
    )
    grant = await _service(request).login(
        email=body["email"], password=body["password"], caller=_caller(request), device_token=body.get("device_token")
    )
    return web.json_response(grant.public())


@routes.post("/api/auth/refresh")
async def refresh(request: web.Request) -> web.Response:
    body = await read_json(request, {"refresh_token": TOKEN})
    grant = await _service(request).refresh(refresh_token=body["refresh_token"], caller=_caller(request))
    return web.json_response(grant.public())


@routes.post("/api/auth/logout")
async def logout(request: web.Request) -> web.Response:
    await read_json(request, {})
    principal = await require_user(request)
    await _service(request).logout(principal)
    announce_sessions_ended(request, principal.user.id, principal.session_id)
    return web.Response(status=204)


@routes.post("/api/auth/password-reset")
async def request_reset(request: web.Request) -> web.Response:
    body = await read_json(request, {"email": EMAIL})
    await _service(request).request_password_reset(email=body["email"], caller=_caller(request))
    return _accepted()


@routes.post("/api/auth/password-reset/confirm")
async def confirm_reset(request: web.Request) -> web.Response:
    body = await read_json(request, {"token": TOKEN, "password": PASSWORD})
    user = await _service(request).reset_password(
        token=body["token"], password=body["password"], caller=_caller(request)
    )
    announce_sessions_ended(request, user.id)
    return web.json_response({"status": "password_changed", "user": user.public()})


@routes.get("/api/me")
async def me(request: web.Request) -> web.Response:
    principal = await require_user(request)
    return web.json_response(principal.user.public())


@routes.patch("/api/me")
async def update_me(request: web.Request) -> web.Response:
    principal = await require_user(request)
    body = await read_json(
        request,
        {
            "display_name": Field(str, required=False, max_length=100, min_length=1),
            "phone": Field(str, required=False, nullable=True, max_length=32),
            "username": Field(str, required=False, nullable=True, max_length=64, min_length=1),
            "email_discoverable": Field(bool, required=False),
            "language": LANGUAGE,
        },
    )
    phone = body.get("phone")
    if phone is not None and not all(c.isdigit() or c in "+-() ." for c in phone):
        raise ValidationError("{field} may hold digits, spaces and + - ( ) . only", field="phone")
    user = await _service(request).update_profile(principal, body)
    return web.json_response(user.public())


@routes.get("/api/me/sessions")
async def my_sessions(request: web.Request) -> web.Response:
    principal = await require_user(request)
    limit = page_limit(request)
    cursor = decode_cursor(request, lambda v: (float(v[0]), str(v[1])))
    sessions = await _service(request).sessions(principal, cursor=cursor, limit=limit + 1)
    page, more = sessions[:limit], len(sessions) > limit
    return web.json_response(sessions_page(page, more, principal.session_id))


def sessions_page(page: list[Session], more: bool, current: str) -> dict[str, Any]:
    """A page of sessions as the API answers it; `current` is the session of the request."""
    return {
        "sessions": [
            {
                "id": s.id,
                "device": describe_device(s.user_agent),
                "user_agent": s.user_agent,
                "ip": s.ip,
                "created_at": s.created_at,
                "last_seen_at": s.last_seen_at,
                "current": s.id == current,
            }
            for s in page
        ],
        "next": encode_cursor([page[-1].last_seen_at, page[-1].id]) if more else None,
    }


@routes.delete("/api/me/sessions/{session_id}")
async def end_session(request: web.Request) -> web.Response:
    principal = await require_user(request)
    session_id = request.match_info["session_id"][:64]
    await _service(request).end_session(principal, session_id)
    announce_sessions_ended(request, principal.user.id, session_id)
    return web.Response(status=204)


# -- administration ---------------------------------------------------------------------------------


@routes.get("/api/admin/users")
async def admin_users(request: web.Request) -> web.Response:
    await require_admin(request)
    limit = page_limit(request)
    after = decode_cursor(request, lambda v: str(v[0])[:64])
    search = request.query.get("q", "").strip()
    if len(search) > MAX_SEARCH:
        raise ValidationError(
            "the search text is longer than {limit} characters", field="q", code="too_long", limit=MAX_SEARCH
        )
    if search:
        found = await _admin(request).search(search, after=after, limit=limit)
        nxt = encode_cursor([found.next_after]) if found.next_after else None
        return web.json_response({"users": [u.public() for u in found.users], "next": nxt})
    users = await _service(request).list_users(after=after, limit=limit + 1)
    page, more = users[:limit], len(users) > limit
    return web.json_response(
        {"users": [u.public() for u in page], "next": encode_cursor([page[-1].id]) if more else None}
    )


@routes.post("/api/admin/users/{user_id}/role")
async def admin_set_role(request: web.Request) -> web.Response:
    await require_admin(request)
    body = await read_json(request, {"role": Field(str, choices=ROLES)})
    user = await _service(request).set_role(request.match_info["user_id"][:64], body["role"])
    return web.json_response(user.public())


@routes.post("/api/admin/users/{user_id}/suspend")
async def admin_suspend(request: web.Request) -> web.Response:
    await require_admin(request)
    await read_json(request, {})
    user = await set_suspended_everywhere(
        _service(request), request.app[broker_key], request.match_info["user_id"][:64], True
    )
    return web.json_response(user.public())


@routes.post("/api/admin/users/{user_id}/unsuspend")
async def admin_unsuspend(request: web.Request) -> web.Response:
    await require_admin(request)
    await read_json(request, {})
    user = await set_suspended_everywhere(
        _service(request), request.app[broker_key], request.match_info["user_id"][:64], False
    )
    return web.json_response(user.public())


def _user_id(request: web.Request) -> str:
    return request.match_info["user_id"][:64]


@routes.get("/api/admin/users/{user_id}/sessions")
async def admin_user_sessions(request: web.Request) -> web.Response:
    principal = await require_admin(request)
    limit = page_limit(request)
    cursor = decode_cursor(request, lambda v: (float(v[0]), str(v[1])[:64]))
    admin = _admin(request)
    sessions = await admin.sessions(_user_id(request), cursor=cursor, limit=limit + 1)
    return web.json_response(sessions_page(sessions[:limit], len(sessions) > limit, principal.session_id))


@routes.delete("/api/admin/users/{user_id}/sessions/{session_id}")
async def admin_end_session(request: web.Request) -> web.Response:
    await require_admin(request)
    user_id, session_id = _user_id(request), request.match_info["session_id"][:64]
    await _admin(request).end_session(user_id, session_id)
    announce_sessions_ended(request, user_id, session_id)
    return web.Response(status=204)


@routes.delete("/api/admin/users/{user_id}/sessions")
async def admin_end_sessions(request: web.Request) -> web.Response:
    principal = await require_admin(request)
    user_id = _user_id(request)
    # An admin ending their own account's sessions stays signed in here.
    keep = principal.session_id if user_id == principal.user.id else None
    for session_id in await _admin(request).end_sessions(user_id, keep=keep):
        announce_sessions_ended(request, user_id, session_id)
    return web.Response(status=204)


def describe_device(agent: str | None) -> str:
    """A short human label for a user agent ("Firefox on Linux"); the full string is returned beside it."""
    if not agent:
        return "Unknown device"
    browsers = (
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("python", "Python client"),
    )
    systems = (
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    )
    browser = next((name for marker, name in browsers if marker in agent), None)
    system = next((name for marker, name in systems if marker in agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or agent[:40]
