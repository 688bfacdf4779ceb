"""The pages e-mail links open look like the web app and link only to its screens; error messages start with a
capital letter; without SMTP_HOST a mail is logged as plain text with its link whole on one line."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from server.auth.mail import LogMailer
from server.auth.pages import TEXTS
from server.errors import ApiError, NotFound, TooManyRequests, ValidationError, as_sentence
from tests.conftest import Mailbox, link_in
from tests.helpers import PASSWORD, new_email, register

ROOT = Path(__file__).resolve().parents[2]


def app_routes() -> set[str]:
    """The screens of the web app: the keys of pwa/js/routes.js's table."""
    source = (ROOT / "pwa" / "js" / "routes.js").read_text()
    return set(re.findall(r"^\s*'(/[^']*)':\s*\{", source, re.MULTILINE))


def assert_app_page(html: str) -> None:
    """Styled as the app is, and every link goes to the app's home or one of its screens."""
    assert '<link rel="stylesheet" href="/static/app.css">' in html
    assert 'class="app-header"' in html
    assert 'class="card"' in html
    links = re.findall(r'href="([^"]+)"', html)
    screens = app_routes()
    for link in links:
        if link.startswith("/static/"):
            continue
        assert link == "/" or (link.startswith("/#") and link[2:].split("?")[0] in screens), link


def test_the_app_has_the_screens_the_pages_link_to() -> None:
    assert {"/signin", "/forgot"} <= app_routes()


async def test_verify_pages_look_like_the_app(client: TestClient, mail: Mailbox) -> None:
    email = new_email()
    await register(client, email, name="Grace <Hopper>")
    link = link_in(await mail.wait_for(email), "/verify-email")
    done = await client.get(link)
    assert done.status == 200
    html = await done.text()
    assert_app_page(html)
    assert TEXTS["verified"]["title"] in html
    assert "Grace &lt;Hopper&gt;" in html  # the name is escaped
    assert 'href="/#/signin"' in html

    spent = await client.get(link)
    assert spent.status == 400
    html = await spent.text()
    assert_app_page(html)
    problem = re.search(r"<p>(.*?)</p>", html)
    assert problem is not None
    assert problem[1].startswith("This link is not valid")
    incomplete = await client.get("/verify-email")
    assert incomplete.status == 400
    assert_app_page(await incomplete.text())


async def test_reset_pages_look_like_the_app(client: TestClient, mail: Mailbox) -> None:
    email = new_email()
    await register(client, email)
    await client.post("/api/auth/password-reset", json={"email": email})
    link = link_in(await mail.wait_for(email, 2), "/reset-password")
    token = link.split("token=")[1]
    form = await client.get(link)
    html = await form.text()
    assert_app_page(html)
    assert '<label for="password">' in html
    assert 'minlength="10"' in html

    short = await client.post("/reset-password", data={"token": token, "password": "short", "repeat": "short"})
    assert short.status == 400
    html = await short.text()
    assert_app_page(html)
    assert re.search(r'role="alert"><p>Password must be at least 10 characters', html)

    done = await client.post("/reset-password", data={"token": token, "password": PASSWORD, "repeat": PASSWORD})
    assert done.status == 200
    assert_app_page(await done.text())
    spent = await client.post("/reset-password", data={"token": token, "password": PASSWORD, "repeat": PASSWORD})
    assert spent.status == 400
    html = await spent.text()
    assert_app_page(html)
    assert 'href="/#/forgot"' in html


def test_error_messages_start_with_a_capital_letter() -> None:
    assert ApiError("no such user").message == "No such user"
    assert str(NotFound("no such chat")) == "No such chat"
    assert TooManyRequests(3).message == "Too many attempts; try again later (retry after 3 s)"
    assert as_sentence("e-mail addresses differ") == "E-mail addresses differ"
    assert as_sentence("Already fine") == "Already fine"
    assert as_sentence("") == ""
    # A message that starts with a name as programs spell it keeps it.
    assert ValidationError("display_name is required", field="display_name").message == "display_name is required"
    assert ValidationError("role must be one of user, admin", field="role").message == "role must be one of user, admin"
    assert as_sentence("actions[0].url must be http") == "actions[0].url must be http"
    assert as_sentence("created_at: not a date") == "created_at: not a date"
    assert as_sentence("field1 must not contain control characters") == "field1 must not contain control characters"


async def test_a_logged_mail_is_plain_text_with_whole_links(caplog: pytest.LogCaptureFixture) -> None:
    link = "http://127.0.0.1:8080/verify-email?token=" + "Ab-_" * 20 + "=="
    text = f"Hello Zoë,\n\nopen this link:\n{link}\n\nIt works once.\n"
    caplog.set_level(logging.WARNING, logger="server.auth.mail")
    await LogMailer("server@example.test").send("zoe@example.test", "Confirm your e-mail address", text)
    [record] = caplog.records
    logged = record.getMessage()
    assert f"\n{link}\n" in logged  # whole, on a line of its own
    assert "=3D" not in logged
    assert "Zoë" in logged  # as written, not encoded
    assert "Subject: Confirm your e-mail address\n" in logged
    assert record.links == [link]  # type: ignore[attr-defined]
