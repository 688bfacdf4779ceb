"""Schemathesis against /api/openapi.json, on each database: every documented operation gets a bounded number of
generated requests (derandomized, so CI sees the same ones), signed in with a bearer token and the matching
ThingSpeak key. No answer may be a 5xx, and every answer must match its documented status codes and schemas."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import bearer, new_channel  # noqa: E402

NEGATIVE_EXAMPLES = 4
EXAMPLES = 6  # per operation: the whole run stays within a minute or two per database
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
# Operations that would end the run's own sign-in, or that are no JSON API.
SKIPPED = {("POST", "/api/auth/logout"), ("GET", "/ws"), ("GET", "/metrics")}


def _keys_for(operation: Any, keys: dict[str, str]) -> dict[str, str]:
    """The THINGSPEAKAPIKEY header for an operation secured by one of the ThingSpeak key schemes."""
    for requirement in operation.definition.raw.get("security") or []:
        for scheme in requirement:
            for kind in ("userApiKey", "writeApiKey", "readApiKey"):
                if scheme.startswith(kind):
                    return {"THINGSPEAKAPIKEY": keys[kind]}
    return {}


def _test_for(operation: Any, base_url: str, sent: dict[str, str], mode: Any) -> Any:
    @hypothesis.settings(
        max_examples=EXAMPLES if mode == GenerationMode.POSITIVE else NEGATIVE_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(mode))
    def check(case: Any) -> None:
        response = case.call(base_url=base_url, headers=sent, timeout=30)
        case.validate_response(response, checks=CHECKS)

    return check


def _run(base_url: str, document: dict[str, Any], headers: dict[str, str], keys: dict[str, str]) -> list[str]:
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        for mode in GenerationMode:  # valid requests, then invalid ones (which must get a documented 4xx)
            check = _test_for(operation, base_url, {**headers, **_keys_for(operation, keys)}, mode)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    check()
            except hypothesis.errors.Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                continue
            except (Exception, BaseExceptionGroup) as exc:  # every operation's findings are collected, then reported
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {str(exc)[:1500]}")
    return failures


async def test_the_api_keeps_to_its_document(client: TestClient) -> None:
    channel = await new_channel(client)
    keys = {"userApiKey": channel["user_key"], "writeApiKey": channel["write_key"], "readApiKey": channel["read_key"]}
    document = await (await client.get("/api/openapi.json")).json()
    base_url = str(client.make_url("")).rstrip("/")
    failures = await asyncio.to_thread(_run, base_url, document, bearer(channel["grant"]), keys)
    assert not failures, "\n\n".join(failures)
