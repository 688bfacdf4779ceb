"""Web Push for messages that reach a user with no open connection (on any process).

A message event for a member who is offline becomes a push to their devices. In an end-to-end chat it
carries no content at all; in other chats a short preview only if the user allowed previews. A muted chat
pushes nothing unless the user is mentioned. Pushes are queued and sent by a few workers, so a message to a
big group never waits for push services; if the queue is full, pushes are dropped (and counted), never the
message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from server.chat.presence import PresenceService
from server.chat.push import PushService
from server.storage.chat.chats import ChatRepository
from server.storage.chat.members import MemberRepository
from server.storage.chat.settings import ChatSettingsRepository

log = logging.getLogger(__name__)

PREVIEW_CHARS = 100
WORKERS = 4


MAX_QUEUED = 10_000  # messages waiting for their pushes; past this, pushes are dropped (and counted)


@dataclass
class PushStats:
    sent: int = 0  # pushes a push service accepted
    dropped: int = 0  # pushes not tried because the queue was full


class PushNotifier:
    def __init__(
        self,
        push: PushService,
        presence: PresenceService,
        chats: ChatRepository,
        members: MemberRepository,
        settings: ChatSettingsRepository,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._push = push
        self._presence = presence
        self._chats = chats
        self._members = members
        self._settings = settings
        self._clock = clock
        # One entry per message (its view, and the seq of each member it may push to).
        self._queue: asyncio.Queue[tuple[dict[str, Any], list[tuple[str, int]]]] = asyncio.Queue(maxsize=MAX_QUEUED)
        self._workers: list[asyncio.Task[None]] = []
        self.stats = PushStats()

    def start(self) -> None:
        self._workers = [asyncio.create_task(self._work(), name=f"push-{n}") for n in range(WORKERS)]

    def __call__(self, message: dict[str, Any], seqs: dict[str, int]) -> None:
        """A new message and each member's seq of it (MessageService.message_sent)."""
        if message.get("kind") == "call":
            return  # a call's entry: the calls domain pushes the call itself, and a missed call
        if message.get("silent"):
            return  # an end-to-end reaction: not a new message to ring about
        sender = message.get("sender_id")
        # Never to yourself, nor to a member with a connection on this process: it got the message on its socket,
        # and a member online anywhere gets no push (the worker asks presence about the others). Most messages
        # (both members of a direct chat online) then cost no queued entry and no worker turn.
        here = self._presence.connected_here
        members = [(user_id, seq) for user_id, seq in seqs.items() if user_id != sender and not here(user_id)]
        if not members:
            return
        try:
            self._queue.put_nowait((message, members))
        except asyncio.QueueFull:
            self.stats.dropped += len(members)

    async def _work(self) -> None:
        while True:
            message, members = await self._queue.get()
            try:
                seqs = dict(members)
                offline = await self._presence.offline(list(seqs))  # a connection gets the message itself
                for user_id in offline:
                    try:
                        await self._one(user_id, message, seqs[user_id])
                    except Exception:
                        log.exception("a message push failed")
            except Exception:
                log.exception("message pushes failed")
            finally:
                self._queue.task_done()

    async def _one(self, user_id: str, message: dict[str, Any], seq: int) -> None:
        chat_id = message["chat_id"]
        member = await self._members.member(chat_id, user_id)
        chat = await self._chats.chat(chat_id)
        if member is None or chat is None:
            return
        mentioned = user_id in (message.get("mentions") or [])
        if member.muted_until is not None and member.muted_until > self._clock() and not mentioned:
            return
        payload: dict[str, Any] = {"type": "message", "chat_id": chat_id, "message_id": message["id"], "seq": seq}
        if not chat.e2e:
            _, previews, _ = await self._settings.settings(user_id)
            if previews:
                text = message.get("text") or ""
                payload["preview"] = text[:PREVIEW_CHARS] + ("…" if len(text) > PREVIEW_CHARS else "")
                if chat.kind == "group":
                    payload["chat_name"] = chat.name
            if mentioned:
                payload["mentioned"] = True
        urgency = "high" if chat.kind == "direct" or mentioned else "normal"
        self.stats.sent += await self._push.notify(user_id, payload, urgency=urgency)

    async def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (for a while), then stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
