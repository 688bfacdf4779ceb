"""The auth domain: accounts, passwords, tokens, sessions, e-mail links and roles."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from server.auth import apidoc, pages, routes, ws
from server.auth.appkeys import accounts_key, mailer_key, outbox_key, suspension_changed_key
from server.auth.mail import LogMailer, Mailer, SmtpMailer
from server.auth.outbox import MailOutbox
from server.auth.service import AccountService
from server.keys import (
    blind_index_key,
    broker_key,
    database_key,
    keyring_key,
    limiter_key,
    settings_key,
    ws_authenticate_key,
    ws_authenticated_key,
)
from server.storage.accounts import AccountRepository
from server.web.openapi import add_part
from server.wiring import Signal, provide


def setup(app: web.Application) -> None:
    app.add_routes(routes.routes)
    app.add_routes(pages.routes)
    app[suspension_changed_key] = Signal[[str], None]("suspension_changed")
    app.cleanup_ctx.append(_accounts_ctx)
    app[ws_authenticated_key].connect(ws.watch_sessions)
    add_part(
        app,
        apidoc,
        tags=[
            ("auth", "Accounts: registration, e-mail links, sign-in, tokens, sessions, profile"),
            ("admin", "Server admins: accounts, the report queue, moderation"),
        ],
    )


def _mailer(app: web.Application) -> Mailer:
    settings = app[settings_key]
    if settings.smtp_host:
        return SmtpMailer(settings.smtp_host, settings.smtp_port, settings.smtp_from)
    return LogMailer(settings.smtp_from)


async def _accounts_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    mailer = provide(app, mailer_key, lambda: _mailer(app))  # other domains (rule alerts) send mail too
    outbox = provide(
        app, outbox_key, lambda: MailOutbox.from_settings(settings, app[database_key], app[keyring_key], mailer)
    )

    def build() -> AccountService:
        repo = AccountRepository(app[database_key], app[keyring_key], app[blind_index_key])
        return AccountService.from_settings(
            settings, repo, outbox=outbox, limiter=app[limiter_key], blind_index=app[blind_index_key]
        )

    accounts = provide(app, accounts_key, build)
    app[ws_authenticate_key] = ws.authenticator(accounts)
    changed = app[suspension_changed_key]

    def on_suspension(event: dict[str, object]) -> None:
        if isinstance(user_id := event.get("user_id"), str):
            changed.send(user_id)

    unsubscribe = await app[broker_key].subscribe(ws.SUSPENSIONS_TOPIC, on_suspension)
    outbox.start()  # mail queued before a restart goes out now
    yield
    unsubscribe()
    await outbox.stop()  # what is not sent stays queued
