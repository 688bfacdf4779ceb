"""Every text the web app shows comes from a catalogue: no words in the code, and every key in both languages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from tests.web.js_tokens import Token, tokenize

ROOT = Path(__file__).resolve().parents[2]
PWA = ROOT / "pwa"
# Words that are the same in every language: the app's name and a few symbols' names.
ALLOWED = {"Realtime", "Samsung Internet", "i"}  # "i": the info button's glyph, hidden from screen readers
COMPARISONS = {"===", "!==", "==", "!=", "in"}
# Object keys and attributes whose value people read or hear.
TEXT_KEYS = {
    "text", "title", "label", "aria-label", "placeholder", "alt", "hint", "submitLabel", "busyLabel",
    "aria-description", "aria-roledescription", "aria-valuetext", "body",
}  # fmt: skip
TEXT_PROPS = {"textContent", "innerText", "title", "placeholder", "label", "ariaLabel", "alt"}
# Calls whose first argument is a text shown as it is.
TEXT_CALLS = {
    "screen", "wideScreen", "card", "setFlash", "showFormError", "setError", "alert", "confirm", "prompt",
    "Notification", "showNotification", "announce", "say", "toast", "notice", "button", "callButton",
    "menuAction", "hidden",
}  # fmt: skip
PLURAL = {"zero", "one", "two", "few", "many", "other"}
KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
CAPITALISED = re.compile(r"^\W*[A-ZА-ЯЁ][a-zа-яё]")
SENTENCE = re.compile(r"^[A-ZА-ЯЁ][a-zа-яё’'-]*,?\s+[\w“\"(]")


def sources() -> Iterator[Path]:
    yield PWA / "app.js"
    yield PWA / "sw.js"
    for path in sorted((PWA / "js").rglob("*.js")):
        if not re.fullmatch(r"strings(-[\w-]+)?\.js", path.name):
            yield path


def has_words(text: str) -> bool:
    return text not in ALLOWED and any(ch.isalpha() for ch in text) and not KEY.match(text)


def expression(tokens: list[Token], start: int) -> Iterator[Token]:
    """The literals at the top level of the expression that starts at `start` (not inside calls or objects)."""
    depth = 0
    for token in tokens[start:]:
        if token.kind == "punct" and token.value in "([{":
            depth += 1
        elif token.kind == "punct" and token.value in ")]}":
            if depth == 0:
                return
            depth -= 1
        elif depth == 0 and token.kind == "punct" and token.value in (",", ";"):
            return
        elif depth == 0 and token.kind == "str":
            yield token


def compared(tokens: list[Token], i: int) -> bool:
    """A literal compared with a value (`kind === 'group'`): a code, not a text."""
    around = [tokens[j] for j in (i - 1, i + 1) if 0 <= j < len(tokens)]
    return any(t.kind in ("punct", "name") and t.value in COMPARISONS for t in around)


def call_arguments(tokens: list[Token], open_paren: int) -> Iterator[tuple[int, int]]:
    """(index of the argument, index of its first token) for the call whose `(` is at `open_paren`."""
    depth = 0
    argument = 0
    yield 0, open_paren + 1
    for i in range(open_paren + 1, len(tokens)):
        token = tokens[i]
        if token.kind != "punct":
            continue
        if token.value in "([{":
            depth += 1
        elif token.value in ")]}":
            if depth == 0:
                return
            depth -= 1
        elif token.value == "," and depth == 0:
            argument += 1
            yield argument, i + 1


def is_punct(tokens: list[Token], i: int, value: str) -> bool:
    return 0 <= i < len(tokens) and tokens[i].kind == "punct" and tokens[i].value == value


def texts_in(tokens: list[Token]) -> Iterator[Token]:
    """The literals standing where a text shown to people goes."""
    for i, token in enumerate(tokens):
        nxt = i + 1
        is_h = token.kind == "name" and token.value == "h" and not is_punct(tokens, i - 1, ".")
        if is_h and is_punct(tokens, nxt, "("):
            for argument, first in call_arguments(tokens, nxt):
                if argument >= 2:
                    yield from expression(tokens, first)
        elif token.kind in ("name", "str") and token.value in TEXT_KEYS and is_punct(tokens, nxt, ":"):
            if is_punct(tokens, i - 1, "{") or is_punct(tokens, i - 1, ","):
                yield from expression(tokens, nxt + 1)
        elif token.kind == "name" and token.value in TEXT_PROPS and is_punct(tokens, i - 1, "."):
            if is_punct(tokens, nxt, "="):
                yield from expression(tokens, nxt + 1)
        elif token.kind == "name" and token.value in TEXT_CALLS and is_punct(tokens, nxt, "("):
            yield from expression(tokens, nxt + 1)
        elif token.kind == "name" and token.value == "setAttribute" and is_punct(tokens, nxt, "("):
            attribute = tokens[nxt + 1]
            if attribute.kind == "str" and attribute.value in TEXT_KEYS and is_punct(tokens, nxt + 2, ","):
                yield from expression(tokens, nxt + 3)
        elif token.kind == "str" and not token.template and SENTENCE.match(token.value):
            yield token  # a sentence anywhere: a message returned or kept in a table
        elif token.kind == "name" and token.value == "return":
            yield from (t for t in expression(tokens, nxt) if CAPITALISED.match(t.value))  # return 'Group';


def skipped_lines(tokens: list[Token]) -> set[int]:
    """Lines of console output and thrown programming errors: read by developers, in English."""
    lines: set[int] = set()
    for i, token in enumerate(tokens):
        console = token.value == "console" and is_punct(tokens, i + 1, ".")
        thrown = token.value == "throw" and tokens[i + 1].value == "new" and tokens[i + 2].value.endswith("Error")
        if token.kind == "name" and (console or (thrown and tokens[i + 2].value != "ApiError")):
            start = i + 3
            depth = 0
            for later in tokens[start:]:
                lines.add(later.line)
                if later.kind == "punct" and later.value in "([{":
                    depth += 1
                elif later.kind == "punct" and later.value in ")]}":
                    depth -= 1
                    if depth == 0:
                        break
    return lines


def hard_coded_texts() -> list[str]:
    found = []
    for path in sources():
        tokens = tokenize(path.read_text())
        skipped = skipped_lines(tokens)
        position = {id(token): i for i, token in enumerate(tokens)}
        seen = set()
        for token in texts_in(tokens):
            if compared(tokens, position[id(token)]) or token.line in skipped:
                continue
            if has_words(token.value) and (token.line, token.value) not in seen:
                seen.add((token.line, token.value))
                found.append(f"{path.relative_to(ROOT)}:{token.line}: {token.value!r}")
    return found


def test_no_text_is_written_in_the_code() -> None:
    found = hard_coded_texts()
    assert not found, "texts outside the catalogues (move them to <area>/strings.js):\n" + "\n".join(found)


# -- the catalogues ------------------------------------------------------------------------------------------


def catalogue_files() -> list[Path]:
    return sorted(path for path in (PWA / "js").rglob("*.js") if re.fullmatch(r"strings(-[\w-]+)?\.js", path.name))


def catalogues() -> dict[str, dict[str, str]]:
    """Every catalogue's texts by language: the objects under an `en:`/`ru:` key or bound to `const en`/`const ru`."""
    found: dict[str, dict[str, str]] = {"en": {}, "ru": {}}
    for path in catalogue_files():
        tokens = tokenize(path.read_text())
        labels: list[str] = []
        for i, token in enumerate(tokens):
            if is_punct(tokens, i, "{"):
                named = i >= 2 and tokens[i - 1].value in (":", "=") and tokens[i - 2].kind in ("name", "str")
                labels.append(tokens[i - 2].value if named else "")
            elif is_punct(tokens, i, "}") and labels:
                labels.pop()
            elif token.kind == "str" and is_punct(tokens, i + 1, ":") and tokens[i + 2].kind == "str":
                language = next((label for label in labels if label in found), None)
                assert language, f"{path.relative_to(ROOT)}:{token.line}: a text outside en and ru"
                assert token.value not in found[language], f"{token.value} twice in {language}"
                found[language][token.value] = tokens[i + 2].value
    return found


