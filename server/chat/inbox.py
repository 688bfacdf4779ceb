"""To-device messages: a device sends a payload for each of some devices (Olm ciphertext, key requests: opaque to
the server), each target device receives its own once. No aiohttp here.

Decisions:

- A device is a signed-in session (server/chat/keydir.py), so a socket signed in with a session's token is that
  device's socket: nothing to name or check, and no way to read another device's inbox.
- A message waits in the target device's inbox until that device acknowledges it (`acknowledge(up_to)`), so it
  survives the device being offline; it is also pushed live to the device's open sockets. Ids count up per device
  and never repeat, so "everything up to id N" is always well defined. The inbox goes with the device (its keys
  removed, or its session ended: server/chat/keydir.py).
- Targets are live devices of the named user; `*` names all of them (but the sender's own). A device id that is
  not a live device of that user is reported back in `undelivered`, as is one whose inbox is full: neither is the
  sender's mistake (a device may have gone meanwhile), and the others still get theirs.
- Limits: MAX_TARGETS payloads per send, MAX_CONTENT_BYTES each, MAX_PENDING waiting per device, SENDS per user.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from server.auth.service import Principal
from server.chat.keydir import not_published
from server.config import RateLimit
from server.errors import ValidationError
from server.realtime.broker import Broker
from server.storage.inbox import Delivery, InboxMessage, InboxRepository
from server.storage.keydir import KeyDirectoryRepository
from server.web.ratelimit import RateLimiter, enforce

MAX_TARGETS = 250  # payloads per send (the crypto library sends at most 250 per request)
MAX_CONTENT_BYTES = 16 * 1024  # one payload, as JSON: an Olm-encrypted room key is about 1.5 KB
MAX_PENDING = 2000  # messages waiting per device
MAX_PAGE = 500
SENDS = RateLimit(300, 60)  # per sending user
ALL_DEVICES = "*"

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TYPE = re.compile(r"[A-Za-z0-9._-]{1,64}")


def device_topic(session_id: str) -> str:
    """Where a device's to-device messages are pushed live: the sockets of its session (never sent to clients)."""
    return f"todevice:{session_id}"


def message_dict(message: InboxMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "sender_id": message.sender_id,
        "sender_device_id": message.sender_device_id,
        "type": message.type,
        "content": message.content,
        "created_at": message.created_at,
    }


def event_type_of(value: Any) -> str:
    if not isinstance(value, str) or not _TYPE.fullmatch(value):
        raise ValidationError("{field} must be 1 to 64 letters, digits, dots, dashes or underscores", field="type")
    return value


