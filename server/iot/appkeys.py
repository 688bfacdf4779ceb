"""The IoT domain's typed application keys."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from server.iot.channels import ChannelService
    from server.iot.ingest import FeedService
    from server.iot.models import UpdateReceived
    from server.iot.mqtt import MqttBridge
    from server.iot.mqtt_devices import MqttDeviceService
    from server.iot.rules.engine import RuleEngine
    from server.iot.rules.service import RuleService
    from server.iot.talkback import TalkBackService

channels_key: web.AppKey[ChannelService] = web.AppKey("channels")
feeds_key: web.AppKey[FeedService] = web.AppKey("feeds")
mqtt_key: web.AppKey[MqttBridge] = web.AppKey("mqtt")  # only when MQTT_URL is set
mqtt_devices_key: web.AppKey[MqttDeviceService] = web.AppKey("mqtt_devices")
talkbacks_key: web.AppKey[TalkBackService] = web.AppKey("talkbacks")
rules_key: web.AppKey[RuleService] = web.AppKey("rules")
rule_engine_key: web.AppKey[RuleEngine] = web.AppKey("rule_engine")
update_received_key: web.AppKey[UpdateReceived] = web.AppKey("update_received")
background_key: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("iot_background")  # work a signal started
