"""What a rule does when it fires: queue a TalkBack command, write to a channel, alert its owner (WebSocket and
e-mail), or call a webhook. Specs are checked when a rule is saved; `ActionRunner` carries them out after the
rule's state has committed. Slow actions (e-mail, webhooks) run in the background and report their outcome
as events."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from server.auth.mail import Mailer
from server.auth.texts import alert_mail
from server.errors import ApiError, ValidationError
from server.iot.ingest import FeedService
from server.iot.rules.kinds import Firing, show
from server.iot.rules.webhook import WebhookFailed, WebhookRefused, WebhookSender, check_url
from server.iot.talkback import MAX_COMMAND, TalkBackService
from server.iot.thingspeak import MAX_FIELD
from server.realtime.broker import Broker, user_topic
from server.storage.accounts import AccountRepository
from server.storage.channels import ChannelRepository, Point
from server.storage.rules import NewEvent, Rule

log = logging.getLogger(__name__)

ACTION_TYPES = ("talkback", "write", "alert", "webhook")
MAX_ACTIONS = 5
MAX_MESSAGE = 500
# Per rule and batch of points: a rule that fires on every point of a bulk upload alerts a few times, not 10,000.
MAX_ALERTS = 3
MAX_WEBHOOKS = 10

_PLACEHOLDER = re.compile(r"\{([a-z_0-9]+)(?::\.(\d{1,2})f)?\}")
_BRACED = re.compile(r"\{[^{}]*\}")
TEMPLATE_NAMES = {"value", "rule", "channel_id", "event", "message", *(f"field{n}" for n in range(1, 9))}

Background = Callable[[Rule, Awaitable[list[NewEvent]]], None]


# -- specs ----------------------------------------------------------------------------------------------


def check_template(text: Any, where: str, limit: int) -> str:
    """A text with {value}, {value:.1f}, {field1}..{field8}, {rule}, {channel_id}, {event} or {message}."""
    if not isinstance(text, str) or len(text) > limit or "\x00" in text:
        raise ValidationError("{field} must be a string of at most {limit} characters", field=where, limit=limit)
    for match in _BRACED.finditer(text):
        placeholder = _PLACEHOLDER.fullmatch(match[0])
        if placeholder is None or placeholder[1] not in TEMPLATE_NAMES:
            names = ", ".join("{" + n + "}" for n in sorted(TEMPLATE_NAMES))
            raise ValidationError(
                "{field}: unknown placeholder {placeholder} (use {names})",
                field=where,
                placeholder=match[0][:40],
                names=names,
            )
    if _BRACED.sub("", text).count("{") or _BRACED.sub("", text).count("}"):
        raise ValidationError("{field} has an unmatched brace", field=where)
    return text


def render(text: str, values: Mapping[str, Any]) -> str:
    def one(match: re.Match[str]) -> str:
        value = values.get(match[1])
        if isinstance(value, float) and match[2] is not None:
            return f"{value:.{int(match[2])}f}"
        if isinstance(value, float):
            return show(value)
        return "" if value is None else str(value)

    return _PLACEHOLDER.sub(one, text)


def _id(spec: Mapping[str, Any], name: str, where: str) -> int:
    value = spec.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**62:
        raise ValidationError("{field} must be an id", field=f"{where}.{name}")
    return value


def _only(spec: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(spec) - allowed - {"type"})
    if unknown:
        raise ValidationError("{field}.{setting} is not a setting of this action", field=where, setting=unknown[0][:40])


def validate_actions(raw: Any, *, allow_private: bool) -> list[dict[str, Any]]:
    """The actions in their stored form. Ownership of the channels and TalkBacks they name is checked by the
    rule service; a webhook's host name is checked when it is called (its addresses can change)."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_ACTIONS:
        raise ValidationError("{field} must be a list of 1 to {limit} actions", field="actions", limit=MAX_ACTIONS)
    actions = []
    for index, spec in enumerate(raw):
        where = f"actions[{index}]"
        if not isinstance(spec, dict) or spec.get("type") not in ACTION_TYPES:
            raise ValidationError(
                "{field} must be one of {choices}", field=f"{where}.type", choices=", ".join(ACTION_TYPES)
            )
        kind = spec["type"]
        if kind == "talkback":
            _only(spec, {"talkback_id", "command"}, where)
            command = check_template(spec.get("command", "{value}"), f"{where}.command", MAX_COMMAND)
            actions.append({"type": kind, "talkback_id": _id(spec, "talkback_id", where), "command": command})
        elif kind == "write":
            _only(spec, {"channel_id", "field", "value"}, where)
            field = spec.get("field")
            if isinstance(field, bool) or not isinstance(field, int) or not 1 <= field <= 8:
                raise ValidationError("{field} must be a field number from 1 to 8", field=f"{where}.field")
            value = check_template(spec.get("value", "{value}"), f"{where}.value", MAX_FIELD)
            actions.append({"type": kind, "channel_id": _id(spec, "channel_id", where), "field": field, "value": value})
        elif kind == "alert":
            _only(spec, {"message", "email"}, where)
            email = spec.get("email", True)
            if not isinstance(email, bool):
                raise ValidationError("{field} must be true or false", field=f"{where}.email")
            message = check_template(spec.get("message", "{message}"), f"{where}.message", MAX_MESSAGE)
            actions.append({"type": kind, "message": message, "email": email})
        else:
            _only(spec, {"url"}, where)
            try:
                url = check_url(spec.get("url"), allow_private=allow_private)
            except WebhookRefused as exc:
                raise ValidationError("{field}: {reason}", field=f"{where}.url", reason=str(exc)) from None
            actions.append({"type": kind, "url": url})
    return actions


# -- carrying them out ----------------------------------------------------------------------------------


