"""An account's language (English or Russian): chosen at sign-up or from the browser's Accept-Language, changed with
PATCH /api/me, and followed by the e-mails the server sends and the pages their links open."""

from __future__ import annotations

from email.header import decode_header, make_header
from email.message import Message

import pytest
from aiohttp.test_utils import TestClient

from server.auth.texts import ALERT, MAILS, PAGES, PROBLEMS, alert_mail
from server.texts.language import from_accept_language
from tests.conftest import Mailbox, body_of, link_in
from tests.helpers import PASSWORD, bearer, login, new_email, register, signed_in, verify

RUSSIAN = {"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.8"}
ENGLISH = {"Accept-Language": "en-GB,en;q=0.9"}


def subject(message: Message) -> str:
    return str(make_header(decode_header(message["Subject"])))


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("ru-RU,ru;q=0.9,en;q=0.8", "ru"),
        ("en-US,en;q=0.9,ru;q=0.8", "en"),
        ("de-DE, ru;q=0.5, en;q=0.4", "ru"),
        ("de, fr", "en"),
        ("en;q=0.2, RU;q=0.7", "ru"),
        ("ru;q=abc, en", "en"),
        ("", "en"),
        (None, "en"),
        ("*", "en"),
    ],
)
def test_the_language_of_accept_language(header: str | None, language: str) -> None:
    assert from_accept_language(header) == language


def test_every_text_is_in_both_languages() -> None:
    for table in (PAGES, MAILS):
        english, russian = table["en"], table["ru"]
        assert english.keys() == russian.keys()
        for name, texts in english.items():
            assert texts.keys() == russian[name].keys(), name
    assert ALERT["en"].keys() == ALERT["ru"].keys()
    assert {"invalid_token", "too_short", "rate_limited", "other"} <= PROBLEMS["ru"].keys()


def test_an_alert_mail_in_russian() -> None:
    title, text = alert_mail("ru", message="Жарко", rule="Термостат", channel=7, event="above")
    assert title == "Оповещение: Термостат"
    assert "Правило: Термостат" in text
    assert "Канал: 7" in text


async def test_sign_up_in_russian_gets_russian_mail_and_pages(client: TestClient, mail: Mailbox) -> None:
    email = new_email()
    resp = await client.post(
        "/api/auth/register",
        json={"email": email, "password": PASSWORD, "display_name": "Ада", "language": "ru"},
        headers=ENGLISH,  # the body's choice wins over the browser's
    )
    assert resp.status == 202
    message = await mail.wait_for(email)
    assert subject(message) == MAILS["ru"]["verify"]["subject"]
    assert "Здравствуйте, Ада!" in body_of(message)
    link = link_in(message, "/verify-email")
    done = await client.get(link, headers=ENGLISH)  # the account's language wins over the browser's
    html = await done.text()
    assert done.status == 200
    assert '<html lang="ru">' in html
    assert PAGES["ru"]["verified"]["title"] in html
    spent = await client.get(link, headers=ENGLISH)  # a used link still belongs to the account
    html = await spent.text()
    assert spent.status == 400
    assert PROBLEMS["ru"]["invalid_token"] in html
    grant = await login(client, email)
    assert grant["user"]["language"] == "ru"
    me = await client.get("/api/me", headers=bearer(grant))
    assert (await me.json())["language"] == "ru"


async def test_the_browser_language_is_the_default(client: TestClient, mail: Mailbox) -> None:
    russian, english = new_email(), new_email()
    await register(client, russian, **RUSSIAN)
    await register(client, english)
    assert subject(await mail.wait_for(russian)) == MAILS["ru"]["verify"]["subject"]
    assert subject(await mail.wait_for(english)) == MAILS["en"]["verify"]["subject"]
    await client.get(link_in(await mail.wait_for(russian), "/verify-email"))
    assert (await login(client, russian))["user"]["language"] == "ru"
    await verify(client, mail, english)
    assert (await login(client, english))["user"]["language"] == "en"


async def test_a_registered_address_is_warned_in_its_own_language(client: TestClient, mail: Mailbox) -> None:
    email = new_email()
    await register(client, email, **RUSSIAN)
    await register(client, email, **ENGLISH)
    warning = await mail.wait_for(email, 2)
    assert subject(warning) == MAILS["ru"]["taken"]["subject"]


async def test_pages_without_an_account_follow_accept_language(client: TestClient) -> None:
    unknown = await client.get("/verify-email?token=nope", headers=RUSSIAN)
    html = await unknown.text()
    assert unknown.status == 400
    assert PAGES["ru"]["verify_failed"]["title"] in html
    assert PROBLEMS["ru"]["invalid_token"] in html
    incomplete = await client.get("/reset-password", headers=RUSSIAN)
    assert PAGES["ru"]["incomplete"]["title"] in await incomplete.text()
    english = await client.get("/verify-email?token=nope")
    assert PAGES["en"]["verify_failed"]["title"] in await english.text()


async def test_language_is_changed_with_patch_me(client: TestClient, mail: Mailbox) -> None:
    grant = await signed_in(client, mail)
    email = grant["user"]["email"]
    assert grant["user"]["language"] == "en"
    resp = await client.patch("/api/me", json={"language": "ru"}, headers=bearer(grant))
    assert resp.status == 200
    assert (await resp.json())["language"] == "ru"
    for bad in ("de", "RU", " ru", "", None, 1, ["ru"]):
        refused = await client.patch(
            "/api/me", json={"language": bad, "display_name": "Changed"}, headers=bearer(grant)
        )
        assert refused.status == 400, bad
        assert (await refused.json())["error"]["field"] == "language"
    me = await (await client.get("/api/me", headers=bearer(grant))).json()
    assert me["language"] == "ru"
    assert me["display_name"] == "Ada"  # a refused change changes nothing

    await client.post("/api/auth/password-reset", json={"email": email}, headers=ENGLISH)
    message = await mail.wait_for(email, 2)
    assert subject(message) == MAILS["ru"]["reset"]["subject"]
    link = link_in(message, "/reset-password")
    form = await client.get(link, headers=ENGLISH)
    html = await form.text()
    assert PAGES["ru"]["reset_form"]["title"] in html
    token = link.split("token=")[1]
    short = await client.post("/reset-password", data={"token": token, "password": "short", "repeat": "short"})
    assert short.status == 400
    assert PROBLEMS["ru"]["too_short"].format(min=10) in await short.text()
    done = await client.post(
        "/reset-password", data={"token": token, "password": PASSWORD + "!", "repeat": PASSWORD + "!"}
    )
    assert done.status == 200
    assert PAGES["ru"]["reset_done"]["title"] in await done.text()


async def test_register_refuses_an_unknown_language(client: TestClient) -> None:
    resp = await client.post(
        "/api/auth/register",
        json={"email": new_email(), "password": PASSWORD, "display_name": "Ada", "language": "fr"},
    )
    assert resp.status == 400
    assert (await resp.json())["error"]["field"] == "language"
