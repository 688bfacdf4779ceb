"""A small, whitelisted arithmetic language over a point's fields, for expression rules.

Grammar (lowest precedence first); a hand-written tokenizer and recursive-descent parser build an AST that
`evaluate` walks. Nothing here reaches Python's eval, compile or attribute lookup.

    expression := sum [ ("<" | "<=" | ">" | ">=" | "==" | "!=") sum ]      comparisons give 1 or 0
    sum        := product { ("+" | "-") product }
    product    := unary { ("*" | "/" | "%") unary }
    unary      := ("-" | "+") unary | power
    power      := primary [ "^" unary ]                                      right-associative: 2^3^2 = 2^9
    primary    := number | field1..field8 | pi | e | name "(" expression { "," expression } ")"
                | "(" expression ")"
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

MAX_LENGTH = 500
MAX_DEPTH = 32
MAX_NODES = 200


class ExpressionError(ValueError):
    """The expression is not one this language accepts; the message says where and why."""


class EvaluationError(ArithmeticError):
    """The expression has no finite value for these inputs (division by zero, log of a negative...)."""


# -- the tree -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Field:
    number: int  # 1..8


@dataclass(frozen=True)
class Negate:
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]


Node = Number | Field | Negate | Binary | Call


def _clamp(value: float, low: float, high: float) -> float:
    if low > high:
        raise EvaluationError("clamp: the lower bound is above the upper bound")
    return min(max(value, low), high)


def _round(value: float, digits: float = 0.0) -> float:
    if not digits.is_integer() or not 0 <= digits <= 12:
        raise EvaluationError("round: digits must be a whole number from 0 to 12")
    return float(round(value, int(digits)))


def _log(value: float, base: float = math.e) -> float:
    if value <= 0 or base <= 0 or base == 1:
        raise EvaluationError("log: needs a positive number (and a positive base other than 1)")
    return math.log(value, base)


def _sqrt(value: float) -> float:
    if value < 0:
        raise EvaluationError("sqrt of a negative number")
    return math.sqrt(value)


# name -> (function, fewest arguments, most arguments). `if` is special: only the chosen branch is evaluated.
FUNCTIONS: dict[str, tuple[Callable[..., float], int, int]] = {
    "abs": (abs, 1, 1),
    "min": (min, 2, 8),
    "max": (max, 2, 8),
    "round": (_round, 1, 2),
    "sqrt": (_sqrt, 1, 1),
    "log": (_log, 1, 2),
    "exp": (math.exp, 1, 1),
    "clamp": (_clamp, 3, 3),
    "floor": (lambda x: float(math.floor(x)), 1, 1),
    "ceil": (lambda x: float(math.ceil(x)), 1, 1),
    "if": (lambda c, a, b: a if c else b, 3, 3),
}
CONSTANTS = {"pi": math.pi, "e": math.e}
_FIELD = re.compile(r"^field([1-8])$")

# -- tokens ---------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><=|>=|==|!=|[-+*/%^(),<>]))"
)


@dataclass(frozen=True)
class Token:
    kind: str  # number, name, op, end
    text: str
    position: int  # 1-based, for messages


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    index = 0
    while index < len(source):
        if source[index].isspace():
            index += 1
            continue
        match = _TOKEN.match(source, index)
        if match is None or match.lastgroup is None:
            raise ExpressionError(f"unexpected character {source[index]!r} at position {index + 1}")
        kind = match.lastgroup
        tokens.append(Token(kind, match[kind], match.start(kind) + 1))
        index = match.end()
    tokens.append(Token("end", "", len(source) + 1))
    return tokens


# -- parsing --------------------------------------------------------------------------------------------

_COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.depth = 0
        self.nodes = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, text: str) -> None:
        token = self.current
        if token.kind != "op" or token.text != text:
            raise ExpressionError(f"expected {text!r} at position {token.position}, found {_describe(token)}")
        self.index += 1

    def node(self, node: Node) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ExpressionError(f"the expression is too long (at most {MAX_NODES} terms)")
        return node

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"the expression is nested too deeply (at most {MAX_DEPTH} levels)")

    def parse(self) -> Node:
        tree = self.expression()
        if self.current.kind != "end":
            raise ExpressionError(f"unexpected {_describe(self.current)} at position {self.current.position}")
        return tree

    def expression(self) -> Node:
        self.nested()
        left = self.sum()
        if self.current.kind == "op" and self.current.text in _COMPARISONS:
            op = self.advance().text
            left = self.node(Binary(op, left, self.sum()))
            if self.current.kind == "op" and self.current.text in _COMPARISONS:
                raise ExpressionError(f"comparisons do not chain (position {self.current.position})")
        self.depth -= 1
        return left

    def sum(self) -> Node:
        left = self.product()
        while self.current.kind == "op" and self.current.text in ("+", "-"):
            op = self.advance().text
            left = self.node(Binary(op, left, self.product()))
        return left

    def product(self) -> Node:
        left = self.unary()
        while self.current.kind == "op" and self.current.text in ("*", "/", "%"):
            op = self.advance().text
            left = self.node(Binary(op, left, self.unary()))
        return left

    def unary(self) -> Node:
        if self.current.kind == "op" and self.current.text in ("-", "+"):
            sign = self.advance().text
            self.nested()
            operand = self.unary()
            self.depth -= 1
            return self.node(Negate(operand)) if sign == "-" else operand
        return self.power()

    def power(self) -> Node:
        base = self.primary()
        if self.current.kind == "op" and self.current.text == "^":
            self.advance()
            self.nested()
            exponent = self.unary()
            self.depth -= 1
            return self.node(Binary("^", base, exponent))
        return base

    def primary(self) -> Node:
        token = self.advance()
        if token.kind == "number":
            value = float(token.text)
            if not math.isfinite(value):
                raise ExpressionError(f"the number at position {token.position} is too large")
            return self.node(Number(value))
        if token.kind == "name":
            return self.name(token)
        if token.kind == "op" and token.text == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        found = _describe(token)
        raise ExpressionError(f"expected a number, a field or '(' at position {token.position}, found {found}")

    def name(self, token: Token) -> Node:
        field = _FIELD.match(token.text)
        if field:
            return self.node(Field(int(field[1])))
        if token.text in CONSTANTS:
            return self.node(Number(CONSTANTS[token.text]))
        if token.text not in FUNCTIONS:
            raise ExpressionError(
                f"unknown name {token.text[:40]!r} at position {token.position};"
                f" use field1..field8, pi, e or one of: {', '.join(sorted(FUNCTIONS))}"
            )
        _, fewest, most = FUNCTIONS[token.text]
        self.expect("(")
        args = [self.expression()]
        while self.current.kind == "op" and self.current.text == ",":
            self.advance()
            args.append(self.expression())
        self.expect(")")
        if not fewest <= len(args) <= most:
            wanted = str(fewest) if fewest == most else f"{fewest} to {most}"
            raise ExpressionError(
                f"{token.text}() takes {wanted} arguments, got {len(args)} (position {token.position})"
            )
        return self.node(Call(token.text, tuple(args)))


def _describe(token: Token) -> str:
    return "the end of the expression" if token.kind == "end" else repr(token.text[:40])


def parse(source: object) -> Node:
    """The AST of `source`, or ExpressionError naming the problem and its position."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("the expression is empty")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    return _Parser(tokenize(source)).parse()