def _values(rule: Rule, firing: Firing) -> dict[str, Any]:
    values: dict[str, Any] = {f"field{n}": v for n, v in firing.fields.items()}
    values.update(
        value=firing.value,
        rule=rule.name,
        channel_id=rule.channel_id,
        event=firing.event,
        message=f"{rule.name}: {firing.message}",
    )
    return values


def _about(rule: Rule, firing: Firing) -> dict[str, Any]:
    """What an alert and a webhook both say about a firing, in the same order."""
    return {
        "rule_id": rule.id,
        "rule": rule.name,
        "channel_id": rule.channel_id,
        "event": firing.event,
        "value": firing.value,
        "at": firing.at,
    }


class ActionRunner:
    def __init__(
        self,
        *,
        talkbacks: TalkBackService,
        feeds: FeedService,
        channels: ChannelRepository,
        accounts: AccountRepository,
        broker: Broker,
        mailer: Mailer,
        webhooks: WebhookSender,
    ) -> None:
        self.talkbacks = talkbacks
        self.feeds = feeds
        self.channels = channels
        self.accounts = accounts
        self.broker = broker
        self.mailer = mailer
        self.webhooks = webhooks

    async def run(self, rule: Rule, firings: Sequence[Firing], background: Background) -> list[NewEvent]:
        """Carry out every action of `rule` for these firings; returns what happened, as events."""
        events: list[NewEvent] = []
        at = firings[-1].at
        for index, action in enumerate(rule.actions):
            try:
                detail = await self._run(rule, action, firings, background)
            except (ApiError, WebhookRefused, LookupError) as exc:
                message = exc.message if isinstance(exc, ApiError) else str(exc)
                failed = {"action": index, "type": action["type"], "error": message}
                events.append(NewEvent(at, "action_failed", failed))
            except Exception as exc:  # one failing action must not stop the others
                log.exception("rule %s: action %d failed", rule.id, index)
                failed = {"action": index, "type": action["type"], "error": type(exc).__name__}
                events.append(NewEvent(at, "action_failed", failed))
            else:
                if detail is not None:
                    events.append(NewEvent(at, "action", {"action": index, "type": action["type"], **detail}))
        return events

    async def _run(
        self, rule: Rule, action: dict[str, Any], firings: Sequence[Firing], background: Background
    ) -> dict[str, Any] | None:
        kind = action["type"]
        if kind == "talkback":
            commands = [render(action["command"], _values(rule, f))[:MAX_COMMAND] for f in firings]
            added = await self.talkbacks.queue_for_owner(action["talkback_id"], rule.owner_id, commands)
            return {"talkback_id": action["talkback_id"], "count": len(added), "commands": commands[:10]}
        if kind == "write":
            return await self._write(rule, action, firings)
        if kind == "alert":
            for firing in firings[:MAX_ALERTS]:
                self._alert(rule, action, firing, background)
            return {"count": min(len(firings), MAX_ALERTS), "suppressed": max(0, len(firings) - MAX_ALERTS)}
        for firing in firings[:MAX_WEBHOOKS]:
            background(rule, self._webhook(rule, action, firing))
        return None  # each call reports when it is done

    async def _write(self, rule: Rule, action: dict[str, Any], firings: Sequence[Firing]) -> dict[str, Any]:
        channel = await self.channels.get(action["channel_id"])
        if channel is None or channel.owner_id != rule.owner_id:
            raise LookupError(f"channel {action['channel_id']} is gone or no longer yours")
        points = []
        for firing in firings:
            point = Point(created_at=firing.at)  # the source point's time: charts line up
            point.fields[action["field"] - 1] = render(action["value"], _values(rule, firing))[:MAX_FIELD]
            points.append(point)
        written = await self.feeds.write(channel, points)
        return {"channel_id": channel.id, "first_entry_id": written.first_entry_id, "count": len(points)}

    def _alert(self, rule: Rule, action: dict[str, Any], firing: Firing, background: Background) -> None:
        message = render(action["message"], _values(rule, firing))
        self.broker.publish(
            user_topic(rule.owner_id),
            {"type": "alert", **_about(rule, firing), "message": message},
        )
        if action["email"]:
            background(rule, self._email(rule, firing, message))

    async def _email(self, rule: Rule, firing: Firing, message: str) -> list[NewEvent]:
        user = await self.accounts.user_by_id(rule.owner_id)
        if user is None:
            return []
        subject, text = alert_mail(
            user.language, message=message, rule=rule.name, channel=rule.channel_id, event=firing.event
        )
        try:
            await self.mailer.send(user.email, subject, text)
        except Exception as exc:  # noqa: BLE001 - SMTP fails in many ways; the event says which
            return [NewEvent(firing.at, "action_failed", {"type": "email", "error": type(exc).__name__})]
        return [NewEvent(firing.at, "action", {"type": "email"})]

    async def _webhook(self, rule: Rule, action: dict[str, Any], firing: Firing) -> list[NewEvent]:
        payload = {
            **_about(rule, firing),
            "fields": {f"field{n}": v for n, v in firing.fields.items()},
            "message": f"{rule.name}: {firing.message}",
        }
        try:
            delivery = await self.webhooks.post(action["url"], payload, user=rule.owner_id)
        except WebhookRefused as exc:
            return [NewEvent(firing.at, "action_failed", {"type": "webhook", "error": f"refused: {exc}"})]
        except WebhookFailed as exc:
            detail = {"type": "webhook", "error": str(exc), "attempts": exc.attempts}
            return [NewEvent(firing.at, "action_failed", detail)]
        done = {"type": "webhook", "status": delivery.status, "attempts": delivery.attempts}
        return [NewEvent(firing.at, "action", done)]
