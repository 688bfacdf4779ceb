"""Every typed application and request key, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from server.auth.mail import Mailer
    from server.auth.service import AccountService, Principal
    from server.chat.attachments import AttachmentService
    from server.chat.keys import KeyDirectory
    from server.chat.moderation import ModerationService
    from server.chat.presence import PresenceService
    from server.chat.push import PushService
    from server.chat.service import ChatService
    from server.config import Settings
    from server.crypto.keyring import BlindIndex, Keyring
    from server.iot.channels import ChannelService
    from server.iot.ingest import FeedService
    from server.iot.mqtt import MqttBridge
    from server.iot.routes import UpdateExtra
    from server.iot.rules.engine import RuleEngine
    from server.iot.rules.service import RuleService
    from server.iot.talkback import TalkBackService
    from server.ops.metrics import Metrics
    from server.realtime.broker import Broker
    from server.realtime.commands import CommandTable, WsAuthHook
    from server.realtime.connections import ConnectionRegistry
    from server.storage.database import Database
    from server.web.ratelimit import RateLimiter

settings_key: web.AppKey[Settings] = web.AppKey("settings")
database_key: web.AppKey[Database] = web.AppKey("database")
keyring_key: web.AppKey[Keyring] = web.AppKey("keyring")
blind_index_key: web.AppKey[BlindIndex] = web.AppKey("blind_index")
accounts_key: web.AppKey[AccountService] = web.AppKey("accounts")
limiter_key: web.AppKey[RateLimiter] = web.AppKey("limiter")
metrics_key: web.AppKey[Metrics] = web.AppKey("metrics")
connections_key: web.AppKey[ConnectionRegistry] = web.AppKey("connections")
redis_key: web.AppKey[Any] = web.AppKey("redis")
broker_key: web.AppKey[Broker] = web.AppKey("broker")
ws_commands_key: web.AppKey[CommandTable] = web.AppKey("ws_commands")
update_hooks_key: web.AppKey[list[UpdateExtra]] = web.AppKey("update_hooks")
channels_key: web.AppKey[ChannelService] = web.AppKey("channels")
feeds_key: web.AppKey[FeedService] = web.AppKey("feeds")
mqtt_key: web.AppKey[MqttBridge] = web.AppKey("mqtt")  # only when MQTT_URL is set
mailer_key: web.AppKey[Mailer] = web.AppKey("mailer")
talkbacks_key: web.AppKey[TalkBackService] = web.AppKey("talkbacks")
rules_key: web.AppKey[RuleService] = web.AppKey("rules")
rule_engine_key: web.AppKey[RuleEngine] = web.AppKey("rule_engine")
push_key: web.AppKey[PushService] = web.AppKey("push")
key_directory_key: web.AppKey[KeyDirectory] = web.AppKey("key_directory")
chat_key: web.AppKey[ChatService] = web.AppKey("chat")
attachments_key: web.AppKey[AttachmentService] = web.AppKey("attachments")
presence_key: web.AppKey[PresenceService] = web.AppKey("presence")
moderation_key: web.AppKey[ModerationService] = web.AppKey("moderation")
# Run after a WebSocket authenticates (each may add connection cleanups).
ws_auth_hooks_key: web.AppKey[list[WsAuthHook]] = web.AppKey("ws_auth_hooks")

# Per request.
principal_key: web.RequestKey[Principal] = web.RequestKey("principal")
