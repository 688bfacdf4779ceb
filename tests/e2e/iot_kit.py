"""What the IoT browser tests share: an owner with a channel holding two hours of points, a signed-in page, and a
device write."""

from __future__ import annotations

import time
import urllib.request
from typing import Any

from playwright.sync_api import Browser, Page

from tests.conftest import Mailbox
from tests.e2e.server_process import ServerProcess
from tests.e2e.webapp import PASSWORD, Problems, call, new_context, sign_in, verified_account


def owner_with_channel(server: ServerProcess, mailbox: Mailbox, name: str, **extra: Any) -> dict[str, Any]:
    """A confirmed account with a channel (Temperature, Humidity, Heater) holding two hours of points."""
    email = verified_account(server, mailbox, name)
    grant = call(f"{server.url}/api/auth/login", {"email": email, "password": PASSWORD})
    user_key = call(f"{server.url}/api/me/api-key", token=grant["access_token"])["api_key"]
    fields = {"field1": "Temperature", "field2": "Humidity", "field3": "Heater"}
    channel = call(f"{server.url}/channels.json", {"api_key": user_key, "name": "Greenhouse", **fields, **extra})
    write_key = next(k["api_key"] for k in channel["api_keys"] if k["write_flag"])
    now = int(time.time())
    updates = [
        {
            "created_at": str(now - 7200 + i * 120),
            "field1": f"{18 + (i % 10) * 0.5:.1f}",
            "field2": str(40 + i % 7),
            "latitude": f"{55.75 + i * 0.001:.4f}",
            "longitude": f"{37.61 + i * 0.0015:.4f}",
            "status": "warming up" if i < 59 else "all good",
        }
        for i in range(60)
    ]
    call(f"{server.url}/channels/{channel['id']}/bulk_update.json", {"write_api_key": write_key, "updates": updates})
    return {**channel, "email": email, "token": grant["access_token"], "user_key": user_key, "write_key": write_key}


def signed_in_page(
    browser: Browser, server: ServerProcess, owner: dict[str, Any], size: str, problems: Problems
) -> Page:
    context = new_context(browser, size)
    page = problems.watch(context.new_page(), size)
    sign_in(page, server, owner["email"])
    return page


def write(server: ServerProcess, owner: dict[str, Any], **fields: str) -> None:
    query = "&".join(f"{k}={v}" for k, v in fields.items())
    with urllib.request.urlopen(f"{server.url}/update.json?api_key={owner['write_key']}&{query}", timeout=30) as r:  # noqa: S310
        assert r.status == 200