def fields_of(node: Node) -> set[int]:
    """The field numbers an expression reads."""
    match node:
        case Field(number):
            return {number}
        case Negate(operand):
            return fields_of(operand)
        case Binary(_, left, right):
            return fields_of(left) | fields_of(right)
        case Call(_, args):
            return set().union(*(fields_of(a) for a in args))
    return set()


# -- evaluation -----------------------------------------------------------------------------------------


def _binary(op: str, a: float, b: float) -> float:
    match op:
        case "+":
            return a + b
        case "-":
            return a - b
        case "*":
            return a * b
        case "/":
            if b == 0:
                raise EvaluationError("division by zero")
            return a / b
        case "%":
            if b == 0:
                raise EvaluationError("modulo by zero")
            return math.fmod(a, b)
        case "^":
            try:
                return math.pow(a, b)
            except (OverflowError, ValueError):
                raise EvaluationError(f"{a:g} ^ {b:g} has no finite real value") from None
    comparisons = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}
    return 1.0 if comparisons[op] else 0.0


def evaluate(node: Node, fields: Mapping[int, float]) -> float:
    """The value of the expression for these field values; EvaluationError when it has none."""
    value = _evaluate(node, fields)
    if not math.isfinite(value):
        raise EvaluationError("the result is not a finite number")
    return value


def _evaluate(node: Node, fields: Mapping[int, float]) -> float:
    match node:
        case Number(value):
            return value
        case Field(number):
            if number not in fields:
                raise EvaluationError(f"field{number} has no numeric value in this point")
            return fields[number]
        case Negate(operand):
            return -_evaluate(operand, fields)
        case Binary(op, left, right):
            result = _binary(op, _evaluate(left, fields), _evaluate(right, fields))
            if not math.isfinite(result):
                raise EvaluationError(f"the result of {op!r} is out of range")
            return result
        case Call("if", (condition, then, otherwise)):
            return _evaluate(then if _evaluate(condition, fields) else otherwise, fields)
        case Call(name, args):
            function = FUNCTIONS[name][0]
            try:
                return float(function(*(_evaluate(a, fields) for a in args)))
            except (OverflowError, ValueError):
                raise EvaluationError(f"{name}() has no finite value here") from None
    raise EvaluationError("unknown node")  # pragma: no cover - the parser makes no other nodes
