"""The pages the e-mail links land on: they do what the link says and tell the person what happened."""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qsl

from aiohttp import web

from server.auth.routes import _caller, _service, announce_sessions_ended
from server.errors import ApiError
from server.web.validation import read_body

routes = web.RouteTableDef()
MAX_FORM_BYTES = 8192


def page(title: str, body_html: str, status: int = 200) -> web.Response:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)}</title><link rel="stylesheet" href="/static/app.css"></head>'
        f'<body><main class="page"><h1>{escape(title)}</h1>{body_html}</main></body></html>'
    )
    return web.Response(text=html, content_type="text/html", status=status, headers={"Cache-Control": "no-store"})


def _reset_form(token: str, error: str | None = None) -> str:
    problem = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return (
        f'{problem}<form method="post" action="/reset-password">'
        f'<input type="hidden" name="token" value="{escape(token)}">'
        '<label>New password <input type="password" name="password" autocomplete="new-password"'
        ' minlength="10" required></label>'
        '<label>Repeat it <input type="password" name="repeat" autocomplete="new-password" required></label>'
        '<button type="submit">Change password</button></form>'
    )


@routes.get("/verify-email")
async def verify_email_page(request: web.Request) -> web.Response:
    token = request.query.get("token", "")[:200]
    if not token:
        return page(
            "This link is incomplete", "<p>The link has no token. Open the whole link from the e-mail.</p>", status=400
        )
    try:
        user = await _service(request).verify_email(token=token, caller=_caller(request))
    except ApiError as exc:
        return page(
            "This link does not work",
            f'<p>{escape(exc.message)}.</p><p><a href="/#/login">Sign in</a> to ask for a new one.</p>',
            status=exc.status,
        )
    return page(
        "Your e-mail address is confirmed",
        f'<p>Thank you, {escape(user.display_name)}. You can now <a href="/#/login">sign in</a>.</p>',
    )


@routes.get("/reset-password")
async def reset_password_page(request: web.Request) -> web.Response:
    token = request.query.get("token", "")[:200]
    if not token:
        return page(
            "This link is incomplete", "<p>The link has no token. Open the whole link from the e-mail.</p>", status=400
        )
    return page("Choose a new password", _reset_form(token))


@routes.post("/reset-password")
async def reset_password_submit(request: web.Request) -> web.Response:
    try:
        raw = await read_body(request, MAX_FORM_BYTES)
    except ApiError:
        return page("This form is too large", "<p>Go back and try again.</p>", status=413)
    form = dict(parse_qsl(raw.decode("utf-8", "replace")))
    token = form.get("token", "")[:200]
    password = form.get("password", "")[:1024]
    if form.get("repeat", "")[:1024] != password:
        return page("Choose a new password", _reset_form(token, "The two passwords differ."), status=400)
    try:
        user = await _service(request).reset_password(token=token, password=password, caller=_caller(request))
    except ApiError as exc:
        if exc.field == "password":
            return page("Choose a new password", _reset_form(token, exc.message), status=exc.status)
        return page(
            "This link does not work",
            f'<p>{escape(exc.message)}.</p><p><a href="/#/forgot">Ask for a new link</a>.</p>',
            status=exc.status,
        )
    announce_sessions_ended(request, user.id)
    return page(
        "Your password is changed",
        "<p>Every device that was signed in has been signed out. "
        '<a href="/#/login">Sign in</a> with the new password.</p>',
    )