def messages_of(value: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """`{user_id: {device_id or "*": content object}}`, checked whole before anything is stored."""
    if not isinstance(value, dict):
        raise ValidationError("{field} must be an object", field="messages", code="wrong_type")
    count = 0
    for user_id, devices in value.items():
        if not _ID.fullmatch(user_id):
            raise ValidationError("{field} holds something that is not a user id", field="messages")
        where = f"messages.{user_id}"
        if not isinstance(devices, dict):
            raise ValidationError("{field} must be an object", field=where, code="wrong_type")
        for device_id, content in devices.items():
            if device_id != ALL_DEVICES and not _ID.fullmatch(device_id):
                raise ValidationError("{field} holds something that is not a device id", field=where)
            count += 1
            if count > MAX_TARGETS:
                raise ValidationError(
                    "{field} holds more than {limit} payloads", field="messages", code="too_long", limit=MAX_TARGETS
                )
            field = f"{where}.{device_id}"
            if not isinstance(content, dict):
                raise ValidationError("{field} must be an object", field=field, code="wrong_type")
            if len(orjson.dumps(content)) > MAX_CONTENT_BYTES:
                raise ValidationError(
                    "{field} is longer than {limit} bytes", field=field, code="too_long", limit=MAX_CONTENT_BYTES
                )
    if count == 0:
        raise ValidationError("{field} must hold at least one payload", field="messages", code="required")
    return value


@dataclass(frozen=True)
class SendResult:
    sent: int
    undelivered: list[tuple[str, str, str]]  # (user id, device id, why: "unknown_device" or "inbox_full")


class ToDeviceInbox:
    def __init__(
        self,
        repo: InboxRepository,
        devices: KeyDirectoryRepository,
        broker: Broker,
        limiter: RateLimiter,
        *,
        max_pending: int = MAX_PENDING,
        sends: RateLimit = SENDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self._db = repo.db
        self._devices = devices
        self._broker = broker
        self._limiter = limiter
        self._max_pending = max_pending
        self._sends = sends
        self._clock = clock

    async def send(self, principal: Principal, event_type: str, messages: dict[str, dict[str, Any]]) -> SendResult:
        await enforce(self._limiter, self._sends, f"todevice.send:{principal.user.id}")
        now = self._clock()
        sender = await self._devices.device_of_session(principal.session_id)
        sender_device_id = sender.id if sender else None
        deliveries: dict[str, Delivery] = {}
        owners: dict[str, tuple[str, str]] = {}  # device id -> (user id, session id)
        undelivered: list[tuple[str, str, str]] = []
        for user_id, devices in messages.items():
            live = {d.id: d for d in await self._devices.live_devices(user_id, now)}
            targets: dict[str, Any] = {}
            if ALL_DEVICES in devices:
                targets = {d: devices[ALL_DEVICES] for d in live if d != sender_device_id}
            for device_id, content in devices.items():  # a device named as well as "*" gets its own payload
                if device_id == ALL_DEVICES:
                    continue
                if device_id in live:
                    targets[device_id] = content
                else:
                    undelivered.append((user_id, device_id, "unknown_device"))
            for device_id, content in targets.items():
                owners[device_id] = (user_id, live[device_id].session_id)
                deliveries[device_id] = Delivery(device_id, principal.user.id, sender_device_id, event_type, content)
        stored: list[tuple[int, Delivery]] = []
        async with self._db.transaction() as tx:
            reserved: dict[str, int] = {}
            for device_id in sorted(deliveries):
                last = await self.repo.reserve_ids(tx, device_id, 1)
                if last is not None:
                    reserved[device_id] = last
            counts = await self.repo.pending_counts(tx, list(reserved))
            for device_id, delivery in sorted(deliveries.items()):
                user_id = owners[device_id][0]
                if device_id not in reserved:
                    undelivered.append((user_id, device_id, "unknown_device"))
                elif counts.get(device_id, 0) >= self._max_pending:
                    undelivered.append((user_id, device_id, "inbox_full"))
                else:
                    stored.append((reserved[device_id], delivery))
            if stored:
                await self.repo.add(tx, stored, now)
        for message_id, delivery in stored:  # after the commit: a pushed message is one a fetch would find
            message = InboxMessage(
                message_id, delivery.sender_id, delivery.sender_device_id, delivery.type, delivery.content, now
            )
            frame = {"type": "todevice", "device_id": delivery.device_id, "messages": [message_dict(message)]}
            self._broker.publish(device_topic(owners[delivery.device_id][1]), frame)
        return SendResult(len(stored), undelivered)

    async def pending(self, principal: Principal, after: int, limit: int) -> tuple[str, list[InboxMessage], bool]:
        """This device's id, its messages after `after` (at most `limit`), and whether more wait."""
        device = await self._devices.device_of_session(principal.session_id)
        if device is None:
            raise not_published()
        found = await self.repo.pending(device.id, after, limit + 1)
        return device.id, found[:limit], len(found) > limit

    async def acknowledge(self, principal: Principal, up_to: int) -> tuple[int, int]:
        """Forget this device's messages up to `up_to`; returns how many were removed and how many still wait."""
        device = await self._devices.device_of_session(principal.session_id)
        if device is None:
            raise not_published()
        async with self._db.transaction() as tx:
            removed = await self.repo.acknowledge(tx, device.id, up_to)
        return removed, await self.repo.count(device.id)
