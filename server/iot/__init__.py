"""The IoT domain: ThingSpeak-compatible channels, writes, reads, TalkBack, automation rules, live feeds, MQTT."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from aiohttp import web

from server.auth.appkeys import accounts_key, mailer_key, suspension_changed_key
from server.iot import (
    apidoc,
    embed,
    live,
    mqtt_device_routes,
    read_routes,
    retention,
    routes,
    talkback_routes,
    widget_routes,
)
from server.iot.appkeys import (
    background_key,
    channels_key,
    feeds_key,
    mqtt_devices_key,
    mqtt_key,
    rule_engine_key,
    rules_key,
    talkbacks_key,
    update_received_key,
)
from server.iot.channels import ChannelService
from server.iot.dynsec import DynSecProvisioner
from server.iot.ingest import FeedService
from server.iot.models import UpdateReceived
from server.iot.mqtt import MqttBridge, share_group_for
from server.iot.mqtt_devices import MqttDeviceService
from server.iot.rules import routes as rules_routes
from server.iot.rules.runtime import Automation
from server.keys import (
    blind_index_key,
    broker_key,
    database_key,
    keyring_key,
    metrics_key,
    settings_key,
    ws_commands_key,
)
from server.storage.batch import BatchWriter
from server.storage.channels import ChannelRepository, FeedWrite, Written, write_feeds
from server.storage.mqtt_devices import MqttDeviceRepository
from server.web.outbound import OutboundLimiter
from server.web.request_id import mark_device_routes
from server.wiring import provide


def setup(app: web.Application) -> None:
    tables = (
        routes.routes,
        read_routes.routes,
        talkback_routes.routes,
        rules_routes.routes,
        mqtt_device_routes.routes,
        widget_routes.routes,
    )
    for table in tables:
        added = app.add_routes(table)
        # The ThingSpeak API (not the web app's /api/...): what devices call, many times a second.
        mark_device_routes(app, (r for r in added if r.resource and not r.resource.canonical.startswith("/api/")))
    app.add_routes(embed.routes)  # pages for other sites' iframes: never device routes (they get page headers)
    app[ws_commands_key].add_all(live.commands)
    apidoc.document(app)
    app[update_received_key] = update_received = UpdateReceived("update_received")
    update_received.connect(talkback_routes.execute_on_update)  # /update with a talkback_key
    # A suspension (in any process) drops that account's cached write keys here at once.
    app[suspension_changed_key].connect(lambda user_id: app[channels_key].forget_owner(user_id))
    app[suspension_changed_key].connect(
        lambda user_id: _in_background(app, app[mqtt_devices_key].owner_suspension_changed(user_id))
    )
    app[background_key] = set()
    app.cleanup_ctx.append(_feeds_ctx)  # after the database: its batch writer flushes before the database closes
    app.cleanup_ctx.append(_automation_ctx)  # after the feeds: rules finish their writes before the writer flushes
    if app[settings_key].mqtt_url is not None:
        app.cleanup_ctx.append(_mqtt_ctx)  # after the feeds: the bridge hands in its last writes before they flush


def _in_background(app: web.Application, work: Coroutine[Any, Any, None]) -> None:
    """Run `work` without waiting for it (a signal's listener may not wait); kept until done."""
    task = asyncio.create_task(work)
    app[background_key].add(task)
    task.add_done_callback(app[background_key].discard)


async def _feeds_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    db = app[database_key]
    repo = ChannelRepository(db, app[keyring_key], app[blind_index_key])
    provide(app, channels_key, lambda: ChannelService(repo))
    devices = MqttDeviceRepository(db, app[keyring_key])
    provide(app, mqtt_devices_key, lambda: MqttDeviceService(devices, repo))
    writer: BatchWriter[FeedWrite, Written] = BatchWriter(
        db,
        write_feeds,
        name="feeds",
        max_rows=settings.batch_max_rows,
        max_delay_ms=settings.batch_max_delay_ms,
        max_pending=settings.batch_max_pending,
    )
    writer.start()
    app[metrics_key].writers.append(writer)
    feeds = provide(app, feeds_key, lambda: FeedService(writer))
    feeds.written.connect(live.publisher(app[broker_key]))
    sweeper = asyncio.create_task(retention.run_periodically(repo, settings.retention_sweep_seconds))
    yield
    for task in app[background_key]:
        task.cancel()
    await asyncio.gather(*app[background_key], return_exceptions=True)
    sweeper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sweeper
    await writer.close()  # every acknowledged point is already committed; this writes what is still queued


async def _automation_ctx(app: web.Application) -> AsyncIterator[None]:
    automation = Automation.start(
        db=app[database_key],
        keyring=app[keyring_key],
        blind_index=app[blind_index_key],
        channels=app[channels_key].repo,
        accounts=app[accounts_key].repo,
        feeds=app[feeds_key],
        broker=app[broker_key],
        mailer=app[mailer_key],
        allow_private_webhooks=app[settings_key].webhook_allow_private,
        webhook_limiter=OutboundLimiter(
            total=app[settings_key].outbound_max_in_flight, per_user=app[settings_key].outbound_max_in_flight_per_user
        ),
        max_reply_bytes=app[settings_key].outbound_max_reply_bytes,
    )
    app[talkbacks_key] = automation.talkbacks
    app[rules_key] = automation.rules
    app[rule_engine_key] = automation.engine
    yield
    await automation.close()  # queued evaluations and their actions finish while the feed writer still runs


async def _mqtt_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    assert settings.mqtt_url is not None
    group = share_group_for(app[blind_index_key], settings.database_url)
    admin = (
        (settings.mqtt_admin_username, settings.mqtt_admin_password)
        if settings.mqtt_admin_username and settings.mqtt_admin_password
        else None
    )
    bridge = MqttBridge(
        settings.mqtt_url,
        app[channels_key],
        app[feeds_key],
        share_group=group,
        brokered=admin is not None,
        login=admin,
        keepalive=settings.mqtt_keepalive_seconds,
    )
    provisioner: DynSecProvisioner | None = None
    if admin is not None:
        devices = app[mqtt_devices_key]
        provisioner = DynSecProvisioner(
            bridge.host,
            bridge.port,
            username=admin[0],
            password=admin[1],
            tls=bridge.tls,
            devices=devices.everything,
            bridge_username=bridge.login_name,
        )
        devices.provisioner = provisioner
        await provisioner.start()
    await bridge.start()
    app[mqtt_key] = bridge
    app[metrics_key].counters["mqtt_bridge"] = ("MQTT bridge counters since start", bridge.stats)
    yield
    await bridge.close()
    if provisioner is not None:
        app[mqtt_devices_key].provisioner = None
        await provisioner.close()
