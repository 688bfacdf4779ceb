"""Every error message the server writes for people reads in their language.

The messages are found in the source: each call of an ApiError class (ThingSpeak's too: the web app reads them;
devices, which send no Accept-Language, still get its English) and the string literal it is given, directly,
through a module constant, or through a parameter of the function that raises it (then every call of that function
gives one, or leaves the parameter's default). A message built at run time (an f-string, a concatenation) cannot
be translated and fails here."""

from __future__ import annotations

import ast
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from server.errors import ApiError, TooManyRequests, ValidationError
from server.texts import errors_ru_core
from server.texts.errors import AREAS, CATALOGUES, FIELDS, translate, translated

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "server"
UNTRANSLATED: set[str] = set()  # error classes whose messages stay English (none)
RETRY_SUFFIX = " (retry after {seconds} s)"


@dataclass(frozen=True)
class Site:
    where: str
    template: str | None  # None: not a literal
    given: frozenset[str]  # the placeholders' values the call passes


def _error_classes(trees: dict[Path, ast.Module]) -> set[str]:
    names = {"ApiError"}
    grew = True
    while grew:
        grew = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in names | UNTRANSLATED:
                    bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                    if bases & names:
                        names.add(node.name)
                        grew = True
    return names


def _name(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _constants(tree: ast.Module) -> dict[str, list[str]]:
    """The module's string constants, and its dicts of strings (a table of messages): name -> the strings."""
    found = {}
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        if isinstance(node, ast.AnnAssign):
            target = node.target
        value = getattr(node, "value", None)
        if not isinstance(target, ast.Name):
            continue
        if _literal(value) is not None:
            found[target.id] = [_literal(value)]
        elif isinstance(value, ast.Dict) and value.values and all(_literal(v) is not None for v in value.values):
            found[target.id] = [_literal(v) for v in value.values]
    return {name: [text for text in texts if text is not None] for name, texts in found.items()}


def _resolved(arg: ast.expr | None, constants: dict[str, list[str]]) -> list[str] | None:
    """The literal messages `arg` can be: a string, a constant, or a table's entry (`TABLE[key]`,
    `TABLE.get(key, "default")`); None for anything built at run time."""
    if _literal(arg) is not None:
        return [_literal(arg) or ""]
    if isinstance(arg, ast.Name) and arg.id in constants:
        return constants[arg.id]
    if isinstance(arg, ast.Subscript) and isinstance(arg.value, ast.Name) and arg.value.id in constants:
        return constants[arg.value.id]
    if (
        isinstance(arg, ast.Call)
        and isinstance(arg.func, ast.Attribute)
        and arg.func.attr == "get"
        and isinstance(arg.func.value, ast.Name)
        and arg.func.value.id in constants
        and len(arg.args) == 2
        and _literal(arg.args[1]) is not None
    ):
        return [*constants[arg.func.value.id], _literal(arg.args[1]) or ""]
    return None


def _parents(tree: ast.Module) -> dict[ast.AST, ast.AST]:
    return {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}


def _enclosing_function(
    node: ast.AST, parents: dict[ast.AST, ast.AST]
) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return node
    return None


def _message_argument(call: ast.Call, index: int, keyword: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    return call.args[index] if len(call.args) > index else None


def _default(function: ast.FunctionDef | ast.AsyncFunctionDef, parameter: str) -> str | None:
    """The literal default of a function's positional `parameter`, if it has one."""
    positional = [a.arg for a in function.args.args]
    with_defaults = positional[len(positional) - len(function.args.defaults) :]
    defaults = dict(zip(with_defaults, function.args.defaults, strict=True))
    return _literal(defaults.get(parameter))


def _given(call: ast.Call) -> frozenset[str]:
    return frozenset(kw.arg for kw in call.keywords if kw.arg is not None)


def sites() -> Iterator[Site]:
    trees = {path: ast.parse(path.read_text(), str(path)) for path in SERVER.rglob("*.py")}
    classes = _error_classes(trees)
    # (function, parameter index, name, its default, values it adds)
    helpers: list[tuple[str, int, str, str | None, frozenset[str]]] = []
    for path, tree in trees.items():
        constants, parents = _constants(tree), _parents(tree)
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            kind = _name(call.func)
            if kind not in classes:
                continue
            where = f"{path.relative_to(ROOT)}:{call.lineno}"
            retry = kind == "TooManyRequests"
            arg = _message_argument(call, 1 if retry else 0, "message")
            given = _given(call) | ({"seconds"} if retry else set())
            if arg is None:
                if retry:
                    yield Site(where, "too many attempts; try again later" + RETRY_SUFFIX, given)
                continue
            suffix = RETRY_SUFFIX if retry else ""
            if (texts := _resolved(arg, constants)) is not None:
                yield from (Site(where, text + suffix, given) for text in texts)
            elif isinstance(arg, ast.Attribute) and arg.attr == "template":
                continue  # an error's template passed on, with its params: checked where it was written
            elif isinstance(arg, ast.Name) and (function := _enclosing_function(call, parents)) is not None:
                parameters = [a.arg for a in function.args.args if a.arg not in ("self", "cls")]
                if arg.id not in parameters:
                    yield Site(where, None, given)
                    continue
                default = _default(function, arg.id)
                helpers.append((function.name, parameters.index(arg.id), arg.id, default, frozenset(given)))
            else:
                yield Site(where, None, given)
    for helper, index, parameter, default, given in helpers:
        for path, tree in trees.items():
            constants = _constants(tree)
            for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
                if _name(call.func) != helper:
                    continue
                arg = _message_argument(call, index, parameter)
                where = f"{path.relative_to(ROOT)}:{call.lineno} (through {helper})"
                if arg is None and default is not None:
                    yield Site(where, default, given | _given(call))
                elif (texts := _resolved(arg, constants)) is not None:
                    yield from (Site(where, text, given | _given(call)) for text in texts)
                else:
                    yield Site(where, None, given)


SITES = list(sites())
TEMPLATES = {site.template for site in SITES if site.template is not None}


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_message_is_a_template_not_a_built_string() -> None:
    built = [site.where for site in SITES if site.template is None]
    assert not built, "messages built at run time cannot be translated; pass a literal and its values:\n" + "\n".join(
        built
    )
    assert len(TEMPLATES) > 100  # the scan found the server's messages


def test_every_placeholder_has_its_value() -> None:
    missing = [
        f"{site.where}: {sorted(_placeholders(site.template) - site.given - {'field'})}"
        for site in SITES
        if site.template is not None and _placeholders(site.template) - site.given - {"field"}
    ]
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("language", sorted(CATALOGUES))
def test_every_message_is_translated_with_the_same_placeholders(language: str) -> None:
    catalogue = CATALOGUES[language]
    lacking = sorted(TEMPLATES - set(catalogue))
    assert not lacking, f"{len(lacking)} messages have no {language} translation:\n" + "\n".join(lacking)
    differing = [t for t in TEMPLATES if _placeholders(catalogue[t]) != _placeholders(t)]
    assert not differing, "\n".join(differing)
    # Translations read as sentences (a field's name aside), and none is left over from a message now gone.
    lower = [text for text in catalogue.values() if text[:1].islower()]
    assert not lower, "\n".join(lower)
    stale = sorted(set(catalogue) - TEMPLATES - set(errors_ru_core.HTTP))
    assert not stale, "no longer raised:\n" + "\n".join(stale)


@pytest.mark.parametrize("table", ["MESSAGES", "FIELDS"])
def test_each_text_is_translated_in_one_place(table: str) -> None:
    """The catalogues are merged into one table: a text in two areas would have one of its translations lost."""
    where: dict[str, list[str]] = {}
    for area in AREAS:
        for text in getattr(area, table):
            where.setdefault(text, []).append(area.__name__)
    repeated = {text: areas for text, areas in where.items() if len(areas) > 1}
    assert not repeated, repeated


def test_a_message_in_russian_with_its_field_named() -> None:
    error = ValidationError("{field} is longer than {limit} characters", field="display_name", limit=100)
    assert error.message == "display_name is longer than 100 characters"
    text, language = translated(error, "ru")
    assert language == "ru"
    assert FIELDS["ru"]["display_name"] in text
    assert "100" in text
    assert translated(error, "en") == (error.message, "en")


def test_retry_after_is_part_of_the_message() -> None:
    error = TooManyRequests(2.5)
    assert error.message == "Too many attempts; try again later (retry after 3 s)"
    text, language = translated(error, "ru")
    assert language == "ru"
    assert "3" in text


def test_an_unknown_message_stays_english() -> None:
    error = ApiError("a message nobody translated")
    assert translated(error, "ru") == ("A message nobody translated", "en")
    assert translate("Gone", {}, "ru", english="Gone") == ("Gone", "en")


async def test_http_errors_follow_accept_language_and_lang(client: TestClient) -> None:
    body = {"email": "not an address", "password": "long enough password", "display_name": "Ann"}
    english = await client.post("/api/auth/register", json=body)
    assert english.status == 400
    assert english.headers["Content-Language"] == "en"
    said = (await english.json())["error"]
    assert said["message"] == "email is not an e-mail address"
    assert said["field"] == "email"

    russian = await client.post("/api/auth/register", json=body, headers={"Accept-Language": "ru-RU,ru;q=0.9"})
    assert russian.status == 400
    assert russian.headers["Content-Language"] == "ru"
    told = (await russian.json())["error"]
    assert told["code"] == said["code"]  # codes and fields stay as programs read them
    assert told["field"] == "email"
    assert told["message"] == CATALOGUES["ru"]["{field} is not an e-mail address"].format(field=FIELDS["ru"]["email"])

    # The app's own choice (?lang=) wins over the browser's.
    chosen = await client.post("/api/auth/register?lang=en", json=body, headers={"Accept-Language": "ru"})
    assert (await chosen.json())["error"]["message"] == said["message"]
    missing = await client.get("/api/no-such-thing", headers={"Accept-Language": "ru"})
    assert missing.status == 404
    assert missing.headers["Content-Language"] == "ru"


async def test_websocket_errors_in_the_language_the_app_asked_for(client: TestClient) -> None:
    async with client.ws_connect("/ws?lang=ru") as ws:
        await ws.send_str("{not json")
        said = (await ws.receive_json(timeout=5))["error"]
        assert said["code"] == "malformed_json"
        assert said["message"] == CATALOGUES["ru"]["the frame is not valid JSON"]
        await ws.send_json({"type": "sync", "id": 1, "after_seq": 0})
        said = (await ws.receive_json(timeout=5))["error"]
        assert said["message"] == CATALOGUES["ru"]["send an auth frame first"]
    async with client.ws_connect("/ws", headers={"Accept-Language": "en"}) as ws:
        await ws.send_str("{not json")
        assert (await ws.receive_json(timeout=5))["error"]["message"] == "The frame is not valid JSON"


async def test_the_language_command_changes_a_sockets_messages(client: TestClient) -> None:
    async with client.ws_connect("/ws?lang=ru") as ws:
        await ws.send_json({"type": "language", "id": "l1", "language": "en"})
        assert (await ws.receive_json(timeout=5)) == {"type": "result", "id": "l1", "result": {"language": "en"}}
        await ws.send_str("{not json")
        assert (await ws.receive_json(timeout=5))["error"]["message"] == "The frame is not valid JSON"
        await ws.send_json({"type": "language", "id": "l2", "language": "de"})
        refused = (await ws.receive_json(timeout=5))["error"]
        assert refused["field"] == "language"
        assert refused["message"] == "language must be one of en, ru"
