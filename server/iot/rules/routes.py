"""The automation rules API (JSON) under /api/channels/{id}/rules, for the channel's owner: signed in (Bearer)
or with the user API key (`api_key` in the query or the THINGSPEAKAPIKEY header)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.iot.appkeys import rules_key
from server.iot.http import owner_of
from server.iot.rules.kinds import KINDS
from server.iot.rules.service import MAX_NAME, RuleService
from server.storage.rules import Rule, RuleEvent
from server.web.paging import decode_cursor, encode_cursor, page_limit
from server.web.params import ID, id_in_path
from server.web.validation import Field, read_json

routes = web.RouteTableDef()

BODY_LIMIT = 16 * 1024
RULES = f"/api/channels/{{channel_id:{ID}}}/rules"
RULE = RULES + r"/{rule_id:[0-9a-f]{32}}"

_CREATE = {
    "name": Field(str, max_length=MAX_NAME, min_length=1),
    "kind": Field(str, choices=KINDS),
    "enabled": Field(bool, required=False),
    "config": Field(dict),
    "actions": Field(list),
}
_UPDATE = {
    name: Field(f.kind, required=False, max_length=f.max_length, min_length=f.min_length, choices=f.choices)
    for name, f in _CREATE.items()
}


def rule_dict(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "channel_id": rule.channel_id,
        "name": rule.name,
        "kind": rule.kind,
        "enabled": rule.enabled,
        "config": rule.config,
        "actions": rule.actions,
        "state": rule.state,
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
    }


def event_dict(event: RuleEvent) -> dict[str, Any]:
    return {"seq": event.seq, "at": event.at, "kind": event.kind, "detail": event.detail}


async def _caller(request: web.Request) -> tuple[RuleService, int, str]:
    owner = await owner_of(request, request.query)
    return request.app[rules_key], id_in_path(request.match_info["channel_id"], "no such channel"), owner


@routes.post(RULES)
async def create_rule(request: web.Request) -> web.Response:
    service, channel_id, owner = await _caller(request)
    body = await read_json(request, _CREATE, BODY_LIMIT)
    rule = await service.create(channel_id, owner, body)
    return web.json_response(rule_dict(rule), status=201)


@routes.get(RULES)
async def list_rules(request: web.Request) -> web.Response:
    service, channel_id, owner = await _caller(request)
    limit = page_limit(request)
    after = decode_cursor(request, lambda v: (float(v[0]), str(v[1])))
    rules = await service.of_channel(channel_id, owner, after, limit)
    following = encode_cursor([rules[-1].created_at, rules[-1].id]) if len(rules) == limit else None
    return web.json_response({"rules": [rule_dict(r) for r in rules], "next": following})


@routes.get(RULE)
async def get_rule(request: web.Request) -> web.Response:
    service, channel_id, owner = await _caller(request)
    return web.json_response(rule_dict(await service.get(channel_id, owner, request.match_info["rule_id"])))


@routes.patch(RULE)
@routes.put(RULE)
async def update_rule(request: web.Request) -> web.Response:
    service, channel_id, owner = await _caller(request)
    changes = await read_json(request, _UPDATE, BODY_LIMIT)
    rule = await service.update(channel_id, owner, request.match_info["rule_id"], changes)
    return web.json_response(rule_dict(rule))


@routes.delete(RULE)
async def delete_rule(request: web.Request) -> web.Response:
    service, channel_id, owner = await _caller(request)
    await service.delete(channel_id, owner, request.match_info["rule_id"])
    return web.Response(status=204)


@routes.post(RULE + "/enable")
async def enable_rule(request: web.Request) -> web.Response:
    service, channel_id, owner = await _caller(request)
    rule = await service.set_enabled(channel_id, owner, request.match_info["rule_id"], True)
    return web.json_response(rule_dict(rule))


@routes.post(RULE + "/disable")
async def disable_rule(request: web.Request) -> web.Response:
    service, channel_id, owner = await _caller(request)
    rule = await service.set_enabled(channel_id, owner, request.match_info["rule_id"], False)
    return web.json_response(rule_dict(rule))


@routes.get(RULE + "/events")
async def rule_events(request: web.Request) -> web.Response:
    """What the rule did, newest first, a page at a time (`limit`, and `cursor` from the previous page)."""
    service, channel_id, owner = await _caller(request)
    limit = page_limit(request)
    before = decode_cursor(request, lambda v: int(v[0]))
    events = await service.events(channel_id, owner, request.match_info["rule_id"], before, limit)
    following = encode_cursor([events[-1].seq]) if len(events) == limit else None
    return web.json_response({"events": [event_dict(e) for e in events], "next": following})
