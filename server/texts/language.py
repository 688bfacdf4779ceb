"""The languages people read the server's own texts in (e-mails, the pages e-mail links open, push texts, error
messages): an account's chosen one, else the browser's Accept-Language, else English. The web app has the same
two."""

from __future__ import annotations

LANGUAGES = ("en", "ru")
DEFAULT = "en"


def from_accept_language(header: str | None) -> str:
    """The language of LANGUAGES the browser prefers most (RFC 9110 quality values), else DEFAULT.

    `ru-RU,ru;q=0.9,en;q=0.8` is Russian; `de, en;q=0.5` is English; anything unreadable is DEFAULT."""
    best, best_q = DEFAULT, 0.0
    for part in (header or "")[:512].split(",")[:32]:
        tag, _, params = part.strip().partition(";")
        base = tag.strip().lower().split("-")[0]
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        # Equal qualities keep the order the browser listed them in.
        if base in LANGUAGES and quality > best_q:
            best, best_q = base, quality
    return best
