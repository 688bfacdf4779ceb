"""The four kinds of rule: their config (checked when a rule is created or changed) and how each turns points,
or silence, into a new state, events and firings. Pure functions over JSON-able dicts: the engine persists what
they return."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from server.errors import ValidationError
from server.iot.rules import expr, pid
from server.storage.rules import NewEvent
from server.web.params import whole_number

KINDS = ("threshold", "no_data", "expression", "pid")
MAX_NUMBER = 1e15
MAX_DURATION = 30 * 86_400


@dataclass(frozen=True)
class Firing:
    """One occasion for the rule's actions: what happened, when (the point's time), and the value it gives."""

    event: str  # "triggered", "no_data", "value" (expression), "output" (pid)
    at: float
    value: float | None
    fields: Mapping[int, float] = field(default_factory=dict)
    message: str = ""


@dataclass
class Outcome:
    state: dict[str, Any]
    events: list[NewEvent] = field(default_factory=list)
    firings: list[Firing] = field(default_factory=list)


Sample = tuple[float, dict[int, float]]  # a point: its time and its numeric fields, by number


# -- config ---------------------------------------------------------------------------------------------


def _invalid(name: str, message: str, **params: Any) -> ValidationError:
    """A 400 for the setting `config.<name>`: `message` is a template that starts with `{field}`."""
    return ValidationError(message, field=f"config.{name}", **params)


def _only(config: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise _invalid(
            str(unknown[0])[:40],
            "{field} is not a setting of this kind (allowed: {allowed})",
            allowed=", ".join(sorted(allowed)),
        )


def _number(
    config: Mapping[str, Any],
    name: str,
    default: float | None = None,
    low: float = -MAX_NUMBER,
    high: float = MAX_NUMBER,
) -> float:
    value = config.get(name, default)
    if value is None:
        raise _invalid(name, "{field} is required")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _invalid(name, "{field} must be a number")
    if not low <= value <= high:
        raise _invalid(name, "{field} must be between {low} and {high}", low=f"{low:g}", high=f"{high:g}")
    return float(value)


def _field(config: Mapping[str, Any]) -> int:
    value = config.get("field")
    if isinstance(value, str) and value.startswith("field"):
        value = value.removeprefix("field")
        value = whole_number(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 8:
        raise _invalid("field", "{field} must be a field number from 1 to 8")
    return value


def _flag(config: Mapping[str, Any], name: str) -> bool:
    value = config.get(name, False)
    if not isinstance(value, bool):
        raise _invalid(name, "{field} must be true or false")
    return value


def validate_config(kind: str, config: Any) -> dict[str, Any]:
    """The config in its stored form; a ValidationError naming the setting when it is wrong."""
    if not isinstance(config, dict):
        raise ValidationError("config must be an object", field="config")
    if kind == "threshold":
        _only(config, {"field", "op", "value", "clear", "for_seconds"})
        op = config.get("op")
        if op not in ("above", "below"):
            raise _invalid("op", "{field} must be above or below")
        value = _number(config, "value")
        clear = _number(config, "clear", value)
        if (op == "above" and clear > value) or (op == "below" and clear < value):
            if op == "above":
                raise _invalid("clear", "{field} must be at or below value (it is where a triggered rule re-arms)")
            raise _invalid("clear", "{field} must be at or above value (it is where a triggered rule re-arms)")
        return {
            "field": _field(config),
            "op": op,
            "value": value,
            "clear": clear,
            "for_seconds": _number(config, "for_seconds", 0, 0, MAX_DURATION),
        }
    if kind == "no_data":
        _only(config, {"seconds"})
        return {"seconds": _number(config, "seconds", None, 1, MAX_DURATION)}
    if kind == "expression":
        _only(config, {"expression"})
        source = config.get("expression")
        try:
            tree = expr.parse(source)
        except expr.ExpressionError as exc:
            raise _invalid("expression", "{field} is not valid: {reason}", reason=str(exc)) from None
        if not expr.fields_of(tree):
            raise _invalid("expression", "{field} reads no field (use field1..field8)")
        return {"expression": str(source)}
    if kind == "pid":
        _only(config, {"field", "setpoint", "kp", "ki", "kd", "output_min", "output_max", "reverse", "min_change"})
        low, high = _number(config, "output_min"), _number(config, "output_max")
        if low >= high:
            raise _invalid("output_max", "{field} must be above output_min")
        return {
            "field": _field(config),
            "setpoint": _number(config, "setpoint"),
            "kp": _number(config, "kp", 0.0, -1e6, 1e6),
            "ki": _number(config, "ki", 0.0, -1e6, 1e6),
            "kd": _number(config, "kd", 0.0, -1e6, 1e6),
            "output_min": low,
            "output_max": high,
            "reverse": _flag(config, "reverse"),
            "min_change": _number(config, "min_change", 0.0, 0),
        }
    raise ValidationError("{field} must be one of {choices}", field="kind", choices=", ".join(KINDS))


def initial_state(kind: str, now: float) -> dict[str, Any]:
    if kind == "threshold":
        return {"phase": "armed", "since": None, "last_at": None, "last_value": None}
    if kind == "no_data":
        return {"since": now, "last_data_at": None, "fired": False, "fired_at": None}
    if kind == "pid":
        return pid.PidState().as_dict() | {"emitted": None}
    return {"last_value": None, "last_at": None}


# -- evaluation -----------------------------------------------------------------------------------------


def show(value: float | None) -> str:
    """A number as people write it: 30, 28.5, 0.001."""
    if value is None:
        return ""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.10g}"


def on_points(
    kind: str,
    config: Mapping[str, Any],
    state: dict[str, Any],
    samples: Sequence[Sample],
    arrived: float,
    tree: expr.Node | None = None,
) -> Outcome:
    """What these points (in the order written) do to a rule."""
    if kind == "threshold":
        return _threshold(config, dict(state), samples)
    if kind == "no_data":
        return _data_arrived(dict(state), arrived)
    if kind == "expression":
        assert tree is not None
        return _expression(tree, dict(state), samples)
    return _pid(config, dict(state), samples)


def _threshold(config: Mapping[str, Any], state: dict[str, Any], samples: Sequence[Sample]) -> Outcome:
    outcome = Outcome(state)
    number, above, limit, clear = config["field"], config["op"] == "above", config["value"], config["clear"]
    for at, fields in samples:
        value = fields.get(number)
        if value is None or (state["last_at"] is not None and at < state["last_at"]):
            continue  # no reading, or older than one already seen: it cannot change the past
        state["last_at"], state["last_value"] = at, value
        exceeds = value > limit if above else value < limit
        phase = state["phase"]
        if phase == "triggered":
            if (value < clear) if above else (value > clear):
                state["phase"], state["since"] = "armed", None
                outcome.events.append(NewEvent(at, "cleared", {"value": value, "field": number}))
            continue
        if not exceeds:
            state["phase"], state["since"] = "armed", None  # a pending duration is broken
            continue
        if phase == "armed":
            state["phase"], state["since"] = "pending", at
        if at - state["since"] >= config["for_seconds"]:
            state["phase"] = "triggered"
            words = f"field{number} is {config['op']} {show(limit)}: {show(value)}"
            if config["for_seconds"]:
                words += f" for {show(at - state['since'])} s"
            outcome.events.append(NewEvent(at, "triggered", {"value": value, "field": number, "since": state["since"]}))
            outcome.firings.append(Firing("triggered", at, value, fields, words))
    return outcome


def _data_arrived(state: dict[str, Any], arrived: float) -> Outcome:
    outcome = Outcome(state)
    if state.get("fired"):
        state["fired"] = False
        outcome.events.append(NewEvent(arrived, "resumed", {"silent_since": state.get("last_data_at")}))
    state["last_data_at"] = max(arrived, state.get("last_data_at") or arrived)
    return outcome


def silence_due(config: Mapping[str, Any], state: Mapping[str, Any], now: float) -> bool:
    last = state.get("last_data_at") or state.get("since") or now
    return not state.get("fired") and now - float(last) >= float(config["seconds"])


def on_silence(config: Mapping[str, Any], state: dict[str, Any], now: float) -> Outcome:
    """A no-data rule on the timer: fires once per silence."""
    state = dict(state)
    outcome = Outcome(state)
    if not silence_due(config, state, now):
        return outcome
    silent = now - float(state.get("last_data_at") or state.get("since") or now)
    state["fired"], state["fired_at"] = True, now
    outcome.events.append(NewEvent(now, "no_data", {"silent_seconds": round(silent, 3)}))
    outcome.firings.append(Firing("no_data", now, None, {}, f"no data for {show(round(silent))} s"))
    return outcome


def _expression(tree: expr.Node, state: dict[str, Any], samples: Sequence[Sample]) -> Outcome:
    outcome = Outcome(state)
    needed = expr.fields_of(tree)
    errors: list[str] = []
    for at, fields in samples:
        if not needed <= fields.keys():
            continue  # this point does not carry every field the expression reads
        try:
            value = expr.evaluate(tree, fields)
        except expr.EvaluationError as exc:
            errors.append(str(exc))
            continue
        state["last_value"], state["last_at"] = value, at
        outcome.firings.append(Firing("value", at, value, fields, show(value)))
    if errors:  # one event for the batch, not one per point
        at = samples[-1][0]
        outcome.events.append(NewEvent(at, "error", {"message": errors[0], "count": len(errors)}))
    return outcome


def _pid(config: Mapping[str, Any], state: dict[str, Any], samples: Sequence[Sample]) -> Outcome:
    outcome = Outcome(state)
    settings = pid.PidConfig.of(dict(config))
    current = pid.PidState.of(state)
    for at, fields in samples:
        measurement = fields.get(config["field"])
        if measurement is None:
            continue
        stepped = pid.step(settings, current, measurement, at)
        if stepped is None or stepped.output is None:
            continue
        current = stepped
        state.update(current.as_dict())
        emitted = state.get("emitted")
        if emitted is None or abs(stepped.output - float(emitted)) >= config["min_change"]:
            state["emitted"] = stepped.output
            outcome.firings.append(Firing("output", at, stepped.output, fields, show(round(stepped.output, 6))))
    return outcome
