"""Automation rules in the OpenAPI document: server/iot/rules/routes.py (checks in server/iot/rules/)."""

from __future__ import annotations

from typing import Any

from server.iot.rules.actions import ACTION_TYPES, MAX_ACTIONS, MAX_MESSAGE
from server.iot.rules.kinds import KINDS, MAX_DURATION
from server.iot.rules.routes import BODY_LIMIT as RULES_BODY_LIMIT
from server.iot.rules.service import MAX_NAME as MAX_RULE_NAME
from server.iot.talkback import MAX_COMMAND
from server.iot.thingspeak import MAX_FIELD
from server.web.apidoc.kit import (
    BOOLEAN,
    INTEGER,
    JSON,
    PAGE_ERRORS,
    PAGE_PARAMS,
    STRING,
    TIME,
    ApiBook,
    array,
    digits,
    no_content,
    obj,
    paged,
    ref,
    reply,
)
from server.web.validation import Field

PATH_PARAMS: dict[str, JSON] = {"channel_id": digits(18), "rule_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}
_FIELD_NUMBER = {"type": "integer", "minimum": 1, "maximum": 8}
_BOUNDED = {"type": "number", "minimum": -1e15, "maximum": 1e15}


def _template(limit: int, default: str) -> JSON:
    return {
        "type": "string",
        "maxLength": limit,
        "default": default,
        "description": "a template: {value}, {value:.1f}, {field1}..{field8}, {rule}, {channel_id}, {event}, {message}",
    }


SCHEMAS: dict[str, JSON] = {
    "Rule": obj(
        {
            "id": STRING,
            "channel_id": INTEGER,
            "name": STRING,
            "kind": {"type": "string", "enum": list(KINDS)},
            "enabled": BOOLEAN,
            "config": ref("RuleConfig"),
            "actions": array(ref("RuleAction")),
            "state": {"type": "object", "description": "the rule's stored state (hysteresis, timers, PID terms)"},
            "created_at": TIME,
            "updated_at": TIME,
        }
    ),
    "RuleConfig": {
        "description": "the settings of the rule's kind",
        "oneOf": [
            obj(
                {
                    "field": _FIELD_NUMBER,
                    "op": {"type": "string", "enum": ["above", "below"]},
                    "value": _BOUNDED,
                    "clear": {**_BOUNDED, "description": "where a triggered rule re-arms (default: value)"},
                    "for_seconds": {"type": "number", "minimum": 0, "maximum": MAX_DURATION, "default": 0},
                },
                required=["field", "op", "value"],
                closed=True,
            ),
            obj({"seconds": {"type": "number", "minimum": 1, "maximum": MAX_DURATION}}, closed=True),
            obj(
                {"expression": {"type": "string", "description": "over field1..field8, e.g. `field1 - field2 > 3`"}},
                closed=True,
            ),
            obj(
                {
                    "field": _FIELD_NUMBER,
                    "setpoint": _BOUNDED,
                    "kp": {"type": "number", "minimum": -1e6, "maximum": 1e6, "default": 0},
                    "ki": {"type": "number", "minimum": -1e6, "maximum": 1e6, "default": 0},
                    "kd": {"type": "number", "minimum": -1e6, "maximum": 1e6, "default": 0},
                    "output_min": _BOUNDED,
                    "output_max": _BOUNDED,
                    "reverse": {"type": "boolean", "default": False},
                    "min_change": {"type": "number", "minimum": 0, "maximum": 1e15, "default": 0},
                },
                required=["field", "setpoint", "output_min", "output_max"],
                closed=True,
            ),
        ],
    },
    "RuleAction": {
        "oneOf": [
            obj(
                {
                    "type": {"const": "talkback"},
                    "talkback_id": {"type": "integer", "minimum": 1},
                    "command": _template(MAX_COMMAND, "{value}"),
                },
                required=["type", "talkback_id"],
                closed=True,
            ),
            obj(
                {
                    "type": {"const": "write"},
                    "channel_id": {"type": "integer", "minimum": 1},
                    "field": _FIELD_NUMBER,
                    "value": _template(MAX_FIELD, "{value}"),
                },
                required=["type", "channel_id", "field"],
                closed=True,
            ),
            obj(
                {
                    "type": {"const": "alert"},
                    "message": _template(MAX_MESSAGE, "{message}"),
                    "email": {"type": "boolean", "default": True},
                },
                required=["type"],
                closed=True,
            ),
            obj(
                {"type": {"const": "webhook"}, "url": {"type": "string", "format": "uri"}},
                required=["type", "url"],
                closed=True,
            ),
        ],
        "description": f"one of {', '.join(ACTION_TYPES)}",
    },
    "RuleEvent": obj({"seq": INTEGER, "at": TIME, "kind": STRING, "detail": {"type": "object"}}),
}


def paths() -> dict[str, dict[str, JSON]]:
    book = ApiBook(path_params=PATH_PARAMS)
    _rules(book)
    return book.paths


_RULE_FIELDS: dict[str, Field] = {
    "name": Field(str, max_length=MAX_RULE_NAME, min_length=1),
    "kind": Field(str, choices=KINDS),
    "enabled": Field(bool, required=False),
    "config": Field(dict),
    "actions": Field(list),
}
_RULE_REFINE: dict[str, JSON] = {
    "config": {**ref("RuleConfig"), "description": "the settings of `kind`"},
    "actions": array(ref("RuleAction"), minItems=1, maxItems=MAX_ACTIONS),
}


def _rules(book: ApiBook) -> None:
    rules = "/api/channels/{channel_id}/rules"
    rule = rules + "/{rule_id}"
    owner: list[JSON] = [{"bearerAuth": []}, {"userApiKeyQuery": []}, {"userApiKeyHeader": []}]
    channel = "`channel_not_found`: no such channel of the caller's."
    missing = {404: f"{channel} Or `rule_not_found`."}
    who: dict[str, Any] = {"tag": "rules", "security": owner}
    book.op(
        "POST",
        rules,
        summary="Create an automation rule on a channel",
        fields=_RULE_FIELDS,
        refine=_RULE_REFINE,
        limit=RULES_BODY_LIMIT,
        ok={201: reply("Created.", ref("Rule"))},
        errors={404: channel, 409: "`too_many_rules` on this channel."},
        **who,
    )
    book.op(
        "GET",
        rules,
        summary="A channel's rules, a page at a time",
        params=PAGE_PARAMS,
        ok={200: reply("A page of rules.", paged("rules", ref("Rule")))},
        errors={**PAGE_ERRORS, 404: channel},
        **who,
    )
    book.op("GET", rule, summary="One rule", ok={200: reply("The rule.", ref("Rule"))}, errors=missing, **who)
    update: dict[str, Field] = {
        name: Field(f.kind, required=False, max_length=f.max_length, min_length=f.min_length, choices=f.choices)
        for name, f in _RULE_FIELDS.items()
    }
    for method in ("PATCH", "PUT"):
        book.op(
            method,
            rule,
            summary="Change a rule (its kind stays; a new config or re-enabling starts its state afresh)",
            fields=update,
            refine=_RULE_REFINE,
            limit=RULES_BODY_LIMIT,
            ok={200: reply("The rule as changed.", ref("Rule"))},
            errors=missing,
            **who,
        )
    book.op("DELETE", rule, summary="Delete a rule", ok={204: no_content("Deleted.")}, errors=missing, **who)
    for action in ("enable", "disable"):
        book.op(
            "POST",
            f"{rule}/{action}",
            summary=f"{action.capitalize()} a rule",
            ok={200: reply("The rule.", ref("Rule"))},
            errors=missing,
            **who,
        )
    book.op(
        "GET",
        f"{rule}/events",
        summary="What a rule did, newest first, a page at a time",
        params=PAGE_PARAMS,
        ok={200: reply("A page of events.", paged("events", ref("RuleEvent")))},
        errors={**PAGE_ERRORS, **missing},
        **who,
    )
