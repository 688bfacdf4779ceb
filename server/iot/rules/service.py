"""Rule rules: a channel's owner creates, changes and removes its automation rules; every channel and TalkBack a
rule's actions name must be theirs too. Changing a rule's config, or enabling it again, starts its state afresh."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from server.errors import ApiError, NotFound, ValidationError
from server.iot.rules import kinds
from server.iot.rules.actions import validate_actions
from server.storage.channels import Channel, ChannelRepository
from server.storage.rules import Rule, RuleEvent, RuleRepository
from server.storage.talkback import TalkBackRepository

MAX_RULES = 50  # per channel
MAX_NAME = 100


class RuleService:
    def __init__(
        self,
        repo: RuleRepository,
        channels: ChannelRepository,
        talkbacks: TalkBackRepository,
        *,
        allow_private_webhooks: bool = False,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[int], None] = lambda channel_id: None,
    ) -> None:
        self.repo = repo
        self._on_change = on_change  # tells the engine a channel's rules changed
        self._db = repo.db
        self._channels = channels
        self._talkbacks = talkbacks
        self._allow_private = allow_private_webhooks
        self._clock = clock

    async def _channel(self, channel_id: int, owner_id: str) -> Channel:
        channel = await self._channels.get(channel_id)
        if channel is None or channel.owner_id != owner_id:
            raise NotFound("no such channel of yours", code="channel_not_found")
        return channel

    async def _rule(self, channel_id: int, owner_id: str, rule_id: str) -> Rule:
        await self._channel(channel_id, owner_id)
        rule = await self.repo.get(rule_id)
        if rule is None or rule.channel_id != channel_id:
            raise NotFound("no such rule on this channel", code="rule_not_found")
        return rule

    async def _actions(self, raw: Any, owner_id: str) -> list[dict[str, Any]]:
        actions = validate_actions(raw, allow_private=self._allow_private)
        for index, action in enumerate(actions):
            if action["type"] == "talkback":
                talkback = await self._talkbacks.get(action["talkback_id"])
                if talkback is None or talkback.owner_id != owner_id:
                    raise ValidationError("{field} is not a TalkBack of yours", field=f"actions[{index}].talkback_id")
            elif action["type"] == "write":
                channel = await self._channels.get(action["channel_id"])
                if channel is None or channel.owner_id != owner_id:
                    raise ValidationError("{field} is not a channel of yours", field=f"actions[{index}].channel_id")
        return actions

    @staticmethod
    def _name(value: Any) -> str:
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
            raise ValidationError(
                "{field} must be a non-empty string of at most {limit} characters", field="name", limit=MAX_NAME
            )
        return value.strip()

    async def create(self, channel_id: int, owner_id: str, body: dict[str, Any]) -> Rule:
        await self._channel(channel_id, owner_id)
        kind = body.get("kind")
        if kind not in kinds.KINDS:
            raise ValidationError("{field} must be one of {choices}", field="kind", choices=", ".join(kinds.KINDS))
        config = kinds.validate_config(kind, body.get("config"))
        actions = await self._actions(body.get("actions"), owner_id)
        if await self.repo.count_of_channel(channel_id) >= MAX_RULES:
            raise ApiError("a channel has at most {limit} rules", code="too_many_rules", status=409, limit=MAX_RULES)
        now = self._clock()
        rule = Rule(
            id=uuid.uuid4().hex,
            channel_id=channel_id,
            owner_id=owner_id,
            name=self._name(body.get("name")),
            kind=kind,
            enabled=bool(body.get("enabled", True)),
            config=config,
            actions=actions,
            state=kinds.initial_state(kind, now),
            created_at=now,
            updated_at=now,
        )
        async with self._db.transaction() as tx:
            await self.repo.create(tx, rule)
        self._on_change(channel_id)
        return rule

    async def of_channel(
        self, channel_id: int, owner_id: str, after: tuple[float, str] | None, limit: int
    ) -> list[Rule]:
        await self._channel(channel_id, owner_id)
        return await self.repo.of_channel(channel_id, after, limit)

    async def get(self, channel_id: int, owner_id: str, rule_id: str) -> Rule:
        return await self._rule(channel_id, owner_id, rule_id)

    async def update(self, channel_id: int, owner_id: str, rule_id: str, changes: dict[str, Any]) -> Rule:
        rule = await self._rule(channel_id, owner_id, rule_id)
        if "kind" in changes and changes["kind"] != rule.kind:
            raise ValidationError("a rule's kind cannot change; create another rule", field="kind")
        values: dict[str, Any] = {}
        if "name" in changes:
            values["name"] = self._name(changes["name"])
        if "actions" in changes:
            values["actions"] = await self._actions(changes["actions"], owner_id)
        if "config" in changes:
            values["config"] = kinds.validate_config(rule.kind, changes["config"])
        enabled = bool(changes["enabled"]) if "enabled" in changes else None
        saved = await self._save(rule_id, values, enabled)
        self._on_change(channel_id)
        return saved

    async def set_enabled(self, channel_id: int, owner_id: str, rule_id: str, enabled: bool) -> Rule:
        await self._rule(channel_id, owner_id, rule_id)
        saved = await self._save(rule_id, {}, enabled)
        self._on_change(channel_id)
        return saved

    async def _save(self, rule_id: str, values: dict[str, Any], enabled: bool | None) -> Rule:
        """Apply changes to the rule as it is now, inside a transaction holding its row: an evaluation under way
        finishes first, and the state it saved is kept unless the change starts the rule afresh."""
        now = self._clock()
        async with self._db.transaction() as tx:
            current = await self.repo.lock(tx, rule_id, now, only_enabled=False)
            if current is None:
                raise NotFound("no such rule on this channel", code="rule_not_found")
            rule = replace(current, **values, updated_at=now)
            # Whatever happened while it was off is not its history: no PID dt across the gap, no stale silence.
            fresh = rule.config != current.config or (enabled is True and not current.enabled)
            if fresh:
                rule = replace(rule, state=kinds.initial_state(rule.kind, now))
            if enabled is not None:
                rule = replace(rule, enabled=enabled)
            await self.repo.update(tx, rule)
        return rule

    async def delete(self, channel_id: int, owner_id: str, rule_id: str) -> None:
        await self._rule(channel_id, owner_id, rule_id)
        async with self._db.transaction() as tx:
            await self.repo.delete(tx, rule_id)

    async def events(
        self, channel_id: int, owner_id: str, rule_id: str, before: int | None, limit: int
    ) -> list[RuleEvent]:
        await self._rule(channel_id, owner_id, rule_id)
        return await self.repo.events(rule_id, before, limit)
