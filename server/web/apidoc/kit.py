"""Building blocks of the OpenAPI document (server/web/openapi.py): JSON schemas made from the same `Field` specs
the routes validate with, references, and the books that turn one call per route into an operation with its path
parameters, security and the error answers every route of its kind can give."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from server.web.validation import DEFAULT_BODY_LIMIT, Field

JSON = dict[str, Any]

_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}
_PATH_PARAM = re.compile(r"\{(\w+)\}")

# Security requirements. Alternatives are separate objects in the list; [] means none.
NONE: list[JSON] = []
BEARER: list[JSON] = [{"bearerAuth": []}]

ERROR_TEXT = {
    400: "The request is malformed or a value is refused; `field` names it.",
    401: "No valid access token: missing, expired (`token_expired`), not valid, or its session ended.",
    403: "Signed in, but not allowed to do this.",
    404: "No such thing, or not one the caller may see (answered exactly alike).",
    409: "A conflict with what is stored, or a limit on how many may exist.",
    410: "It existed but is no longer valid.",
    413: "The body is larger than this route takes.",
    415: "The content type is not one this route takes.",
    422: "The body is not UTF-8.",
    429: "Too many attempts; `Retry-After` says how many seconds to wait.",
    503: "Not available just now; try again (`Retry-After` where given).",
}


def ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: JSON) -> JSON:
    """`schema` or null."""
    kind = schema.get("type")
    if isinstance(kind, str) and "$ref" not in schema:
        widened = {**schema, "type": [kind, "null"]}
        if "enum" in schema:
            widened["enum"] = [*schema["enum"], None]
        return widened
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: Mapping[str, JSON], *, required: Iterable[str] | None = None, closed: bool = False) -> JSON:
    """An object schema; every property is required unless `required` says which are."""
    schema: JSON = {"type": "object", "properties": dict(properties)}
    needed = list(properties) if required is None else list(required)
    if needed:
        schema["required"] = needed
    if closed:
        schema["additionalProperties"] = False
    return schema


def array(items: JSON, **limits: int) -> JSON:
    return {"type": "array", "items": items, **limits}


STRING: JSON = {"type": "string"}
INTEGER: JSON = {"type": "integer"}
NUMBER: JSON = {"type": "number"}
BOOLEAN: JSON = {"type": "boolean"}
TIME: JSON = {"type": "number", "description": "seconds since the epoch (UTC)"}


def field_schema(spec: Field) -> JSON:
    """The JSON schema of one `Field`, as `server.web.validation.validate` checks it."""
    kind = _TYPES[spec.kind]
    schema: JSON = {"type": kind}
    if spec.max_length is not None:
        schema["maxLength"] = spec.max_length
    if spec.min_length:
        schema["minLength"] = spec.min_length
    if spec.email:
        schema["format"] = "email"
    if spec.choices is not None:
        schema["enum"] = list(spec.choices)
    return nullable(schema) if spec.nullable else schema


def fields_schema(spec: Mapping[str, Field], refine: Mapping[str, JSON] | None = None) -> JSON:
    """The body `read_json(request, spec)` takes: these members only (unknown ones are refused). `refine` adds to a
    member's schema what the handler or service checks beyond the `Field` (list items, ranges, patterns)."""
    refine = refine or {}
    properties = {name: {**field_schema(f), **refine.get(name, {})} for name, f in spec.items()}
    return obj(properties, required=[name for name, f in spec.items() if f.required], closed=True)


EMPTY_BODY: JSON = {"type": "object", "maxProperties": 0, "description": "no members: an empty body or `{}`"}


def json_content(schema: JSON) -> JSON:
    return {"application/json": {"schema": schema}}


def reply(description: str, schema: JSON | None = None, *, content: JSON | None = None, **headers: str) -> JSON:
    """A response: JSON with `schema`, or the `content` given, or none (204)."""
    response: JSON = {"description": description}
    if schema is not None:
        response["content"] = json_content(schema)
    elif content is not None:
        response["content"] = content
    if headers:
        response["headers"] = {name: {"description": text, "schema": STRING} for name, text in headers.items()}
    return response


def no_content(description: str = "Done; no body.") -> JSON:
    return {"description": description}


def param(name: str, where: str, schema: JSON, description: str = "", *, required: bool = False) -> JSON:
    out: JSON = {"name": name, "in": where, "schema": schema}
    if description:
        out["description"] = description
    if required or where == "path":
        out["required"] = True
    return out


def query(name: str, schema: JSON, description: str = "", *, required: bool = False) -> JSON:
    return param(name, "query", schema, description, required=required)


def digits(maximum_digits: int = 18, description: str = "") -> JSON:
    """A whole number in a path or query, checked as up to `maximum_digits` decimal digits."""
    schema: JSON = {"type": "integer", "minimum": 0, "maximum": 10**maximum_digits - 1}
    if description:
        schema["description"] = description
    return schema


