"""create_app(settings): the one place that wires the application together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from server import keys
from server.auth import pages as auth_pages
from server.auth import routes as auth_routes
from server.auth.mail import LogMailer, Mailer, SmtpMailer
from server.auth.service import AccountService
from server.chat import attachment_routes, key_routes, push_routes
from server.chat import routes as chat_routes
from server.chat import ws as chat_ws
from server.chat.attachments import AttachmentService
from server.chat.keys import KeyDirectory
from server.chat.moderation import ModerationService
from server.chat.notify import PushNotifier
from server.chat.presence import PresenceService
from server.chat.push import PushService, push_client_session
from server.chat.service import ChatService
from server.config import Settings
from server.crypto.keyring import BlindIndex, Keyring
from server.iot import live, read_routes, retention, talkback_routes
from server.iot import routes as iot_routes
from server.iot.channels import ChannelService
from server.iot.ingest import FeedService
from server.iot.mqtt import MqttBridge, share_group_for
from server.iot.routes import UpdateExtra
from server.iot.rules import routes as rules_routes
from server.iot.rules.runtime import Automation
from server.ops import health
from server.ops.metrics import Metrics, metrics_middleware
from server.realtime import routes as realtime_routes
from server.realtime.broker import open_broker
from server.realtime.commands import CommandTable, WsAuthHook
from server.realtime.connections import ConnectionRegistry
from server.storage import database as storage
from server.storage.accounts import AccountRepository
from server.storage.attachments import AttachmentRepository
from server.storage.batch import BatchWriter
from server.storage.channels import ChannelRepository, FeedWrite, Written, write_feeds
from server.storage.chat import ChatExtrasRepository, ChatRepository, Send, SendRefused, Sent
from server.storage.keydir import KeyDirectoryRepository
from server.storage.migrations import migrate
from server.storage.push import PushRepository
from server.web import openapi
from server.web.errors import setup_errors
from server.web.headers import setup_security_headers
from server.web.ratelimit import MemoryRateLimiter, RedisRateLimiter
from server.web.request_id import setup_request_id
from server.web.static import setup_static

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, mailer: Mailer | None = None) -> web.Application:
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[keys.settings_key] = settings
    app[keys.keyring_key] = Keyring(settings.encryption_keys)
    app[keys.blind_index_key] = BlindIndex(settings.blind_index_key)
    metrics = Metrics()
    app[keys.metrics_key] = metrics
    connections = ConnectionRegistry()
    app[keys.connections_key] = connections
    metrics.open_websockets = lambda: len(connections)

    # Middlewares, outermost first: request id and access log see every outcome; metrics count it;
    # errors turn every exception into a JSON answer before the two above look at its status.
    setup_request_id(app)
    app.middlewares.append(metrics_middleware(metrics))
    setup_errors(app)
    setup_security_headers(app)

    # Long-lived resources, opened in this order and closed in reverse.
    app.cleanup_ctx.append(_redis_ctx)
    app.cleanup_ctx.append(_database_ctx)
    app.cleanup_ctx.append(_services_ctx(mailer))
    app.cleanup_ctx.append(_key_directory_ctx)  # after the services: claims use their rate limiter
    app.cleanup_ctx.append(_broker_ctx)
    app.cleanup_ctx.append(_iot_ctx)  # after the database: its batch writer flushes before the database closes
    app.cleanup_ctx.append(_automation_ctx)  # after the feeds: rules finish their writes before the writer flushes
    app.cleanup_ctx.append(_push_ctx)  # before chat: messages to users with no connection notify through it
    app.cleanup_ctx.append(_attachments_ctx)  # before chat: sends take uploads through it
    app.cleanup_ctx.append(_chat_ctx)  # after the broker and database: messages flush before either closes
    if settings.mqtt_url is not None:
        app.cleanup_ctx.append(_mqtt_ctx)  # after the feeds: the bridge hands in its last writes before they flush
    app.on_shutdown.append(_close_websockets)

    app.add_routes(health.routes)
    app.add_routes(auth_routes.routes)
    app.add_routes(auth_pages.routes)
    app.add_routes(iot_routes.routes)
    app.add_routes(read_routes.routes)
    app.add_routes(realtime_routes.routes)
    app.add_routes(talkback_routes.routes)
    app.add_routes(rules_routes.routes)
    app.add_routes(push_routes.routes)
    app.add_routes(key_routes.routes)
    app.add_routes(chat_routes.routes)
    app.add_routes(attachment_routes.routes)
    app.add_routes(openapi.routes)
    update_hooks: list[UpdateExtra] = [talkback_routes.execute_on_update]  # /update with talkback_key
    app[keys.update_hooks_key] = update_hooks
    app[keys.ws_commands_key] = CommandTable()
    live.register(app[keys.ws_commands_key])
    chat_ws.register(app[keys.ws_commands_key])
    auth_hooks: list[WsAuthHook] = [chat_ws.on_auth]  # presence: the user is online while a socket is open
    app[keys.ws_auth_hooks_key] = auth_hooks
    setup_static(app)  # last: its catch-all pattern must not shadow the routes above
    return app


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.settings_key]
    if settings.redis_url is None:
        app[keys.redis_key] = None
        yield
        return
    from redis.asyncio import Redis

    client = Redis.from_url(settings.redis_url)
    await client.ping()
    app[keys.redis_key] = client
    yield
    await client.aclose()


async def _database_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.settings_key]
    db = await storage.connect(settings.database_url, readers=settings.sqlite_readers, pool_size=settings.pg_pool_size)
    try:
        await migrate(db)
    except BaseException:
        await db.close()
        raise
    app[keys.database_key] = db
    app[keys.metrics_key].database = db
    yield
    await db.close()


def _services_ctx(mailer: Mailer | None):  # type: ignore[no-untyped-def]
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[keys.settings_key]
        redis = app[keys.redis_key]
        limiter = RedisRateLimiter(redis) if redis is not None else MemoryRateLimiter()
        app[keys.limiter_key] = limiter
        chosen = mailer or (
            SmtpMailer(settings.smtp_host, settings.smtp_port, settings.smtp_from)
            if settings.smtp_host
            else LogMailer(settings.smtp_from)
        )
        repo = AccountRepository(app[keys.database_key], app[keys.keyring_key], app[keys.blind_index_key])
        app[keys.mailer_key] = chosen  # rules alert owners by e-mail too
        app[keys.accounts_key] = AccountService.from_settings(
            settings, repo, mailer=chosen, limiter=limiter, blind_index=app[keys.blind_index_key]
        )
        yield
        await limiter.close()

    return ctx


async def _broker_ctx(app: web.Application) -> AsyncIterator[None]:
    broker = await open_broker(app[keys.redis_key])
    app[keys.broker_key] = broker
    yield
    await broker.close()


async def _key_directory_ctx(app: web.Application) -> AsyncIterator[None]:
    repo = KeyDirectoryRepository(app[keys.database_key])
    app[keys.key_directory_key] = KeyDirectory(repo, app[keys.limiter_key])
    yield


async def _push_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.settings_key]
    client = push_client_session(allow_loopback=settings.push_allow_loopback)
    repo = PushRepository(app[keys.database_key], app[keys.keyring_key], app[keys.blind_index_key])
    app[keys.push_key] = PushService.from_settings(settings, repo, client)
    yield
    await client.close()


async def _iot_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.settings_key]
    db = app[keys.database_key]
    repo = ChannelRepository(db, app[keys.keyring_key], app[keys.blind_index_key])
    app[keys.channels_key] = ChannelService(repo)
    writer: BatchWriter[FeedWrite, Written] = BatchWriter(
        db, write_feeds, name="feeds", max_rows=settings.batch_max_rows, max_delay_ms=settings.batch_max_delay_ms
    )
    writer.start()
    app[keys.metrics_key].writers.append(writer)
    feeds = FeedService(writer)
    feeds.listeners.append(live.publisher(app[keys.broker_key]))
    app[keys.feeds_key] = feeds
    sweeper = asyncio.create_task(retention.run_periodically(repo, settings.retention_sweep_seconds))
    yield
    sweeper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sweeper
    await writer.close()  # every acknowledged point is already committed; this writes what is still queued


async def _attachments_ctx(app: web.Application) -> AsyncIterator[None]:
    repo = AttachmentRepository(app[keys.database_key], app[keys.keyring_key])
    service = AttachmentService.from_settings(app[keys.settings_key], repo, app[keys.limiter_key])
    app[keys.attachments_key] = service
    sweeper = asyncio.create_task(service.run_sweeper())
    yield
    sweeper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sweeper


async def _chat_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.settings_key]
    repo = ChatRepository(
        app[keys.database_key], app[keys.keyring_key], app[keys.blind_index_key], app[keys.attachments_key].repo
    )
    writer: BatchWriter[Send, Sent | SendRefused] = BatchWriter(
        repo.db,
        repo.write_sends,
        name="messages",
        max_rows=settings.batch_max_rows,
        max_delay_ms=settings.batch_max_delay_ms,
    )
    writer.start()
    app[keys.metrics_key].writers.append(writer)
    extras = ChatExtrasRepository(repo.db, app[keys.keyring_key], app[keys.blind_index_key])
    chat = ChatService(
        repo,
        extras,
        writer,
        app[keys.broker_key],
        app[keys.limiter_key],
        send_limit=settings.rate_chat_send,
        names=app[keys.accounts_key].repo.display_names,
        active_ids=app[keys.accounts_key].repo.active_ids,
    )
    app[keys.chat_key] = chat
    presence = PresenceService(repo, extras, app[keys.broker_key], app[keys.redis_key])
    presence.start()
    app[keys.presence_key] = presence
    accounts = app[keys.accounts_key]
    moderation = ModerationService(chat, lambda user_id: accounts.set_suspended(user_id, True))
    moderation.on_block = presence.recheck
    app[keys.moderation_key] = moderation
    notifier = PushNotifier(app[keys.push_key], presence, repo, extras)
    notifier.start()
    app[keys.metrics_key].counters["message_push"] = ("Message pushes since start", notifier.stats)
    chat.message_listeners.append(notifier)  # members with no open connection get a Web Push
    yield
    await writer.close()  # acknowledged messages are committed already; this writes what is still queued
    await notifier.close()
    await presence.close()


async def _mqtt_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.settings_key]
    assert settings.mqtt_url is not None
    group = share_group_for(app[keys.blind_index_key], settings.database_url)
    bridge = MqttBridge(settings.mqtt_url, app[keys.channels_key], app[keys.feeds_key], share_group=group)
    await bridge.start()
    app[keys.mqtt_key] = bridge
    app[keys.metrics_key].counters["mqtt_bridge"] = ("MQTT bridge counters since start", bridge.stats)
    yield
    await bridge.close()


async def _automation_ctx(app: web.Application) -> AsyncIterator[None]:
    automation = Automation.start(
        db=app[keys.database_key],
        keyring=app[keys.keyring_key],
        blind_index=app[keys.blind_index_key],
        channels=app[keys.channels_key].repo,
        accounts=app[keys.accounts_key].repo,
        feeds=app[keys.feeds_key],
        broker=app[keys.broker_key],
        mailer=app[keys.mailer_key],
        allow_private_webhooks=app[keys.settings_key].webhook_allow_private,
    )
    app[keys.talkbacks_key] = automation.talkbacks
    app[keys.rules_key] = automation.rules
    app[keys.rule_engine_key] = automation.engine
    yield
    await automation.close()  # queued evaluations and their actions finish while the feed writer still runs


async def _close_websockets(app: web.Application) -> None:
    await app[keys.connections_key].close_all()
