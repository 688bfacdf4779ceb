"""Languages in Debian's Chromium, at both screen sizes: a Russian browser gets Russian from the first screen on,
and a Russian confirmation e-mail whose page is Russian too; the account page's switch to English relabels the
navigation and the screen without a reload, and the choice stays on the device and on the account."""

from __future__ import annotations

from email.header import decode_header, make_header

import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import Mailbox, link_in
from tests.e2e.server_process import ServerProcess
from tests.e2e.webapp import (
    BROWSER_MARKS,
    PASSWORD,
    Problems,
    assert_accessible,
    call,
    new_context,
)

pytestmark = BROWSER_MARKS

# What the app shows for a refusal the server words (no sentence of the app's own): a profile change over HTTP and a
# command over the WebSocket, through the app's own modules.
REFUSALS = """async () => {
  const { api } = await import('/js/core/api.js');
  const { command } = await import('/js/core/socket.js');
  const { describeError } = await import('/js/core/dom.js');
  const said = [];
  for (const attempt of [() => api.patch('/api/me', { phone: 'call me' }), () => command('sync', { after_seq: -1 })]) {
    try { await attempt(); said.push('accepted'); } catch (err) { said.push(describeError(err)); }
  }
  return said;
}"""


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_russian_browser_reads_russian_and_switches_to_english(
    server: ServerProcess, browser: Browser, smtp: tuple[Mailbox, int], size: str
) -> None:
    mailbox, _ = smtp
    email = f"olga-{size}@example.test"
    problems = Problems()
    page = problems.watch(new_context(browser, size, locale="ru-RU").new_page(), "olga")

    # Sign-up in Russian: the screens, then the e-mail and the page its link opens.
    page.goto(f"{server.url}/#/signin")
    expect(page.get_by_role("heading", name="Вход", level=1)).to_be_visible()
    assert page.title() == "Вход · Realtime"
    assert page.evaluate("document.documentElement.lang") == "ru"
    assert_accessible(page, f"sign-in in Russian ({size})")
    page.get_by_role("link", name="Создайте аккаунт").click()
    expect(page.get_by_role("heading", name="Регистрация", level=1)).to_be_visible()
    page.get_by_label("Имя", exact=True).fill("Ольга")
    page.get_by_label("Электронная почта").fill(email)
    page.get_by_label("Пароль", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Создать аккаунт").click()
    expect(page.get_by_role("heading", name="Проверьте почту", level=1)).to_be_visible()
    message = mailbox.wait_for_blocking(email, timeout=20)
    assert str(make_header(decode_header(message["Subject"]))) == "Подтвердите адрес электронной почты"
    page.goto(server.url + link_in(message, "/verify-email"))
    expect(page.get_by_role("heading", name="Адрес электронной почты подтверждён", level=1)).to_be_visible()
    assert_accessible(page, f"e-mail confirmed in Russian ({size})")

    page.get_by_role("link", name="Войти").click()
    expect(page.get_by_role("heading", name="Вход", level=1)).to_be_visible()
    page.get_by_label("Электронная почта").fill(email)
    page.get_by_label("Пароль", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Войти").click()
    expect(page.get_by_role("heading", name="Чаты", level=1)).to_be_visible()
    nav = page.get_by_role("navigation", name="Главное меню")
    expect(nav.get_by_role("link", name="Аккаунт")).to_be_visible()
    assert_accessible(page, f"chats in Russian ({size})")
    # The server's own refusals come in Russian too, with the field named as people call it.
    assert page.evaluate(REFUSALS) == [
        "В поле «телефон» могут быть только цифры, пробелы и + - ( ) .",
        "Поле «after_seq» должно быть не меньше 0",
    ]

    # The switch on the account page: English at once, the same page (no reload), kept on the device and saved.
    nav.get_by_role("link", name="Аккаунт").click()
    expect(page.get_by_role("heading", name="Ваш аккаунт", level=1)).to_be_visible()
    assert_accessible(page, f"account in Russian ({size})")
    page.evaluate("window.stillTheSamePage = true")
    page.get_by_label("Язык приложения").select_option("en")
    expect(page.get_by_role("heading", name="Your account", level=1)).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Chats")).to_be_visible()
    expect(nav.get_by_role("link", name="Account")).to_be_visible()
    expect(page.get_by_label("Language of the app")).to_be_focused()
    assert page.evaluate("window.stillTheSamePage") is True
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.title() == "Your account · Realtime"
    assert_accessible(page, f"account in English ({size})")
    assert page.evaluate(REFUSALS) == [
        "phone may hold digits, spaces and + - ( ) . only",
        "after_seq must be 0 or more",
    ]
    grant = call(f"{server.url}/api/auth/login", {"email": email, "password": PASSWORD})
    assert grant["user"]["language"] == "en"

    page.reload()
    expect(page.get_by_role("heading", name="Your account", level=1)).to_be_visible()
    expect(page.get_by_label("Language of the app")).to_have_value("en")
    refused = [seen for seen in problems.seen if "status of 400 (Bad Request)" in seen and "/api/me'" in seen]
    assert len(refused) == 2  # the phone numbers refused above, which Chromium logs
    assert [seen for seen in problems.seen if seen not in refused] == []
