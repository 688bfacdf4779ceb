"""A channel's dashboard widgets: what each kind of widget may say, checked before anything is saved, and who may
see and change them. Display widgets (number, gauge, lamp, status, location) read the channel's points; control
widgets (switch, button, slider) send a TalkBack command or write a channel field, so only the owner sees them."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from typing import Any

from server.errors import NotFound, ValidationError
from server.iot.talkback import MAX_COMMAND
from server.iot.thingspeak import MAX_FIELD
from server.storage.channels import Channel, ChannelRepository
from server.storage.talkback import TalkBackRepository
from server.storage.widgets import WidgetRepository

DISPLAYS = ("number", "gauge", "lamp", "status", "location")
CONTROLS = ("switch", "button", "slider")
TYPES = DISPLAYS + CONTROLS
LEVELS = ("off", "ok", "warning", "alert")
MAX_WIDGETS = 24  # per channel
MAX_TITLE = 100
MAX_UNIT = 16
MAX_THRESHOLDS = 5
MAX_DECIMALS = 6
MAX_TRACK = 500  # points a location widget plots
BOUND = 1e15
_CONTROL_CHARS = re.compile("[\x00-\x1f\x7f\ufffe\uffff]")

# Per type: the members it may have beyond `type` and `title`, and which of them it must have.
_MEMBERS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "number": (frozenset({"field", "unit", "decimals"}), frozenset({"field"})),
    "gauge": (frozenset({"field", "unit", "decimals", "min", "max"}), frozenset({"field", "min", "max"})),
    "lamp": (frozenset({"field", "thresholds"}), frozenset({"field", "thresholds"})),
    "status": (frozenset(), frozenset()),
    "location": (frozenset({"points"}), frozenset()),
    "switch": (frozenset({"target", "on", "off"}), frozenset({"target"})),
    "button": (frozenset({"target", "send"}), frozenset({"target", "send"})),
    "slider": (frozenset({"target", "min", "max", "step", "command"}), frozenset({"target", "min", "max"})),
}


def _number(value: Any, where: str, low: float = -BOUND, high: float = BOUND) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError("{field} must be a number", field=where)
    if not low <= value <= high:
        raise ValidationError("{field} must be between {low} and {high}", field=where, low=f"{low:g}", high=f"{high:g}")
    return float(value) if isinstance(value, float) else value


def _integer(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError("{field} must be a whole number from {low} to {high}", field=where, low=low, high=high)
    return value


def _text(value: Any, where: str, limit: int, *, empty: bool = True) -> str:
    if not isinstance(value, str):
        raise ValidationError("{field} must be a string", field=where)
    text = str(value).strip()
    if len(text) > limit:
        raise ValidationError("{field} is longer than {limit} characters", field=where, limit=limit)
    if not empty and not text:
        raise ValidationError("{field} must not be empty", field=where)
    if _CONTROL_CHARS.search(text):
        raise ValidationError("{field} must not contain control characters", field=where)
    return text


def _target(value: Any, where: str) -> dict[str, int]:
    """What a control acts on: `{"field": n}` (writes field n) or `{"talkback_id": id}` (queues a command)."""
    if not isinstance(value, dict) or len(value) != 1 or not set(value) <= {"field", "talkback_id"}:
        raise ValidationError('{field} must be {{"field": n}} or {{"talkback_id": id}}', field=where)
    if "field" in value:
        return {"field": _integer(value["field"], f"{where}.field", 1, 8)}
    return {"talkback_id": _integer(value["talkback_id"], f"{where}.talkback_id", 1, 2**63 - 1)}


def _thresholds(value: Any, where: str) -> list[dict[str, Any]]:
    """A lamp's levels: from each `at` upwards it shows `level`; below the first it is off. Ascending `at`."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_THRESHOLDS:
        raise ValidationError("{field} must be a list of 1 to {limit} thresholds", field=where, limit=MAX_THRESHOLDS)
    checked: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        here = f"{where}[{index}]"
        if not isinstance(item, dict) or set(item) != {"at", "level"}:
            raise ValidationError('{field} must be {{"at": number, "level": ...}}', field=here)
        at = _number(item["at"], f"{here}.at")
        if item["level"] not in LEVELS:
            raise ValidationError("{field} must be one of {choices}", field=f"{here}.level", choices=", ".join(LEVELS))
        if checked and at <= checked[-1]["at"]:
            raise ValidationError("{field} must be above the threshold before it", field=f"{here}.at")
        checked.append({"at": at, "level": item["level"]})
    return checked


def _range(spec: dict[str, Any], where: str) -> None:
    if spec["min"] >= spec["max"]:
        raise ValidationError("{field} must be above {minimum}", field=f"{where}.max", minimum=f"{where}.min")


