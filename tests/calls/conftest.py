"""Fixtures the calls tests share with the chat tests: a Web Push service on loopback, and an app allowed to push
to it."""

from __future__ import annotations

from tests.chat.conftest import push_client_fixture, push_endpoint_fixture, push_settings_fixture

__all__ = ["push_client_fixture", "push_endpoint_fixture", "push_settings_fixture"]
