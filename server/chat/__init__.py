"""The chat domain: chats, members, messages, attachments, presence, push, moderation and the key directory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from server.auth.appkeys import accounts_key
from server.auth.ws import set_suspended_everywhere
from server.chat import apidoc, attachment_routes, inbox_routes, invite_routes, key_routes, push_routes, routes, ws
from server.chat.appkeys import (
    attachments_key,
    chat_key,
    inbox_key,
    invites_key,
    key_directory_key,
    messages_key,
    moderation_key,
    presence_key,
    push_key,
)
from server.chat.attachments import AttachmentService
from server.chat.inbox import ToDeviceInbox
from server.chat.invites import InviteService
from server.chat.keydir import KeyDirectory
from server.chat.messages import MessageService
from server.chat.moderation import ModerationService
from server.chat.notify import PushNotifier
from server.chat.presence import PresenceService
from server.chat.push import PushService, push_client_session
from server.chat.service import ChatService
from server.events.appkeys import event_log_key
from server.keys import (
    blind_index_key,
    broker_key,
    database_key,
    keyring_key,
    limiter_key,
    metrics_key,
    redis_key,
    settings_key,
    ws_authenticated_key,
    ws_commands_key,
)
from server.storage.attachments import AttachmentRepository
from server.storage.batch import BatchWriter
from server.storage.chat.blocks import BlockRepository
from server.storage.chat.chats import ChatRepository
from server.storage.chat.invites import InviteRepository
from server.storage.chat.members import MemberRepository
from server.storage.chat.messages import MessageRepository
from server.storage.chat.records import Send, SendRefused, Sent
from server.storage.chat.reports import ReportRepository
from server.storage.chat.sends import SendRepository
from server.storage.chat.settings import ChatSettingsRepository
from server.storage.inbox import InboxRepository
from server.storage.keydir import KeyDirectoryRepository
from server.storage.push import PushRepository
from server.wiring import provide


def setup(app: web.Application) -> None:
    for table in (
        push_routes.routes,
        key_routes.routes,
        inbox_routes.routes,
        routes.routes,
        invite_routes.routes,
        attachment_routes.routes,
    ):
        app.add_routes(table)
    app[ws_commands_key].add_all(ws.commands)
    app[ws_authenticated_key].connect(ws.on_authenticated)  # presence: online while a socket is open
    app[ws_authenticated_key].connect(inbox_routes.hear_device)  # its device's to-device messages
    apidoc.document(app)
    app.cleanup_ctx.append(_key_directory_ctx)
    app.cleanup_ctx.append(_push_ctx)  # before chat: messages to users with no connection notify through it
    app.cleanup_ctx.append(_attachments_ctx)  # before chat: sends take uploads through it
    app.cleanup_ctx.append(_chat_ctx)  # after the broker and database: messages flush before either closes


async def _key_directory_ctx(app: web.Application) -> AsyncIterator[None]:
    repo = KeyDirectoryRepository(app[database_key])
    events = app[event_log_key]
    directory = provide(app, key_directory_key, lambda: KeyDirectory(repo, app[limiter_key], events=events))
    inbox = InboxRepository(app[database_key], app[keyring_key])
    provide(app, inbox_key, lambda: ToDeviceInbox(inbox, repo, app[broker_key], app[limiter_key]))
    # A session that ends takes its device out of the directory; the sweep finds those that expired.
    ended = app[accounts_key].sessions_ended
    ended.connect(directory.forget_ended_sessions)
    sweeper = asyncio.create_task(directory.run_sweeper())
    yield
    ended.disconnect(directory.forget_ended_sessions)
    sweeper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sweeper


async def _push_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    client = push_client_session(allow_loopback=settings.push_allow_loopback)
    repo = PushRepository(app[database_key], app[keyring_key], app[blind_index_key])
    provide(app, push_key, lambda: PushService.from_settings(settings, repo, client))
    yield
    await client.close()


async def _attachments_ctx(app: web.Application) -> AsyncIterator[None]:
    repo = AttachmentRepository(app[database_key], app[keyring_key])
    service = provide(
        app, attachments_key, lambda: AttachmentService.from_settings(app[settings_key], repo, app[limiter_key])
    )
    sweeper = asyncio.create_task(service.run_sweeper())
    yield
    sweeper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sweeper


async def _chat_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    events = app[event_log_key]
    db, keyring, blind_index = app[database_key], app[keyring_key], app[blind_index_key]
    uploads = app[attachments_key].repo
    chats = ChatRepository(db, keyring, blind_index, uploads)
    members = MemberRepository(db)
    messages = MessageRepository(db, keyring, uploads)
    blocks = BlockRepository(db)
    chat_settings = ChatSettingsRepository(db)
    sends = SendRepository(messages, uploads, events.repo)
    writer: BatchWriter[Send, Sent | SendRefused] = BatchWriter(
        db,
        sends.write_sends,
        name="messages",
        max_rows=settings.batch_max_rows,
        max_delay_ms=settings.batch_max_delay_ms,
        max_pending=settings.batch_max_pending,
    )
    writer.start()
    app[metrics_key].writers.append(writer)
    accounts = app[accounts_key]
    chat = provide(
        app,
        chat_key,
        lambda: ChatService(
            chats, members, messages, events, names=accounts.repo.display_names, active_ids=accounts.repo.active_ids
        ),
    )
    message_service = provide(
        app,
        messages_key,
        lambda: MessageService(chat, messages, writer, app[limiter_key], send_limit=settings.rate_chat_send),
    )
    events.add_reader("message.new", message_service.read_new_messages)
    provide(app, invites_key, lambda: InviteService(chat, InviteRepository(db, keyring, blind_index)))
    presence = provide(
        app, presence_key, lambda: PresenceService(members, blocks, chat_settings, app[broker_key], app[redis_key])
    )
    presence.start()
    moderation = provide(
        app,
        moderation_key,
        lambda: ModerationService(
            chat,
            message_service,
            blocks,
            ReportRepository(db, keyring),
            lambda user_id: set_suspended_everywhere(accounts, app[broker_key], user_id, True),
        ),
    )
    moderation.blocked.connect(presence.recheck)
    notifier = PushNotifier(app[push_key], presence, chats, members, chat_settings)
    notifier.start()
    app[metrics_key].counters["message_push"] = ("Message pushes since start", notifier.stats)
    message_service.message_sent.connect(notifier)  # members with no open connection get a Web Push
    yield
    await writer.close()  # acknowledged messages are committed already; this writes what is still queued
    await notifier.close()
    await presence.close()
