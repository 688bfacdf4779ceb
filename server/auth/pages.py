"""The pages the e-mail links land on: they do what the link says and tell the person what happened.

They look like the web app (its stylesheet, header and cards) and link only to its screens (`/#/signin`,
`/#/forgot`, `/`). Every text they show is in server/auth/texts.py's PAGES, one table per page and language: the
language of the account the link was made for, else the browser's (Accept-Language).
"""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qsl

from aiohttp import web

from server.auth.routes import _caller, _service, announce_sessions_ended
from server.auth.texts import PAGES, PROBLEMS
from server.errors import ApiError
from server.keys import settings_key
from server.texts.language import LANGUAGES, from_accept_language
from server.web.validation import read_body

routes = web.RouteTableDef()
MAX_FORM_BYTES = 8192

# The web app's screens these pages send people to (pwa/js/routes.js).
SIGN_IN = "/#/signin"
FORGOT = "/#/forgot"
HOME = "/"

# Every text of these pages, by language and page (server/auth/texts.py); TEXTS is the English one.
TEXTS = PAGES["en"]


class Page:
    """The texts of the pages in one language."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else "en"
        self.texts = PAGES[self.language]

    def text(self, page: str, key: str, **params: str | int) -> str:
        """A text, HTML-escaped, with its placeholders filled (also escaped)."""
        escaped = {name: escape(str(value)) for name, value in params.items()}
        return escape(self.texts[page][key]).format(**escaped)

    def title(self, page: str) -> str:
        return self.texts[page]["title"]

    def problem(self, exc: ApiError, **params: str | int) -> str:
        """What went wrong, as a sentence: the service's message in English, else its code's translation."""
        problems = PROBLEMS[self.language]
        if not problems:
            return _sentence(exc.message)
        return problems.get(exc.code, problems["other"]).format(**params)

    def respond(self, title: str, body_html: str, status: int = 200) -> web.Response:
        common = self.texts["common"]
        html = (
            f'<!doctype html><html lang="{self.language}"><head><meta charset="utf-8">'
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
        headers = {"Cache-Control": "no-store", "Content-Language": self.language, "Vary": "Accept-Language"}
        return web.Response(text=html, content_type="text/html", status=status, headers=headers)


async def _page_for(request: web.Request, token: str, purpose: str) -> Page:
    """The language of the account the link's token was made for, else the browser's."""
    language = await _service(request).token_language(token, purpose) if token else None
    return Page(language or from_accept_language(request.headers.get("Accept-Language")))


def _sentence(message: str) -> str:
    """An error for a page: a capital first letter and a full stop (the API keeps a field's name as spelt)."""
    message = message.strip().rstrip(".")
    return f"{message[:1].upper()}{message[1:]}."


def _link(href: str, label: str, primary: bool = True) -> str:
    kind = "button primary" if primary else "button"
    return f'<p class="actions"><a class="{kind}" href="{href}">{label}</a></p>'


def _incomplete(page: Page) -> web.Response:
    body = f"<p>{page.text('incomplete', 'body')}</p>{_link(HOME, page.text('common', 'home'), primary=False)}"
    return page.respond(page.title("incomplete"), body, status=400)


def _reset_form(request: web.Request, page: Page, token: str, error: str | None = None) -> str:
    minimum = request.app[settings_key].password_min_length
    problem = f'<div class="form-error" role="alert"><p>{escape(error)}</p></div>' if error else ""
    invalid = ' aria-invalid="true"' if error else ""
    return (
        f'<form class="stack" method="post" action="/reset-password">{problem}'
        f'<input type="hidden" name="token" value="{escape(token)}">'
        f'<div class="field"><label for="password">{page.text("reset_form", "password")}</label>'
        f'<p class="field-hint" id="password-hint">{page.text("reset_form", "password_hint", min=minimum)}</p>'
        f'<input id="password" type="password" name="password" autocomplete="new-password" minlength="{minimum}"'
        f' aria-describedby="password-hint" required{invalid}></div>'
        f'<div class="field"><label for="repeat">{page.text("reset_form", "repeat")}</label>'
        '<input id="repeat" type="password" name="repeat" autocomplete="new-password" required></div>'
        f'<div class="actions"><button class="button primary" type="submit">{page.text("reset_form", "submit")}'
        "</button></div></form>"
    )


@routes.get("/verify-email")
async def verify_email_page(request: web.Request) -> web.Response:
    token = request.query.get("token", "")[:200]
    page = await _page_for(request, token, "verify")
    if not token:
        return _incomplete(page)
    try:
        user = await _service(request).verify_email(token=token, caller=_caller(request))
    except ApiError as exc:
        body = (
            f"<p>{page.text('verify_failed', 'body', problem=page.problem(exc))}</p>"
            f"<p>{page.text('verify_failed', 'hint')}</p>{_link(SIGN_IN, page.text('verify_failed', 'action'))}"
        )
        return page.respond(page.title("verify_failed"), body, status=exc.status)
    page = Page(user.language)
    body = f"<p>{page.text('verified', 'body', name=user.display_name)}</p>"
    return page.respond(page.title("verified"), body + _link(SIGN_IN, page.text("verified", "action")))


@routes.get("/reset-password")
async def reset_password_page(request: web.Request) -> web.Response:
    token = request.query.get("token", "")[:200]
    page = await _page_for(request, token, "reset")
    if not token:
        return _incomplete(page)
    return page.respond(page.title("reset_form"), _reset_form(request, page, token))


@routes.post("/reset-password")
async def reset_password_submit(request: web.Request) -> web.Response:
    try:
        raw = await read_body(request, MAX_FORM_BYTES)
    except ApiError:
        page = Page(from_accept_language(request.headers.get("Accept-Language")))
        return page.respond(page.title("too_large"), f"<p>{page.text('too_large', 'body')}</p>", status=413)
    form = dict(parse_qsl(raw.decode("utf-8", "replace")))
    token = form.get("token", "")[:200]
    password = form.get("password", "")[:1024]
    page = await _page_for(request, token, "reset")
    title = page.title("reset_form")
    if form.get("repeat", "")[:1024] != password:
        differ = page.texts["reset_form"]["differ"]
        return page.respond(title, _reset_form(request, page, token, differ), status=400)
    minimum = request.app[settings_key].password_min_length
    try:
        user = await _service(request).reset_password(token=token, password=password, caller=_caller(request))
    except ApiError as exc:
        if exc.field == "password":
            error = page.problem(exc, min=minimum)
            return page.respond(title, _reset_form(request, page, token, error), status=exc.status)
        body = f"<p>{page.text('reset_failed', 'body', problem=page.problem(exc))}</p>" + _link(
            FORGOT, page.text("reset_failed", "action")
        )
        return page.respond(page.title("reset_failed"), body, status=exc.status)
    announce_sessions_ended(request, user.id)
    body = f"<p>{page.text('reset_done', 'body')}</p>{_link(SIGN_IN, page.text('reset_done', 'action'))}"
    return page.respond(page.title("reset_done"), body)
