"""What a call leaves behind: its entry in the chat's history, and the Web Pushes for devices with no socket.

An ended call becomes a message of kind `call` in its chat (through the chat domain, so it is numbered in
every member's event log and replayed by `sync`). An invite to a user with no device online goes out as a
high-urgency Web Push living as long as the invite, with a decline link that works without signing in; a call
that ends missed leaves a missed-call notification.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Protocol

from server.calls.model import DirectCall
from server.encoding import encode_base64url

log = logging.getLogger(__name__)


class Recorder(Protocol):
    async def record(self, chat_id: str, sender_id: str, client_id: str, meta: dict[str, Any]) -> bool: ...


class Pusher(Protocol):
    async def notify(
        self, user_id: str, payload: dict[str, Any], *, ttl: int | None = None, urgency: str = "normal"
    ) -> int: ...


class Online(Protocol):
    async def offline(self, user_ids: list[str]) -> list[str]: ...


def record_client_id(sign: Callable[[str], bytes], call_id: str, chat_id: str) -> str:
    """The same call's entry always has the same client id, so it is written once however often it ends; keyed
    with the server's secret, so no client can send a message under it first and keep the entry out."""
    return str(uuid.UUID(bytes=sign(f"call-entry\n{chat_id}\n{call_id}")[:16], version=4))


def call_entry(call: DirectCall) -> dict[str, Any]:
    duration = 0.0
    if call.outcome == "answered" and call.answered_at is not None and call.ended_at is not None:
        duration = round(max(0.0, call.ended_at - call.answered_at), 1)
    return {
        "call_id": call.call_id,
        "media": call.media,
        "outcome": call.outcome,
        "duration": duration,
        "reason": call.end_reason,
    }


class DeclineLinks:
    """A link that declines one ringing call for one user, without signing in: HMAC(call_id, user_id)."""

    def __init__(self, sign: Callable[[str], bytes], public_url: str) -> None:
        self.sign = sign
        self._base = public_url.rstrip("/")

    def token(self, call_id: str, user_id: str) -> str:
        return encode_base64url(self.sign(f"{call_id}\n{user_id}")[:18])

    def url(self, call_id: str, user_id: str) -> str:
        return f"{self._base}/api/calls/{call_id}/decline?user={user_id}&token={self.token(call_id, user_id)}"

    def valid(self, call_id: str, user_id: str, token: str) -> bool:
        return hmac.compare_digest(self.token(call_id, user_id), token)


class CallHistory:
    """The calls service's hooks: run in the background, so signalling never waits on the database or push."""

    def __init__(
        self,
        recorder: Recorder,
        pusher: Pusher,
        online: Online,
        links: DeclineLinks,
        names: Callable[[Sequence[str]], Awaitable[dict[str, str]]] | None = None,
    ) -> None:
        self._recorder = recorder
        self._pusher = pusher
        self._online = online
        self._links = links
        self._names = names
        self._tasks: set[asyncio.Task[None]] = set()

    def _spawn(self, work: Coroutine[Any, Any, None], what: str) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("calls: %s failed", what)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def ringing_offline(self, call: DirectCall) -> None:
        self._spawn(self._push_invite(call), "the invite's push")

    def ended(self, call: DirectCall) -> None:
        self._spawn(self._record(call), "the call's history entry")

    def group_ended(
        self,
        *,
        chat_id: str,
        call_id: str,
        started_by: str,
        media: str,
        started_at: float,
        ended_at: float,
        participants: int,
    ) -> None:
        entry = {
            "call_id": call_id,
            "media": media,
            "outcome": "answered" if participants > 1 else "missed",
            "duration": round(max(0.0, ended_at - started_at), 1),
            "reason": "user_hangup",
            "participants": participants,
        }
        self._spawn(self._record_group(chat_id, started_by, entry), "the group call's history entry")

    async def _record_group(self, chat_id: str, started_by: str, entry: dict[str, Any]) -> None:
        client_id = record_client_id(self._links.sign, entry["call_id"], chat_id)
        if not await self._recorder.record(chat_id, started_by, client_id, {"call": entry}):
            log.info("calls: the chat refused the entry of group call %s", entry["call_id"])

    async def _push_invite(self, call: DirectCall) -> None:
        payload: dict[str, Any] = {
            "type": "call",
            "call_id": call.call_id,
            "chat_id": call.chat_id,
            "caller_id": call.caller_id,
            "media": call.media,
            "expires_at": call.expires_at,
            "decline_url": self._links.url(call.call_id, call.callee_id),
        }
        if self._names is not None:
            name = (await self._names([call.caller_id])).get(call.caller_id)
            if name:
                payload["caller_name"] = name
        await self._pusher.notify(call.callee_id, payload, ttl=max(1, call.lifetime_ms // 1000), urgency="high")

    async def _record(self, call: DirectCall) -> None:
        entry = call_entry(call)
        written = await self._recorder.record(
            call.chat_id,
            call.caller_id,
            record_client_id(self._links.sign, call.call_id, call.chat_id),
            {"call": entry},
        )
        if not written:
            log.info("calls: the chat refused the entry of call %s", call.call_id)
        if call.outcome == "missed" and await self._online.offline([call.callee_id]):
            payload = {
                "type": "call.missed",
                "call_id": call.call_id,
                "chat_id": call.chat_id,
                "caller_id": call.caller_id,
                "media": call.media,
            }
            await self._pusher.notify(call.callee_id, payload)

    async def close(self, timeout: float = 5.0) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
