"""Builds the automation parts (TalkBack, rules, their engine) from the app's shared resources, and stops them."""

from __future__ import annotations

from dataclasses import dataclass

from server.auth.mail import Mailer
from server.crypto.keyring import BlindIndex, Keyring
from server.iot.ingest import FeedService
from server.iot.rules.actions import ActionRunner
from server.iot.rules.engine import RuleEngine
from server.iot.rules.service import RuleService
from server.iot.rules.webhook import WebhookSender
from server.iot.talkback import TalkBackService
from server.realtime.broker import Broker
from server.storage.accounts import AccountRepository
from server.storage.channels import ChannelRepository
from server.storage.database import Database
from server.storage.rules import RuleRepository
from server.storage.talkback import TalkBackRepository
from server.web.outbound import MAX_REPLY_BYTES, OutboundLimiter


@dataclass
class Automation:
    talkbacks: TalkBackService
    rules: RuleService
    engine: RuleEngine
    webhooks: WebhookSender
    feeds: FeedService

    @classmethod
    def start(
        cls,
        *,
        db: Database,
        keyring: Keyring,
        blind_index: BlindIndex,
        channels: ChannelRepository,
        accounts: AccountRepository,
        feeds: FeedService,
        broker: Broker,
        mailer: Mailer,
        allow_private_webhooks: bool,
        webhook_limiter: OutboundLimiter | None = None,
        max_reply_bytes: int = MAX_REPLY_BYTES,
    ) -> Automation:
        talkback_repo = TalkBackRepository(db, keyring, blind_index)
        talkbacks = TalkBackService(talkback_repo, channels, feeds)
        rule_repo = RuleRepository(db, keyring)
        webhooks = WebhookSender(
            allow_private=allow_private_webhooks, limiter=webhook_limiter, max_reply_bytes=max_reply_bytes
        )
        runner = ActionRunner(
            talkbacks=talkbacks,
            feeds=feeds,
            channels=channels,
            accounts=accounts,
            broker=broker,
            mailer=mailer,
            webhooks=webhooks,
        )
        engine = RuleEngine(rule_repo, runner)
        rules = RuleService(
            rule_repo,
            channels,
            talkback_repo,
            allow_private_webhooks=allow_private_webhooks,
            on_change=engine.note_rules,
        )
        engine.start()
        feeds.written.connect(engine.on_written)
        return cls(talkbacks, rules, engine, webhooks, feeds)

    async def close(self) -> None:
        """Stop evaluating (what is queued is still evaluated), then close the webhook client."""
        self.feeds.written.disconnect(self.engine.on_written)
        await self.engine.close()
        await self.webhooks.close()
