"""The pages the e-mail links land on: they do what the link says and tell the person what happened.

They look like the web app (its stylesheet, header and cards) and link only to its screens (`/#/signin`,
`/#/forgot`, `/`). Every text they show is in TEXTS below, one entry per page, ready for translation.
"""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qsl

from aiohttp import web

from server.auth.routes import _caller, _service, announce_sessions_ended
from server.errors import ApiError
from server.keys import settings_key
from server.web.validation import read_body

routes = web.RouteTableDef()
MAX_FORM_BYTES = 8192

# The web app's screens these pages send people to (pwa/js/routes.js).
SIGN_IN = "/#/signin"
FORGOT = "/#/forgot"
HOME = "/"

# Every text of these pages, by page. `{name}` and `{problem}` are filled in (escaped).
TEXTS: dict[str, dict[str, str]] = {
    "common": {
        "app": "Realtime",
        "home": "Open the app",
    },
    "incomplete": {
        "title": "This link is incomplete",
        "body": "The link has no token. Open the whole link from the e-mail.",
    },
    "verified": {
        "title": "Your e-mail address is confirmed",
        "body": "Thank you, {name}. Your account is ready.",
        "action": "Sign in",
    },
    "verify_failed": {
        "title": "This link does not work",
        "body": "{problem}",
        "hint": "Sign in to have a new link sent to you.",
        "action": "Sign in",
    },
    "reset_form": {
        "title": "Choose a new password",
        "password": "New password",
        "password_hint": "At least {min} characters.",
        "repeat": "Repeat it",
        "submit": "Change password",
        "differ": "The two passwords differ.",
    },
    "reset_failed": {
        "title": "This link does not work",
        "body": "{problem}",
        "action": "Ask for a new link",
    },
    "reset_done": {
        "title": "Your password is changed",
        "body": "Every device that was signed in has been signed out.",
        "action": "Sign in with the new password",
    },
    "too_large": {
        "title": "This form is too large",
        "body": "Go back and try again.",
    },
}


def _text(page: str, key: str, **params: str | int) -> str:
    """A text of TEXTS, HTML-escaped, with its placeholders filled (also escaped)."""
    return escape(TEXTS[page][key]).format(**{name: escape(str(value)) for name, value in params.items()})


def _sentence(message: str) -> str:
    """An error for a page: a capital first letter and a full stop (the API keeps a field's name as spelt)."""
    message = message.strip().rstrip(".")
    return f"{message[:1].upper()}{message[1:]}."


def page(title: str, body_html: str, status: int = 200) -> web.Response:
    common = TEXTS["common"]
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        f"<title>{escape(title)} · {escape(common['app'])}</title>"
        '<link rel="icon" href="/static/icons/favicon.svg" type="image/svg+xml">'
        '<link rel="stylesheet" href="/static/app.css"></head><body>'
        f'<header class="app-header"><a class="brand" href="{HOME}">'
        '<img src="/static/icons/favicon.svg" alt="" width="28" height="28">'
        f"<span>{escape(common['app'])}</span></a></header>"
        '<main id="main" class="app-main"><section class="screen narrow server-page" aria-labelledby="title">'
        f'<h1 id="title">{escape(title)}</h1><div class="card">{body_html}</div>'
        "</section></main></body></html>"
    )
    return web.Response(text=html, content_type="text/html", status=status, headers={"Cache-Control": "no-store"})


def _link(href: str, label: str, primary: bool = True) -> str:
    kind = "button primary" if primary else "button"
    return f'<p class="actions"><a class="{kind}" href="{href}">{label}</a></p>'


def _incomplete() -> web.Response:
    texts = TEXTS["incomplete"]
    body = f"<p>{_text('incomplete', 'body')}</p>{_link(HOME, _text('common', 'home'), primary=False)}"
    return page(texts["title"], body, status=400)


def _reset_form(request: web.Request, token: str, error: str | None = None) -> str:
    minimum = request.app[settings_key].password_min_length
    problem = f'<div class="form-error" role="alert"><p>{escape(error)}</p></div>' if error else ""
    invalid = ' aria-invalid="true"' if error else ""
    return (
        f'<form class="stack" method="post" action="/reset-password">{problem}'
        f'<input type="hidden" name="token" value="{escape(token)}">'
        f'<div class="field"><label for="password">{_text("reset_form", "password")}</label>'
        f'<p class="field-hint" id="password-hint">{_text("reset_form", "password_hint", min=minimum)}</p>'
        f'<input id="password" type="password" name="password" autocomplete="new-password" minlength="{minimum}"'
        f' aria-describedby="password-hint" required{invalid}></div>'
        f'<div class="field"><label for="repeat">{_text("reset_form", "repeat")}</label>'
        '<input id="repeat" type="password" name="repeat" autocomplete="new-password" required></div>'
        f'<div class="actions"><button class="button primary" type="submit">{_text("reset_form", "submit")}'
        "</button></div></form>"
    )


@routes.get("/verify-email")
async def verify_email_page(request: web.Request) -> web.Response:
    token = request.query.get("token", "")[:200]
    if not token:
        return _incomplete()
    try:
        user = await _service(request).verify_email(token=token, caller=_caller(request))
    except ApiError as exc:
        body = (
            f"<p>{_text('verify_failed', 'body', problem=_sentence(exc.message))}</p>"
            f"<p>{_text('verify_failed', 'hint')}</p>{_link(SIGN_IN, _text('verify_failed', 'action'))}"
        )
        return page(TEXTS["verify_failed"]["title"], body, status=exc.status)
    body = f"<p>{_text('verified', 'body', name=user.display_name)}</p>{_link(SIGN_IN, _text('verified', 'action'))}"
    return page(TEXTS["verified"]["title"], body)


@routes.get("/reset-password")
async def reset_password_page(request: web.Request) -> web.Response:
    token = request.query.get("token", "")[:200]
    if not token:
        return _incomplete()
    return page(TEXTS["reset_form"]["title"], _reset_form(request, token))


@routes.post("/reset-password")
async def reset_password_submit(request: web.Request) -> web.Response:
    try:
        raw = await read_body(request, MAX_FORM_BYTES)
    except ApiError:
        body = f"<p>{_text('too_large', 'body')}</p>"
        return page(TEXTS["too_large"]["title"], body, status=413)
    form = dict(parse_qsl(raw.decode("utf-8", "replace")))
    token = form.get("token", "")[:200]
    password = form.get("password", "")[:1024]
    title = TEXTS["reset_form"]["title"]
    if form.get("repeat", "")[:1024] != password:
        return page(title, _reset_form(request, token, TEXTS["reset_form"]["differ"]), status=400)
    try:
        user = await _service(request).reset_password(token=token, password=password, caller=_caller(request))
    except ApiError as exc:
        if exc.field == "password":
            return page(title, _reset_form(request, token, _sentence(exc.message)), status=exc.status)
        body = f"<p>{_text('reset_failed', 'body', problem=_sentence(exc.message))}</p>" + _link(
            FORGOT, _text("reset_failed", "action")
        )
        return page(TEXTS["reset_failed"]["title"], body, status=exc.status)
    announce_sessions_ended(request, user.id)
    body = f"<p>{_text('reset_done', 'body')}</p>{_link(SIGN_IN, _text('reset_done', 'action'))}"
    return page(TEXTS["reset_done"]["title"], body)
