"""Presence: who is online now, and when each user was last seen, shown only as their setting allows.

A user is online while at least one of their connections is open, in any process. In memory by default;
with Redis, each process keeps a count per user in a hash (`presence:<user>`, one field per process) whose
key expires unless the process renews it, so a process that dies stops counting within PRESENCE_TTL.
Changes go out on the broker topic `presence:<user>` to the connections that asked to follow that user.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from server.errors import ValidationError
from server.realtime.broker import Broker
from server.storage.chat.blocks import BlockRepository
from server.storage.chat.members import MemberRepository
from server.storage.chat.settings import ChatSettingsRepository

log = logging.getLogger(__name__)

PRESENCE_TTL = 90  # seconds a process's counts live in Redis without renewal
RENEW_EVERY = 30
VISIBILITY = ("everyone", "contacts", "nobody")
RECHECK = "presence.recheck"


def presence_topic(user_id: str) -> str:
    return f"presence:{user_id}"


class PresenceService:
    def __init__(
        self,
        members: MemberRepository,
        blocks: BlockRepository,
        settings: ChatSettingsRepository,
        broker: Broker,
        redis: Any | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._members = members
        self._blocks = blocks
        self._settings = settings
        self._broker = broker
        self._redis = redis
        self._clock = clock
        self._local: dict[str, int] = defaultdict(int)
        self._process = secrets.token_hex(6)
        self._renewer: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._redis is not None:
            self._renewer = asyncio.create_task(self._renew())

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        if self._redis is not None:
            with contextlib.suppress(Exception):
                async with self._redis.pipeline(transaction=False) as pipe:
                    for user_id in self._local:
                        pipe.hdel(self._key(user_id), self._process)
                    await pipe.execute()

    @staticmethod
    def _key(user_id: str) -> str:
        return f"presence:{user_id}"

    async def connected(self, user_id: str) -> None:
        self._local[user_id] += 1
        if self._redis is not None:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hincrby(self._key(user_id), self._process, 1)
                pipe.expire(self._key(user_id), PRESENCE_TTL)
                await pipe.execute()
        if self._local[user_id] == 1:
            await self._announce(user_id, True, None)

    async def disconnected(self, user_id: str) -> None:
        self._local[user_id] -= 1
        if self._local[user_id] <= 0:
            del self._local[user_id]
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.hincrby(self._key(user_id), self._process, -1)
        if user_id not in self._local and not await self.online(user_id):
            now = self._clock()
            await self._settings.seen(user_id, now)
            await self._announce(user_id, False, now)

    async def _announce(self, user_id: str, online: bool, last_seen: float | None) -> None:
        if not self._broker.wanted(presence_topic(user_id)):
            return
        visibility, _, _ = await self._settings.settings(user_id)
        if visibility == "nobody":
            return  # followers checked the setting when they subscribed; a hidden user announces nothing
        self._broker.publish(
            presence_topic(user_id),
            {"type": "presence", "user_id": user_id, "online": online, "last_seen_at": last_seen},
        )

    async def online(self, user_id: str) -> bool:
        return not await self.offline([user_id])

    def connected_here(self, user_id: str) -> bool:
        """Has the user a connection open on this process (so is online, whatever other processes say)?"""
        return user_id in self._local

    async def offline(self, user_ids: Sequence[str]) -> list[str]:
        """Those of the users with no open connection on any process (one Redis round trip for all)."""
        maybe = [u for u in user_ids if not self._local.get(u)]
        if self._redis is None or not maybe:
            return maybe
        async with self._redis.pipeline(transaction=False) as pipe:
            for user_id in maybe:
                pipe.hvals(self._key(user_id))
            counts = await pipe.execute()
        return [u for u, c in zip(maybe, counts, strict=True) if not any(int(n) > 0 for n in c)]

    async def devices(self, user_id: str) -> int:
        """How many connections the user has open, in every process."""
        if self._redis is None:
            return self._local.get(user_id, 0)
        counts = await self._redis.hvals(self._key(user_id))
        return sum(max(0, int(n)) for n in counts)

    async def visible_to(self, viewer: str, user_id: str) -> bool:
        """May `viewer` see `user_id`'s presence? Their setting decides; blocking hides it either way."""
        if viewer == user_id:
            return True
        visibility, _, _ = await self._settings.settings(user_id)
        if visibility == "nobody":
            return False
        if await self._blocks.blocked(viewer, by=user_id):
            return False
        return visibility == "everyone" or await self._members.share_a_chat(viewer, user_id)

    async def state(self, viewer: str, user_id: str) -> dict[str, Any]:
        if not await self.visible_to(viewer, user_id):
            return {"user_id": user_id, "hidden": True}
        _, _, last_seen = await self._settings.settings(user_id)
        return {"user_id": user_id, "online": await self.online(user_id), "last_seen_at": last_seen}

    async def settings(self, user_id: str) -> dict[str, Any]:
        presence, previews, _ = await self._settings.settings(user_id)
        return {"presence": presence, "push_previews": previews}

    async def save_settings(self, user_id: str, values: dict[str, Any]) -> dict[str, Any]:
        current = await self.settings(user_id)
        presence = values.get("presence", current["presence"])
        if presence not in VISIBILITY:
            raise ValidationError("presence must be everyone, contacts or nobody", field="presence")
        await self._settings.save_settings(
            user_id, presence, bool(values.get("push_previews", current["push_previews"]))
        )
        if presence != current["presence"]:
            self.recheck(user_id)
        return await self.settings(user_id)

    def recheck(self, user_id: str) -> None:
        """Who may see this user's presence changed (their setting, a block): every follower checks again,
        and those who may no longer see it stop following. An internal event, never sent to a client."""
        self._broker.publish(presence_topic(user_id), {"type": RECHECK, "user_id": user_id})

    async def _renew(self) -> None:
        assert self._redis is not None
        while True:
            await asyncio.sleep(RENEW_EVERY)
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for user_id in list(self._local):
                        pipe.expire(self._key(user_id), PRESENCE_TTL)
                    await pipe.execute()
            except Exception:
                log.exception("renewing presence in Redis failed")
