"""Error messages in the language of the person who reads them.

An `ApiError` keeps its message's template and the values of its placeholders (server/errors.py); here the
template is looked up in the catalogue of the reader's language and filled in again. The catalogues are one module
per language and area (errors_ru_*.py): English template -> translation, with the same placeholders. A field name
in `{field}` is shown as the catalogue's FIELDS call it (`display_name` -> «имя»), or as it is. What a catalogue
lacks stays English: tests/web/test_error_texts.py makes sure no message of ours is lacking."""

from __future__ import annotations

from collections.abc import Mapping

from server.errors import ApiError
from server.texts import errors_ru_auth, errors_ru_calls, errors_ru_chat, errors_ru_core, errors_ru_iot
from server.texts.language import DEFAULT, LANGUAGES, from_accept_language

AREAS = (errors_ru_core, errors_ru_auth, errors_ru_chat, errors_ru_iot, errors_ru_calls)


def _merged(*tables: Mapping[str, str]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for table in tables:
        merged.update(table)
    return merged


CATALOGUES: dict[str, dict[str, str]] = {"ru": _merged(*(area.MESSAGES for area in AREAS))}
FIELDS: dict[str, dict[str, str]] = {"ru": _merged(*(area.FIELDS for area in AREAS))}


def language_of(query: str | None, accept_language: str | None) -> str:
    """The language a request is answered in: `?lang=` when it names one of LANGUAGES (the web app sends its own
    choice), else the one Accept-Language prefers."""
    if query in LANGUAGES:
        return query
    return from_accept_language(accept_language)


def translate(template: str, params: Mapping[str, object], language: str, *, english: str) -> tuple[str, str]:
    """The message and the language it is in: `template` filled with `params` in `language` when its catalogue has
    it, else `english` (the message as the error wrote it) in English."""
    if language == DEFAULT or language not in CATALOGUES:
        return english, DEFAULT
    translation = CATALOGUES[language].get(template)
    if translation is None:
        return english, DEFAULT
    values = dict(params)
    field = values.get("field")
    if isinstance(field, str):
        values["field"] = FIELDS[language].get(field, field)
    return (translation.format_map(values) if values else translation), language


def translated(error: ApiError, language: str) -> tuple[str, str]:
    """`error`'s message in `language` (else in English), and the language it is in."""
    return translate(error.template, error.params, language, english=error.message)