ATTACHMENT_ID: JSON = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
PAGE_LIMIT = query("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, "entries per page")
PAGE_CURSOR = query("cursor", STRING, "the `next` of the previous page")
PAGE_PARAMS = [PAGE_LIMIT, PAGE_CURSOR]  # every paged list takes both
PAGE_ERRORS = {400: "`limit` or `cursor` is not valid."}


@dataclass
class PathBook:
    """The `paths` of the document, filled one operation at a time.

    `error_content` is what every error answer of these routes looks like; `path_params` gives the schema of each
    `{name}` a path may hold (an operation may override it). Errors listed in `errors` are added to the operation's
    responses with the text in ERROR_TEXT, or with the text given when `errors` is a mapping.
    """

    path_params: Mapping[str, JSON]
    error_content: JSON = field(default_factory=lambda: json_content(ref("Error")))
    paths: dict[str, dict[str, JSON]] = field(default_factory=dict)

    def add(
        self,
        method: str,
        path: str,
        *,
        tag: str,
        summary: str,
        ok: Mapping[int, JSON],
        description: str = "",
        security: list[JSON] | None = None,
        params: Iterable[JSON] = (),
        path_params: Mapping[str, JSON] | None = None,
        body: JSON | None = None,
        body_required: bool | None = None,
        errors: Iterable[int] | Mapping[int, str] = (),
        error_content: JSON | None = None,
    ) -> None:
        """One operation. `body` is a requestBody's `content` map, or a JSON schema (taken as application/json)."""
        operation: JSON = {
            "operationId": _operation_id(method, path),
            "tags": [tag],
            "summary": summary,
        }
        if description:
            operation["description"] = description
        operation["security"] = BEARER if security is None else security
        overrides = path_params or {}
        parameters = [
            param(name, "path", overrides.get(name) or self.path_params[name]) for name in _PATH_PARAM.findall(path)
        ]
        parameters += list(params)
        if parameters:
            operation["parameters"] = parameters
        if body is not None:
            content = body if _is_content(body) else json_content(body)
            required = body_required
            if required is None:
                required = any(bool(c["schema"].get("required")) for c in content.values() if "schema" in c)
            operation["requestBody"] = {"required": required, "content": content}
        responses: JSON = {str(status): response for status, response in sorted(ok.items())}
        texts = errors if isinstance(errors, Mapping) else dict.fromkeys(errors, "")
        for status in sorted(texts):
            responses[str(status)] = self.error(status, texts[status], error_content)
        operation["responses"] = responses
        self.paths.setdefault(path, {})[method.lower()] = operation

    def error(self, status: int, text: str = "", content: JSON | None = None) -> JSON:
        response: JSON = {
            "description": text or ERROR_TEXT.get(status, "An error."),
            "content": content or self.error_content,
        }
        if status in (429, 503):
            response["headers"] = {"Retry-After": {"description": "seconds to wait", "schema": INTEGER}}
        return response


def _is_content(body: JSON) -> bool:
    return bool(body) and all("/" in key for key in body)


def _operation_id(method: str, path: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", path)
    return "_".join([method.lower(), *words]) if words else method.lower() + "_root"


def json_body_errors(limit: int = DEFAULT_BODY_LIMIT) -> dict[int, str]:
    """What every route reading a JSON body with `read_json` can answer besides its own errors."""
    return {
        400: "Not JSON, not an object, an unknown member, a wrong type, or a value out of range; `field` names it.",
        413: f"The body is larger than {limit} bytes.",
    }


def paged(name: str, item: JSON) -> JSON:
    """A page of a list: its items under `name`, and the cursor of the next page."""
    return obj({name: array(item), "next": {**nullable(STRING), "description": "the cursor of the next page"}})


SCHEMAS: dict[str, JSON] = {
    "Error": obj(
        {
            "error": obj(
                {
                    "code": {"type": "string", "description": "what went wrong, for programs (e.g. `chat_not_found`)"},
                    "message": {"type": "string", "description": "what went wrong, for people"},
                    "field": {"type": "string", "description": "the request member or parameter at fault"},
                },
                required=["code", "message"],
            )
        }
    ),
}


class ApiBook(PathBook):
    """Operations of the JSON API: errors are `Error`; `auth` is "user" (Bearer, 401 without it), "admin" (also
    403 for others) or "none"; `fields` is the `read_json` spec of the body, which adds its 400 and 413."""

    def op(
        self,
        method: str,
        path: str,
        *,
        tag: str,
        summary: str,
        ok: Mapping[int, JSON],
        auth: str = "user",
        fields: Mapping[str, Field] | None = None,
        refine: Mapping[str, JSON] | None = None,
        body_extra: JSON | None = None,
        limit: int = DEFAULT_BODY_LIMIT,
        errors: Iterable[int] | Mapping[int, str] = (),
        **more: Any,
    ) -> None:
        texts = dict(errors) if isinstance(errors, Mapping) else dict.fromkeys(errors, "")
        if fields is not None:
            more["body"] = {**fields_schema(fields, refine), **(body_extra or {})} if fields else EMPTY_BODY
            for status, text in json_body_errors(limit).items():
                texts.setdefault(status, text)
        if auth in ("user", "admin"):
            more.setdefault("security", BEARER)
            texts.setdefault(401, "")
        if auth == "admin":
            texts.setdefault(403, "The caller is not a server admin.")
        if auth == "none":
            more.setdefault("security", NONE)
        self.add(method, path, tag=tag, summary=summary, ok=ok, errors=texts, **more)
