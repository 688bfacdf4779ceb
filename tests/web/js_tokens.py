"""A small JavaScript tokenizer for the web app's source checks: strings, templates, names and punctuation.

Enough of the language for plain ES modules as the app writes them: comments, the three kinds of string
(a template's `${...}` parts tokenised as code), regular expression literals, numbers, names, punctuation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# After these a `/` starts a regular expression; after a name, a number, `)` or `]` it divides.
_REGEX_AFTER_WORDS = {"return", "typeof", "case", "do", "else", "in", "of", "new", "delete", "void", "throw", "yield"}
_PUNCT = re.compile(
    r"\?\?=?|\?\.|=>|\.\.\.|[=!]==?|[<>]=?|&&=?|\|\|=?|[-+*%&|^]=|\+\+|--|[{}()\[\];,.:?~!<>=+\-*%&|^/@#]"
)
_NAME = re.compile(r"[A-Za-z_$][\w$]*")
_NUMBER = re.compile(r"\d[\w.]*|\.\d[\w.]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


@dataclass(frozen=True)
class Token:
    kind: str  # 'str' (quoted or template: its text parts), 'name', 'num', 'punct', 'regex'
    value: str
    line: int
    template: bool = False


def _cook(raw: str) -> str:
    out = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            if nxt == "u" and raw[i + 2 : i + 3] == "{":
                end = raw.index("}", i)
                out.append(chr(int(raw[i + 3 : end], 16)))
                i = end + 1
                continue
            if nxt == "u":
                out.append(chr(int(raw[i + 2 : i + 6], 16)))
                i += 6
                continue
            if nxt == "x":
                out.append(chr(int(raw[i + 2 : i + 4], 16)))
                i += 4
                continue
            out.append(_ESCAPES.get(nxt, "" if nxt == "\n" else nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


class _Lexer:
    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        self.line = 1
        self.tokens: list[Token] = []
        self.braces: list[str] = []  # 'code' for a `{`, 'template' for a template's `${`

    def regex_allowed(self) -> bool:
        if not self.tokens:
            return True
        last = self.tokens[-1]
        if last.kind in ("num", "str", "regex"):
            return False
        if last.kind == "name":
            return last.value in _REGEX_AFTER_WORDS
        return last.value not in (")", "]", "}")

    def advance(self, count: int) -> str:
        text = self.src[self.pos : self.pos + count]
        self.line += text.count("\n")
        self.pos += count
        return text

    def quoted(self, quote: str) -> None:
        start_line = self.line
        i = self.pos + 1
        while self.src[i] != quote:
            i += 2 if self.src[i] == "\\" else 1
        raw = self.src[self.pos + 1 : i]
        self.advance(i + 1 - self.pos)
        self.tokens.append(Token("str", _cook(raw), start_line))

    def template_part(self, start_line: int) -> None:
        """Read a template from just after its backtick or `}` up to the next backtick or `${`."""
        i = self.pos
        parts = []
        while True:
            ch = self.src[i]
            if ch == "\\":
                i += 2
                continue
            if ch == "`":
                parts.append(self.src[self.pos : i])
                self.advance(i + 1 - self.pos)
                break
            if ch == "$" and self.src[i + 1] == "{":
                parts.append(self.src[self.pos : i])
                self.advance(i + 2 - self.pos)
                self.braces.append("template")
                break
            i += 1
        self.tokens.append(Token("str", _cook("".join(parts)), start_line, template=True))

    def regex(self) -> None:
        i = self.pos + 1
        in_class = False
        while True:
            ch = self.src[i]
            if ch == "\\":
                i += 2
                continue
            if ch == "[":
                in_class = True
            elif ch == "]":
                in_class = False
            elif ch == "/" and not in_class:
                break
            i += 1
        i += 1
        while i < len(self.src) and (self.src[i].isalpha()):
            i += 1
        line = self.line
        self.tokens.append(Token("regex", self.advance(i - self.pos), line))

    def run(self) -> list[Token]:
        src = self.src
        while self.pos < len(src):
            ch = src[self.pos]
            if ch in " \t\r\n":
                self.advance(1)
            elif src.startswith("//", self.pos):
                end = src.find("\n", self.pos)
                self.advance((len(src) if end < 0 else end) - self.pos)
            elif src.startswith("/*", self.pos):
                self.advance(src.index("*/", self.pos) + 2 - self.pos)
            elif ch in "'\"":
                self.quoted(ch)
            elif ch == "`":
                line = self.line
                self.advance(1)
                self.template_part(line)
            elif ch == "/" and self.regex_allowed():
                self.regex()
            elif ch == "}" and self.braces and self.braces[-1] == "template":
                self.braces.pop()
                line = self.line
                self.advance(1)
                self.template_part(line)
            elif match := _NAME.match(src, self.pos):
                self.tokens.append(Token("name", match.group(), self.line))
                self.advance(match.end() - self.pos)
            elif match := _NUMBER.match(src, self.pos):
                self.tokens.append(Token("num", match.group(), self.line))
                self.advance(match.end() - self.pos)
            elif match := _PUNCT.match(src, self.pos):
                value = match.group()
                if value == "{":
                    self.braces.append("code")
                elif value == "}" and self.braces:
                    self.braces.pop()
                self.tokens.append(Token("punct", value, self.line))
                self.advance(len(value))
            else:
                self.advance(1)  # a character the checks need not see
        return self.tokens


def tokenize(source: str) -> list[Token]:
    """The tokens of a module, comments left out."""
    return _Lexer(source).run()