def used_keys() -> Iterator[tuple[str, str, bool]]:
    """(where, key, counted) for each t('key') and tn('key'), and each route's title; a template's key ends in '*'."""
    for path in [PWA / "app.js", *sorted((PWA / "js").rglob("*.js"))]:
        tokens = tokenize(path.read_text())
        for i, token in enumerate(tokens):
            where = f"{path.relative_to(ROOT)}:{token.line}"
            call = token.kind == "name" and token.value in ("t", "tn") and not is_punct(tokens, i - 1, ".")
            if call and is_punct(tokens, i + 1, "(") and tokens[i + 2].kind == "str":
                key = tokens[i + 2]
                dynamic = key.template and not is_punct(tokens, i + 3, ",") and not is_punct(tokens, i + 3, ")")
                yield where, key.value + ("*" if dynamic else ""), token.value == "tn"
        if path.name == "routes.js":
            for i, token in enumerate(tokens):
                if token.value == "title" and is_punct(tokens, i + 1, ":") and tokens[i + 2].kind == "str":
                    yield f"{path.relative_to(ROOT)}:{token.line}", tokens[i + 2].value, False
    html = (PWA / "index.html").read_text()
    for key in re.findall(r'data-i18n(?:-label)?="([^"]+)"', html):
        yield "pwa/index.html", key, False


def without_plural(key: str) -> str:
    base, _, last = key.rpartition(".")
    return base if last in PLURAL else key


def test_english_and_russian_have_the_same_texts() -> None:
    texts = catalogues()
    assert len(texts["en"]) > 100
    english = {without_plural(key) for key in texts["en"]}
    russian = {without_plural(key) for key in texts["ru"]}
    assert not english - russian, f"no Russian for: {sorted(english - russian)}"
    assert not russian - english, f"no English for: {sorted(russian - english)}"


def test_counted_texts_have_every_plural_form() -> None:
    texts = catalogues()
    forms = {"en": {"one", "other"}, "ru": {"one", "few", "many", "other"}}
    for where, key, counted in used_keys():
        if not counted or key.endswith("*"):
            continue
        for language, needed in forms.items():
            present = {form for form in PLURAL if f"{key}.{form}" in texts[language]}
            assert needed <= present, f"{where}: {language} {key} lacks {sorted(needed - present)}"


def test_every_key_the_code_uses_is_in_both_languages() -> None:
    texts = catalogues()
    missing = []
    for where, key, counted in used_keys():
        for language in ("en", "ru"):
            keys = texts[language]
            if key.endswith("*"):
                found = any(k.startswith(key[:-1]) for k in keys)
            elif counted:
                found = f"{key}.other" in keys
            else:
                found = key in keys
            if not found:
                missing.append(f"{where}: {key!r} ({language})")
    assert not missing, "keys missing from the catalogues:\n" + "\n".join(missing)


def test_placeholders_are_the_same_in_both_languages() -> None:
    texts = catalogues()
    for key, english in texts["en"].items():
        russian = texts["ru"].get(key)
        if russian is not None:
            assert set(re.findall(r"\{(\w+)\}", english)) == set(re.findall(r"\{(\w+)\}", russian)), key
