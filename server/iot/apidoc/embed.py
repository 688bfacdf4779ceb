"""Embeds in the OpenAPI document: server/iot/embed.py, pages of a public channel for other sites' iframes."""

from __future__ import annotations

from server.iot.embed import DEFAULT_RESULTS, FIELDS_PATTERN, MAX_RESULTS
from server.iot.widgets import MAX_WIDGETS
from server.web.apidoc.kit import JSON, ApiBook, digits, json_content, query, ref, reply

SCHEMAS: dict[str, JSON] = {}
_HTML: JSON = {"text/html": {"schema": {"type": "string", "description": "an HTML page (English or Russian)"}}}
_ABOUT = (
    "A page made to be shown in an iframe on any site (`Content-Security-Policy: frame-ancestors *`, no "
    "X-Frame-Options), in English or Russian by `Accept-Language`. It loads this site's scripts only and reads the "
    "channel through the public read API, refreshing itself."
)
_NOT_FOUND = (
    "No such channel, or it is not public (answered alike), or no such widget: an HTML page that says so (JSON when "
    "the path itself is not one of these routes)."
)


def paths() -> dict[str, dict[str, JSON]]:
    book = ApiBook(path_params={"channel_id": digits(18)}, error_content={**_HTML, **json_content(ref("Error"))})
    book.op(
        "GET",
        "/embed/channels/{channel_id}/chart",
        tag="iot",
        summary="An embeddable chart of a public channel",
        description=_ABOUT,
        auth="none",
        params=[
            query(
                "fields",
                {"type": "string", "pattern": FIELDS_PATTERN},
                "the fields on the chart, e.g. `1,3` (default: the channel's named fields, at most four)",
            ),
            query(
                "results",
                {"type": "integer", "minimum": 1, "maximum": MAX_RESULTS, "default": DEFAULT_RESULTS},
                "how many of the latest points it shows",
            ),
        ],
        ok={200: reply("The page.", content=_HTML)},
        errors={400: "`fields` or `results` is not valid: an HTML page that says which.", 404: _NOT_FOUND},
    )
    book.op(
        "GET",
        "/embed/channels/{channel_id}/widgets/{number}",
        tag="iot",
        summary="One display widget of a public channel, embeddable",
        description=_ABOUT + " `number` counts the display widgets anyone sees on the channel's public page, from 1.",
        auth="none",
        path_params={"number": {"type": "integer", "minimum": 1, "maximum": MAX_WIDGETS}},
        ok={200: reply("The page.", content=_HTML)},
        errors={404: _NOT_FOUND},
    )
    return book.paths
