"""Fixtures the chat tests share: a Web Push service on loopback, and an app allowed to push to it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import Settings
from tests.chat.chatkit import PushEndpoint


@pytest.fixture(name="push_endpoint")
async def push_endpoint_fixture(aiohttp_server: Any) -> PushEndpoint:
    endpoint = PushEndpoint()
    app = web.Application()
    app.router.add_post("/wpush/{token}", endpoint.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    endpoint.origin = f"http://127.0.0.1:{server.port}"
    return endpoint


@pytest.fixture(name="push_settings")
def push_settings_fixture(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(push_allow_loopback=True)


@pytest.fixture(name="push_client")
async def push_client_fixture(aiohttp_client: Any, push_settings: Settings) -> TestClient:
    client: TestClient = await aiohttp_client(create_app(push_settings))
    return client
