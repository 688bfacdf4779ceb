"""The expression language of expression rules: precedence, functions, limits, and errors that name the problem."""

from __future__ import annotations

import math
import re

import pytest

from server.iot.rules import expr


def value(source: str, **fields: float) -> float:
    return expr.evaluate(expr.parse(source), {int(k.removeprefix("f")): v for k, v in fields.items()})


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("2 ^ 3 ^ 2", 512),  # right-associative
        ("-2 ^ 2", -4),  # the power binds tighter than the sign
        ("2 ^ -1", 0.5),
        ("--3", 3),
        ("+3 - -3", 6),
        ("7 % 3", 1),
        ("-7 % 3", -1),  # the sign of the dividend, as C's fmod
        ("10 / 4", 2.5),
        ("1.5e3 + .5", 1500.5),
        ("3 > 2", 1),
        ("3 <= 2", 0),
        ("2 == 2", 1),
        ("2 != 2", 0),
        ("1 + 1 > 1", 1),  # comparisons bind loosest
        ("abs(-3)", 3),
        ("min(4, 2, 8)", 2),
        ("max(4, 2, 8)", 8),
        ("round(2.567, 2)", 2.57),
        ("round(2.5)", 2),
        ("sqrt(16)", 4),
        ("log(e)", 1),
        ("log(100, 10)", 2),
        ("exp(0)", 1),
        ("clamp(15, 0, 10)", 10),
        ("floor(-1.5) + ceil(1.2)", 0),
        ("if(1 > 2, 10, 20)", 20),
        ("pi", math.pi),
    ],
)
def test_values(source: str, expected: float) -> None:
    assert value(source) == pytest.approx(expected)


def test_fields() -> None:
    assert value("field1 * 1.8 + 32", f1=100) == pytest.approx(212)
    assert value("(field1 + field8) / 2", f1=10, f8=20) == 15
    assert expr.fields_of(expr.parse("field1 + max(field3, field3 * 2)")) == {1, 3}
    with pytest.raises(expr.EvaluationError, match="field2"):
        value("field2 + 1", f1=1)
    # Only the branch taken is evaluated.
    assert value("if(field1 > 0, field1, 1 / 0)", f1=3) == 3


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "empty"),
        ("1 +", "position 4"),
        ("1 + * 2", "position 5"),
        ("(1 + 2", "expected ')'"),
        ("1 2", "unexpected '2' at position 3"),
        ("field9", "unknown name 'field9'"),
        ("__import__(1)", "unknown name '__import__'"),
        ("__import__('os')", 'unexpected character "\'"'),
        ("field1.real", "unexpected character '.'"),
        ("x + 1", "unknown name 'x' at position 1"),
        ("1 $ 2", "unexpected character '$' at position 3"),
        ("abs(1, 2)", "abs() takes 1 arguments, got 2"),
        ("clamp(1)", "clamp() takes 3 arguments"),
        ("min(1)", "min() takes 2 to 8 arguments"),
        ("1 < 2 < 3", "do not chain"),
        ("abs", "expected '('"),
        ("1e999", "too large"),
        ("(" * 40 + "1" + ")" * 40, "nested too deeply"),
        ("-" * 40 + "1", "nested too deeply"),
        ("+".join(["1"] * 220), "too long (at most 200 terms)"),
        ("1" + " " * 600, "longer than 500"),
    ],
)
def test_errors_name_the_problem(source: str, message: str) -> None:
    with pytest.raises(expr.ExpressionError, match=re.escape(message)):
        expr.parse(source)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("1 / 0", "division by zero"),
        ("1 % 0", "modulo by zero"),
        ("sqrt(-1)", "sqrt"),
        ("log(0)", "log"),
        ("(-8) ^ 0.5", "no finite real value"),
        ("10 ^ 400", "no finite real value"),
        ("exp(1000)", "exp"),
        ("1e300 * 1e300", "out of range"),
        ("clamp(1, 5, 0)", "lower bound"),
    ],
)
def test_evaluation_errors(source: str, message: str) -> None:
    with pytest.raises(expr.EvaluationError, match=message):
        value(source)
