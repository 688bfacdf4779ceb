"""A PID controller stepped by a channel's points: dt comes from the points' timestamps, the derivative acts on
the measurement (no kick when the setpoint changes), and anti-windup integrates conditionally (a step that
would saturate the output integrates only up to the limit, never beyond) and clamps the integral's share of the
output to the output range. Pure functions over plain values, so the state is easy to persist."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PidConfig:
    setpoint: float
    kp: float
    ki: float
    kd: float
    output_min: float
    output_max: float
    reverse: bool = False  # True for cooling: a measurement above the setpoint drives the output up

    @classmethod
    def of(cls, config: dict[str, Any]) -> PidConfig:
        return cls(
            setpoint=float(config["setpoint"]),
            kp=float(config["kp"]),
            ki=float(config["ki"]),
            kd=float(config["kd"]),
            output_min=float(config["output_min"]),
            output_max=float(config["output_max"]),
            reverse=bool(config.get("reverse", False)),
        )


@dataclass(frozen=True)
class PidState:
    integral: float = 0.0
    prev_error: float | None = None
    prev_measurement: float | None = None
    prev_at: float | None = None
    output: float | None = None

    @classmethod
    def of(cls, state: dict[str, Any]) -> PidState:
        def number(name: str) -> float | None:
            value = state.get(name)
            return None if value is None else float(value)

        return cls(
            integral=float(state.get("integral") or 0.0),
            prev_error=number("prev_error"),
            prev_measurement=number("prev_measurement"),
            prev_at=number("prev_at"),
            output=number("output"),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "integral": self.integral,
            "prev_error": self.prev_error,
            "prev_measurement": self.prev_measurement,
            "prev_at": self.prev_at,
            "output": self.output,
        }


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def step(config: PidConfig, state: PidState, measurement: float, at: float) -> PidState | None:
    """The state after one measurement taken at `at`; None if it is not newer than the last one (ignored).

    The first measurement has no dt: it gives the proportional part (and the integral carried so far).
    """
    if state.prev_at is not None and at <= state.prev_at:
        return None
    dt = 0.0 if state.prev_at is None else at - state.prev_at
    error = (measurement - config.setpoint) if config.reverse else (config.setpoint - measurement)
    proportional = config.kp * error
    derivative = 0.0
    if dt > 0 and state.prev_measurement is not None:
        slope = (measurement - state.prev_measurement) / dt
        derivative = config.kd * (slope if config.reverse else -slope)
    integral = state.integral
    if dt > 0 and config.ki != 0:
        term = config.ki * integral  # the integral's share of the output
        candidate = term + config.ki * error * dt
        room_up, room_down = (
            config.output_max - proportional - derivative,
            config.output_min - proportional - derivative,
        )
        if candidate > term and candidate > room_up:
            # Integrate only until the output reaches its limit; never unwind because of saturation.
            candidate = max(term, room_up)
        elif candidate < term and candidate < room_down:
            candidate = min(term, room_down)
        integral = _clamp(candidate, config.output_min, config.output_max) / config.ki
    output = _clamp(proportional + config.ki * integral + derivative, config.output_min, config.output_max)
    return PidState(integral=integral, prev_error=error, prev_measurement=measurement, prev_at=at, output=output)
