"""Embeds of a public channel for other sites, as ThingSpeak offers them: a chart of its fields, or one of its display
widgets, each a small page made to sit in an iframe anywhere (`frame-ancestors *`). The page says its few words in
English or Russian (Accept-Language) and draws with this site's own scripts (pwa/js/iot/embed.js, uPlot from
/static/vendor/); nothing inline. A private or unknown channel, or a widget it does not show, is a 404 alike."""

from __future__ import annotations

from html import escape

from aiohttp import web

from server.errors import NotFound
from server.iot.appkeys import channels_key, talkbacks_key
from server.iot.widgets import MAX_WIDGETS, WidgetService
from server.keys import settings_key
from server.storage.channels import Channel
from server.storage.widgets import WidgetRepository
from server.web.headers import FramablePage, content_security_policy
from server.web.params import ID, whole_number

routes = web.RouteTableDef()

CHART = f"/embed/channels/{{channel_id:{ID}}}/chart"
WIDGET = f"/embed/channels/{{channel_id:{ID}}}/widgets/{{number:{ID}}}"
MAX_RESULTS = 8000  # the read API's most
DEFAULT_RESULTS = 200
FIELDS_PATTERN = "^[1-8](,[1-8]){0,7}$"

WORDS = {
    "en": {
        "channel": "Channel {id}",
        "loading": "Loading…",
        "noscript": "This chart needs JavaScript.",
        "open": "Open the channel’s page",
        "not_found": "This channel is not public, or there is no such channel or widget.",
        "bad": "This embed’s address is not right: {problem}.",
        "bad_fields": "fields must be field numbers 1 to 8, separated by commas, each once",
        "bad_results": f"results must be a whole number from 1 to {MAX_RESULTS}",
    },
    "ru": {
        "channel": "Канал {id}",
        "loading": "Загрузка…",
        "noscript": "Для графика нужен JavaScript.",
        "open": "Открыть страницу канала",
        "not_found": "Этот канал не открыт, или такого канала или виджета нет.",
        "bad": "Адрес этой вставки неверен: {problem}.",
        "bad_fields": "fields — номера полей от 1 до 8 через запятую, каждый один раз",
        "bad_results": f"results — целое число от 1 до {MAX_RESULTS}",
    },
}


class BadEmbed(Exception):
    """A query parameter the embed cannot take; `problem` is the WORDS key that says why."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def language_of(request: web.Request) -> str:
    """en or ru: the first of the two the browser prefers (by its q values), English when it names neither."""
    best, best_q = "en", -1.0
    for index, part in enumerate(request.headers.get("Accept-Language", "").split(",")[:20]):
        tag, _, rest = part.strip().partition(";")
        base = tag.strip().lower().split("-")[0]
        q = 1.0
        if rest.strip().startswith("q="):
            try:
                q = float(rest.strip()[2:])
            except ValueError:
                q = 0.0
        q -= index * 1e-6  # equal q: the first listed wins
        if base in WORDS and q > best_q and q > 0:
            best, best_q = base, q
    return best


def _fields(raw: str | None, channel: Channel) -> list[int]:
    if raw is None or raw == "":
        named = [n for n, name in enumerate(channel.fields, start=1) if name]
        return named[:4] or [1]
    parts = raw.split(",")
    numbers = [whole_number(p, low=1, high=8) for p in parts]
    if len(parts) > 8 or any(n is None for n in numbers) or len(set(numbers)) != len(numbers):
        raise BadEmbed("bad_fields")
    return [n for n in numbers if n is not None]


def _results(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_RESULTS
    number = whole_number(raw, low=1, high=MAX_RESULTS)
    if number is None:
        raise BadEmbed("bad_results")
    return number


def _page(request: web.Request, lang: str, title: str, body: str, status: int = 200) -> FramablePage:
    html = (
        f'<!doctype html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light dark">\n'
        f"<title>{escape(title)}</title>\n"
        '<link rel="stylesheet" href="/static/app.css">\n<link rel="stylesheet" href="/static/iot.css">\n'
        '<script type="module" src="/js/iot/embed.js"></script>\n'
        f'</head>\n<body class="embed">\n{body}\n</body>\n</html>\n'
    )
    response = FramablePage(text=html, status=status, content_type="text/html", charset="utf-8")
    policy = content_security_policy(request.app[settings_key].public_url, frame_ancestors="*")
    response.headers["Content-Security-Policy"] = policy
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Vary"] = "Accept-Language"
    return response


def _problem(request: web.Request, lang: str, text: str, status: int) -> FramablePage:
    body = f'<main class="embed-main"><p class="notice error">{escape(text)}</p></main>'
    return _page(request, lang, text, body, status)


def _embed(request: web.Request, lang: str, channel: Channel, data: dict[str, str]) -> FramablePage:
    words = WORDS[lang]
    name = channel.name or words["channel"].format(id=channel.id)
    attributes = " ".join(f'data-{key}="{escape(value)}"' for key, value in data.items())
    body = (
        f'<main class="embed-main" data-channel="{channel.id}" {attributes}>\n'
        f'<h1 class="embed-title"><a href="/#/public/channel?id={channel.id}" target="_blank" '
        f'rel="noopener noreferrer" title="{escape(words["open"])}">{escape(name)}</a></h1>\n'
        f'<div class="embed-body" aria-busy="true"><p class="muted">{escape(words["loading"])}</p></div>\n'
        f'<noscript><p class="notice">{escape(words["noscript"])}</p></noscript>\n</main>'
    )
    return _page(request, lang, name, body)


async def _public_channel(request: web.Request) -> Channel:
    channel_id = whole_number(request.match_info["channel_id"])
    channel = None if channel_id is None else await request.app[channels_key].repo.get(channel_id)
    if channel is None or not channel.public:
        raise NotFound("no such public channel")
    return channel


@routes.get(CHART)
async def chart_embed(request: web.Request) -> FramablePage:
    lang = language_of(request)
    try:
        channel = await _public_channel(request)
        fields = _fields(request.query.get("fields"), channel)
        results = _results(request.query.get("results"))
    except NotFound:
        return _problem(request, lang, WORDS[lang]["not_found"], 404)
    except BadEmbed as bad:
        return _problem(request, lang, WORDS[lang]["bad"].format(problem=WORDS[lang][bad.problem]), 400)
    data = {"kind": "chart", "fields": ",".join(map(str, fields)), "results": str(results)}
    return _embed(request, lang, channel, data)


@routes.get(WIDGET)
async def widget_embed(request: web.Request) -> FramablePage:
    lang = language_of(request)
    number = whole_number(request.match_info["number"], low=1, high=MAX_WIDGETS)
    try:
        channel = await _public_channel(request)
        channels = request.app[channels_key].repo
        service = WidgetService(WidgetRepository(channels.db), channels, request.app[talkbacks_key].repo)
        _, widgets, _ = await service.shown_to(channel.id, None)  # the display widgets, as anyone sees them
        if number is None or number > len(widgets):
            raise NotFound("no such widget")
    except NotFound:
        return _problem(request, lang, WORDS[lang]["not_found"], 404)
    return _embed(request, lang, channel, {"kind": "widget", "widget": str(number)})