def check_widget(raw: Any, where: str) -> dict[str, Any]:
    """One widget spec, checked and with its defaults filled in; a 400 naming the member at fault otherwise."""
    if not isinstance(raw, dict):
        raise ValidationError("{field} must be an object", field=where)
    kind = raw.get("type")
    if kind not in TYPES:
        raise ValidationError("{field} must be one of {choices}", field=f"{where}.type", choices=", ".join(TYPES))
    allowed, required = _MEMBERS[kind]
    unknown = sorted(set(raw) - allowed - {"type", "title"})
    if unknown:
        raise ValidationError("{field} is not a member of a {kind} widget", field=f"{where}.{unknown[0]}", kind=kind)
    missing = sorted(required - set(raw))
    if missing:
        raise ValidationError("{field} is required for a {kind} widget", field=f"{where}.{missing[0]}", kind=kind)
    spec: dict[str, Any] = {"type": kind, "title": _text(raw.get("title", ""), f"{where}.title", MAX_TITLE)}
    if "field" in allowed:
        spec["field"] = _integer(raw["field"], f"{where}.field", 1, 8)
    if "unit" in allowed:
        spec["unit"] = _text(raw.get("unit", ""), f"{where}.unit", MAX_UNIT)
    if "decimals" in allowed and "decimals" in raw:
        spec["decimals"] = _integer(raw["decimals"], f"{where}.decimals", 0, MAX_DECIMALS)
    if "min" in allowed:
        spec["min"] = _number(raw["min"], f"{where}.min")
        spec["max"] = _number(raw["max"], f"{where}.max")
        _range(spec, where)
    if kind == "lamp":
        spec["thresholds"] = _thresholds(raw["thresholds"], f"{where}.thresholds")
    if kind == "location":
        spec["points"] = _integer(raw.get("points", 100), f"{where}.points", 1, MAX_TRACK)
    if kind in CONTROLS:
        spec["target"] = _target(raw["target"], f"{where}.target")
        limit = MAX_FIELD if "field" in spec["target"] else MAX_COMMAND
    if kind == "switch":
        spec["on"] = _text(raw.get("on", "1"), f"{where}.on", limit, empty=False)
        spec["off"] = _text(raw.get("off", "0"), f"{where}.off", limit, empty=False)
    if kind == "button":
        spec["send"] = _text(raw["send"], f"{where}.send", limit, empty=False)
    if kind == "slider":
        step = _number(raw.get("step", 1), f"{where}.step", 0, BOUND)
        if step <= 0 or step > spec["max"] - spec["min"]:
            raise ValidationError("{field} must be above 0 and at most max - min", field=f"{where}.step")
        spec["step"] = step
        command = _text(raw.get("command", "{value}"), f"{where}.command", limit, empty=False)
        if "{value}" not in command:
            raise ValidationError("{field} must contain {{value}}", field=f"{where}.command")
        spec["command"] = command
    return spec


def check_widgets(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or len(raw) > MAX_WIDGETS:
        raise ValidationError("{field} must be a list of at most {limit}", field="widgets", limit=MAX_WIDGETS)
    return [check_widget(item, f"widgets[{index}]") for index, item in enumerate(raw)]


def channel_not_found() -> NotFound:
    return NotFound("no such channel of yours", code="channel_not_found")


class WidgetService:
    def __init__(
        self,
        repo: WidgetRepository,
        channels: ChannelRepository,
        talkbacks: TalkBackRepository,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self._channels = channels
        self._talkbacks = talkbacks
        self._clock = clock

    async def shown_to(
        self, channel_id: int, user_id: str | None
    ) -> tuple[Channel, list[dict[str, Any]], float | None]:
        """The widgets `user_id` may see: all of them for the owner; the display widgets of a public channel for
        anyone else (controls act for the owner, and name their TalkBacks). A private channel is not found."""
        channel = await self._channels.get(channel_id)
        owner = channel is not None and channel.owner_id == user_id
        if channel is None or not (owner or channel.public):
            raise NotFound("no such channel, or it is not public", code="channel_not_found")
        widgets, updated_at = await self.repo.of_channel(channel_id)
        if not owner:
            widgets = [w for w in widgets if w["type"] in DISPLAYS]
        return channel, widgets, updated_at

    async def save(self, channel_id: int, owner_id: str, raw: Any) -> tuple[list[dict[str, Any]], float]:
        """Replace the channel's widgets (their order is the arrangement); every TalkBack named must be the owner's."""
        channel = await self._channels.get(channel_id)
        if channel is None or channel.owner_id != owner_id:
            raise channel_not_found()
        widgets = check_widgets(raw)
        for index, widget in enumerate(widgets):
            talkback_id = widget.get("target", {}).get("talkback_id")
            if talkback_id is not None:
                talkback = await self._talkbacks.get(talkback_id)
                if talkback is None or talkback.owner_id != owner_id:
                    where = f"widgets[{index}].target.talkback_id"
                    raise ValidationError("{field} is not a TalkBack of yours", field=where)
        now = self._clock()
        await self.repo.save(channel_id, widgets, now)
        return widgets, now
