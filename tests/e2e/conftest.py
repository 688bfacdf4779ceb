"""Fixtures every test module here may take, from the browser tests' kit (tests/e2e/webapp.py): `server`, the real
server process (with the SMTP catcher), and `browser`, Debian's Chromium, one per module. A module that needs
another kind (the calls tests' Chromium with fake media) defines its own, which takes precedence."""

from __future__ import annotations

from tests.e2e.webapp import browser_fixture, server_fixture

__all__ = ["browser_fixture", "server_fixture"]
