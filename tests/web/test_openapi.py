"""The OpenAPI document at /api/openapi.json: valid OpenAPI 3.1, in step with the router both ways, and its schemas
and statuses matching what the routes really answer."""

from __future__ import annotations

import re
import uuid
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from server.config import Settings
from tests.helpers import bearer, new_channel, verified_user

METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")


async def document(client: TestClient) -> dict[str, Any]:
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


def router_operations(app: web.Application) -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every route, less HEAD and the web app's own files (server/web/static.py)."""
    found = set()
    for route in app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        if getattr(route.handler, "__module__", "") == "server.web.static":
            continue
        # aiohttp's {name:regex} becomes OpenAPI's {name}; `canonical` does most of it, this makes sure.
        path = re.sub(r"\{(\w+):(?:[^{}]|\{[^{}]*\})*\}", r"{\1}", route.resource.canonical)
        found.add((route.method, path))
    return found


def documented_operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in doc["paths"].items() for method in item if method in METHODS}


def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node and len(node) == 1:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def assert_documented(
    doc: dict[str, Any], method: str, path: str, status: int, body: Any, content_type: str = "application/json"
) -> None:
    """The operation documents `status`, and `body` fits the schema it gives for `content_type`."""
    responses = doc["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}, documented: {sorted(responses)}"
    response = resolve(doc, responses[str(status)])
    schema = response["content"][content_type]["schema"]
    validator = Draft202012Validator({"components": doc["components"], "allOf": [schema]})
    errors = sorted(validator.iter_errors(body), key=str)
    assert not errors, f"{method} {path} {status}: {errors[0]}"


async def test_served_document_is_valid_openapi_3_1(client: TestClient, settings: Settings) -> None:
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert "public" in resp.headers["Cache-Control"]
    doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    assert doc["servers"] == [{"url": settings.public_url}]
    validate(doc)
    again = await client.get("/api/openapi.json", headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status == 304


async def test_every_route_is_documented_and_every_operation_exists(client: TestClient) -> None:
    doc = await document(client)
    served = router_operations(client.app)
    documented = documented_operations(doc)
    assert sorted(served - documented) == [], "routes without documentation"
    assert sorted(documented - served) == [], "documented operations the app does not serve"
    tags = {tag["name"] for tag in doc["tags"]}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            assert operation["summary"], (method, path)
            assert len(operation["tags"]) == 1, (method, path)
            assert operation["tags"][0] in tags, (method, path)
            assert "security" in operation, (method, path)
            named = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert named == set(re.findall(r"\{(\w+)\}", path)), (method, path)


async def test_chat_kinds_are_those_the_route_takes(client: TestClient) -> None:
    doc = await document(client)
    body = doc["paths"]["/api/chats"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    kinds = body["properties"]["kind"]["enum"]
    assert kinds == ["direct", "group"]
    assert body["additionalProperties"] is False
    headers = bearer(await verified_user(client))
    refused = await client.post("/api/chats", json={"kind": "channel"}, headers=headers)
    assert refused.status == 400
    error = await refused.json()
    assert error["error"]["field"] == "kind"
    assert all(kind in error["error"]["message"] for kind in kinds)
    assert_documented(doc, "POST", "/api/chats", 400, error)
    for kind in kinds:  # each documented kind gets past the kind check (then wants its own members)
        resp = await client.post("/api/chats", json={"kind": kind}, headers=headers)
        assert resp.status == 400
        assert (await resp.json())["error"]["field"] != "kind"
    unknown = await client.post("/api/chats", json={"kind": "group", "name": "x", "colour": "red"}, headers=headers)
    assert unknown.status == 400
    assert (await unknown.json())["error"]["field"] == "colour"


async def test_chat_answers_fit_their_schemas(client: TestClient) -> None:
    doc = await document(client)
    grant = await verified_user(client)
    headers = bearer(grant)
    resp = await client.get("/api/me", headers=headers)
    assert resp.status == 200
    assert_documented(doc, "GET", "/api/me", resp.status, await resp.json())
    resp = await client.post("/api/chats", json={"kind": "group", "name": "Team"}, headers=headers)
    assert resp.status == 201
    chat = await resp.json()
    assert_documented(doc, "POST", "/api/chats", resp.status, chat)
    messages = f"/api/chats/{chat['id']}/messages"
    sent = {"client_id": str(uuid.uuid4()), "text": "hello"}
    resp = await client.post(messages, json=sent, headers=headers)
    assert resp.status == 201
    assert_documented(doc, "POST", "/api/chats/{chat_id}/messages", resp.status, await resp.json())
    resp = await client.post(messages, json=sent, headers=headers)  # a resend: 200, the original
    assert resp.status == 200
    assert_documented(doc, "POST", "/api/chats/{chat_id}/messages", resp.status, await resp.json())
    resp = await client.get(messages, headers=headers)
    assert resp.status == 200
    assert_documented(doc, "GET", "/api/chats/{chat_id}/messages", resp.status, await resp.json())
    resp = await client.get("/api/chats", headers=headers)
    assert resp.status == 200
    assert_documented(doc, "GET", "/api/chats", resp.status, await resp.json())
    resp = await client.post(f"/api/chats/{chat['id']}/invites", json={"max_uses": 3}, headers=headers)
    assert resp.status == 201
    assert_documented(doc, "POST", "/api/chats/{chat_id}/invites", resp.status, await resp.json())
    resp = await client.get("/api/chats/nothing-here", headers=headers)
    assert resp.status == 404
    assert_documented(doc, "GET", "/api/chats/{chat_id}", resp.status, await resp.json())
    resp = await client.get("/api/chats")
    assert resp.status == 401
    assert_documented(doc, "GET", "/api/chats", resp.status, await resp.json())
    error = resolve(doc, doc["paths"]["/api/chats"]["get"]["responses"]["401"])
    assert error["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


async def test_iot_answers_fit_their_schemas(client: TestClient) -> None:
    doc = await document(client)
    channel = await new_channel(client)
    resp = await client.get(f"/channels/{channel['id']}.json", params={"api_key": channel["user_key"]})
    assert resp.status == 200
    assert_documented(doc, "GET", "/channels/{channel_id}.{fmt}", resp.status, await resp.json())
    resp = await client.post("/update.json", data={"api_key": channel["write_key"], "field1": "21.5"})
    assert resp.status == 200
    assert_documented(doc, "POST", "/update.{fmt}", resp.status, await resp.json())
    resp = await client.get("/update", params={"api_key": channel["write_key"], "field2": "40"})
    assert resp.status == 200
    assert_documented(doc, "GET", "/update", resp.status, await resp.text(), "text/plain")
    resp = await client.get(f"/channels/{channel['id']}/feeds.json", params={"api_key": channel["read_key"]})
    assert resp.status == 200
    assert_documented(doc, "GET", "/channels/{channel_id}/feeds.{fmt}", resp.status, await resp.json())
    resp = await client.get("/update.json", params={"api_key": "WRONG", "field1": "1"})
    assert resp.status == 401
    assert_documented(doc, "GET", "/update.{fmt}", resp.status, await resp.json())
    resp = await client.get("/update", params={"api_key": "WRONG", "field1": "1"})
    assert resp.status == 401
    assert_documented(doc, "GET", "/update", resp.status, await resp.text(), "text/plain")
    rule = {
        "name": "too hot",
        "kind": "threshold",
        "config": {"field": 1, "op": "above", "value": 30},
        "actions": [{"type": "alert", "message": "It is {value} degrees"}],
    }
    rules = f"/api/channels/{channel['id']}/rules"
    resp = await client.post(rules, json=rule, headers=bearer(channel["grant"]))
    assert resp.status == 201
    assert_documented(doc, "POST", "/api/channels/{channel_id}/rules", resp.status, await resp.json())
    resp = await client.get(rules, params={"api_key": channel["user_key"]})
    assert resp.status == 200
    assert_documented(doc, "GET", "/api/channels/{channel_id}/rules", resp.status, await resp.json())
