"""1:1 calls: the server's side of MSC2746-style signalling, with every transition checked.

The service holds each live call's state (ringing, connected) and relays offers, answers and candidates between
the two users' devices. It never touches a socket: it publishes frames to a user's calls topic
(`send(user_id, frame, to_party=..., skip_party=...)`), and the WebSocket layer hands each frame to the
connections that should see it. A device is a party once it invites, answers or resumes; the service remembers
which connection holds each party (`conn` tokens), so one device cannot act as another, and a party whose
connection closes has the invite's lifetime to come back before the call ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from server.calls.model import (
    MAX_KEPT_CANDIDATES,
    DirectCall,
    MediaState,
    Party,
    call_ended,
    call_not_found,
    invalid_state,
    not_a_party,
)
from server.errors import ApiError, Forbidden

log = logging.getLogger(__name__)

ENDED_KEPT = 2000  # ended calls remembered (for a clear call_ended), newest first out last
Send = Callable[..., None]  # send(user_id, frame, *, to_party=None, skip_party=None)


class Chats(Protocol):
    """What calls need to know of chats (the chat domain answers)."""

    async def direct_peer(self, user_id: str, chat_id: str) -> str: ...  # the other member, or an ApiError

    async def blocked_between(self, user_id: str, other_id: str) -> bool: ...


class Devices(Protocol):
    """How many devices (open connections) a user has, in every process."""

    async def devices(self, user_id: str) -> int: ...


class Ledger(Protocol):
    """Which parties of each user are in a call now, across processes (busy detection)."""

    async def add(self, user_id: str, party_id: str) -> None: ...

    async def remove(self, user_id: str, party_id: str) -> None: ...

    async def count(self, user_id: str) -> int: ...


class Hooks(Protocol):
    """What happens beyond signalling: Web Push for an invite nobody can hear, and the chat's history entry."""

    def ringing_offline(self, call: DirectCall) -> None: ...

    def ended(self, call: DirectCall) -> None: ...


class LocalLedger:
    def __init__(self) -> None:
        self._parties: dict[str, set[str]] = {}

    async def add(self, user_id: str, party_id: str) -> None:
        self._parties.setdefault(user_id, set()).add(party_id)

    async def remove(self, user_id: str, party_id: str) -> None:
        parties = self._parties.get(user_id)
        if parties is not None:
            parties.discard(party_id)
            if not parties:
                del self._parties[user_id]

    async def count(self, user_id: str) -> int:
        return len(self._parties.get(user_id, ()))


class RedisLedger:
    """The ledger in Redis, so a user in a call on one process is busy to callers on every other."""

    TTL = 6 * 3600

    def __init__(self, redis: Any) -> None:
        self._redis = redis

    async def add(self, user_id: str, party_id: str) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.sadd(f"calls:parties:{user_id}", party_id)
            pipe.expire(f"calls:parties:{user_id}", self.TTL)
            await pipe.execute()

    async def remove(self, user_id: str, party_id: str) -> None:
        await self._redis.srem(f"calls:parties:{user_id}", party_id)

    async def count(self, user_id: str) -> int:
        return int(await self._redis.scard(f"calls:parties:{user_id}"))


class DirectCalls:
    def __init__(
        self,
        chats: Chats,
        devices: Devices,
        send: Send,
        hooks: Hooks,
        *,
        ledger: Ledger | None = None,
        enforce_invite_limit: Callable[[str], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._chats = chats
        self._devices = devices
        self._send = send
        self._hooks = hooks
        self._ledger = ledger or LocalLedger()
        self._limit = enforce_invite_limit
        self._clock = clock
        self.calls: dict[str, DirectCall] = {}
        self._by_chat: dict[str, str] = {}  # chat_id -> its live call
        self._ended: OrderedDict[str, DirectCall] = OrderedDict()
        self._bound: dict[tuple[str, str], str] = {}  # (call_id, party_id) -> the connection holding it
        self._held: dict[str, set[tuple[str, str]]] = {}  # connection -> the (call_id, party_id) it holds
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._answers: dict[str, dict[str, Any]] = {}  # call_id -> the answer, for a caller that resumes
        self._callee_candidates: dict[str, list[dict[str, Any]]] = {}

    # -- looking calls up ---------------------------------------------------------------------------------
    def find(self, user_id: str, call_id: str) -> DirectCall:
        """The live call, if this user is in it; an ended one is call_ended; anything else call_not_found."""
        call = self.calls.get(call_id)
        if call is not None and user_id in call.users():
            return call
        ended = self._ended.get(call_id)
        if ended is not None and user_id in ended.users():
            raise call_ended()
        raise call_not_found()

    def _bound_party(self, call: DirectCall, user_id: str, party_id: str, conn: str) -> Party:
        party = call.party(party_id)
        if party is None or party.user_id != user_id or self._bound.get((call.call_id, party_id)) != conn:
            raise not_a_party()
        return party

    def calls_of(self, user_id: str) -> list[DirectCall]:
        return [c for c in self.calls.values() if user_id in c.users()]

    def call_in_chat(self, chat_id: str) -> DirectCall | None:
        call_id = self._by_chat.get(chat_id)
        return self.calls.get(call_id) if call_id else None

    # -- the caller -----------------------------------------------------------------------------------------
    async def invite(
        self,
        user_id: str,
        conn: str,
        *,
        chat_id: str,
        call_id: str,
        party_id: str,
        offer: dict[str, str],
        media: str,
        lifetime_ms: int,
    ) -> dict[str, Any]:
        callee_id = await self._chats.direct_peer(user_id, chat_id)
        if await self._chats.blocked_between(user_id, callee_id):
            raise Forbidden("you cannot call this user", code="blocked")
        if call_id in self.calls or call_id in self._ended:
            raise ApiError("a call with this call_id exists already", code="call_exists", status=409)
        if self._limit is not None:
            await self._limit(user_id)
        existing = self.call_in_chat(chat_id)
        if existing is not None:
            if existing.state != "ringing" or existing.caller_id == user_id:
                raise invalid_state("this chat has a call going on already")
            # Glare: both called each other at once. The lower call_id goes on; the other is replaced.
            if existing.call_id < call_id:
                return {"call_id": call_id, "state": "replaced", "replaced_by": existing.call_id}
            await self._end(existing, "replaced", None, replaced_by=call_id)
        now = self._clock()
        call = DirectCall(
            call_id,
            chat_id,
            user_id,
            callee_id,
            Party(party_id, user_id),
            media,
            offer,
            lifetime_ms,
            now,
        )
        devices = await self._devices.devices(callee_id)
        if devices > 0 and await self._ledger.count(callee_id) >= devices:
            call.state, call.ended_at, call.end_reason, call.outcome = "ended", now, "user_busy", "busy"
            self._remember_ended(call)
            self._hooks.ended(call)
            return {"call_id": call_id, "state": "ended", "reason": "user_busy"}
        await self._ledger.add(user_id, party_id)  # before the call exists: nothing to undo if it fails
        if call_id in self.calls or call_id in self._ended or self.call_in_chat(chat_id) is not None:
            await self._ledger.remove(user_id, party_id)  # another invite won meanwhile
            raise invalid_state("this chat has a call going on already")
        self.calls[call_id] = call
        self._by_chat[chat_id] = call_id
        self._bind(call_id, party_id, conn)
        call.media_state[party_id] = MediaState(video_muted=media == "audio")
        self._timer(call_id, lifetime_ms / 1000, self._expire)
        self._send(callee_id, self._invite_frame(call))
        self._send(user_id, {"type": "call.state", **call.view()}, skip_party=party_id)
        if devices == 0:
            self._hooks.ringing_offline(call)
        return {"call_id": call_id, "state": "ringing", "expires_at": call.expires_at}

    def _invite_frame(self, call: DirectCall) -> dict[str, Any]:
        return {
            "type": "call.invite",
            "call_id": call.call_id,
            "chat_id": call.chat_id,
            "caller_id": call.caller_id,
            "party_id": call.caller.party_id,
            "offer": call.offer,
            "media": call.media,
            "lifetime": call.lifetime_ms,
            "expires_at": call.expires_at,
            "candidates": list(call.caller_candidates),
        }

    async def select_answer(
        self, user_id: str, conn: str, call_id: str, party_id: str, selected: str
    ) -> dict[str, Any]:
        call = self.find(user_id, call_id)
        party = self._bound_party(call, user_id, party_id, conn)
        if party is not call.caller:
            raise invalid_state("only the caller selects an answer")
        if call.callee is None or call.callee.party_id != selected:
            raise invalid_state("that party has not answered this call")
        return {"call_id": call_id, "selected_party_id": selected}

    # -- the callee -----------------------------------------------------------------------------------------
    async def answer(
        self, user_id: str, conn: str, call_id: str, party_id: str, answer: dict[str, str]
    ) -> dict[str, Any]:
        call = self.find(user_id, call_id)
        if user_id != call.callee_id:
            raise invalid_state("you cannot answer your own call")
        if call.state != "ringing":
            raise ApiError("another device answered this call", code="already_answered", status=409)
        if party_id == call.caller.party_id:
            raise not_a_party()
        await self._ledger.add(user_id, party_id)  # before the state changes: nothing to undo if it fails
        if self.calls.get(call_id) is not call or call.state != "ringing":  # ended or answered meanwhile
            await self._ledger.remove(user_id, party_id)
            self.find(user_id, call_id)  # call_ended if it ended
            raise ApiError("another device answered this call", code="already_answered", status=409)
        now = self._clock()
        call.state, call.answered_at = "connected", now
        call.callee = Party(party_id, user_id)
        call.media_state[party_id] = MediaState(video_muted=call.media == "audio")
        self._bind(call_id, party_id, conn)
        self._answers[call_id] = answer
        self._cancel_timer(call_id)
        if not call.caller.connected:  # the caller must come back in time, or the call ends
            self._timer(call_id, call.lifetime_ms / 1000, self._lost)
        self._send(
            call.caller_id,
            {"type": "call.answer", "call_id": call_id, "party_id": party_id, "answer": answer},
            to_party=call.caller.party_id,
        )
        elsewhere = {
            "type": "call.select_answer",
            "call_id": call_id,
            "selected_party_id": party_id,
            "reason": "answered_elsewhere",
        }
        self._send(user_id, elsewhere, skip_party=party_id)
        self._send(call.caller_id, elsewhere, skip_party=call.caller.party_id)
        if not call.caller.connected:  # it hears the answer when it resumes
            self._send(user_id, self._party_frame(call, call.caller), to_party=party_id)
        return {"call_id": call_id, "state": "connected"}

    async def reject(self, user_id: str, conn: str, call_id: str, party_id: str) -> dict[str, Any]:
        call = self.find(user_id, call_id)
        if user_id != call.callee_id:
            raise invalid_state("only the callee rejects; the caller hangs up")
        if call.state != "ringing":
            raise invalid_state("the call was answered; hang up instead")
        if party_id == call.caller.party_id:
            raise not_a_party()
        call.declined_by.add(party_id)
        self._send(
            call.caller_id,
            {"type": "call.reject", "call_id": call_id, "party_id": party_id, "user_id": user_id},
            to_party=call.caller.party_id,
        )
        await self._end(call, "user_declined", party_id)
        return {"call_id": call_id, "state": "ended"}

    async def decline(self, user_id: str, call_id: str) -> dict[str, Any]:
        """The callee declines from a notification (no device in the call): as a reject by a device "push"."""
        return await self.reject(user_id, "", call_id, "push")

    # -- either side --------------------------------------------------------------------------------------
    async def candidates(
        self, user_id: str, conn: str, call_id: str, party_id: str, candidates: list[dict[str, Any]]
    ) -> dict[str, Any]:
        call = self.find(user_id, call_id)
        party = self._bound_party(call, user_id, party_id, conn)
        frame = {"type": "call.candidates", "call_id": call_id, "party_id": party_id, "candidates": candidates}
        if party is call.caller:
            if call.state == "ringing":
                room = MAX_KEPT_CANDIDATES - len(call.caller_candidates)
                call.caller_candidates.extend(candidates[: max(0, room)])
                self._send(call.callee_id, frame)  # every ringing device
            else:
                assert call.callee is not None
                self._send(call.callee_id, frame, to_party=call.callee.party_id)
        else:
            kept = self._callee_candidates.setdefault(call_id, [])
            kept.extend(candidates[: max(0, MAX_KEPT_CANDIDATES - len(kept))])
            self._send(call.caller_id, frame, to_party=call.caller.party_id)
        return {"call_id": call_id, "sent": len(candidates)}

    async def negotiate(
        self, user_id: str, conn: str, call_id: str, party_id: str, description: dict[str, str]
    ) -> dict[str, Any]:
        call = self.find(user_id, call_id)
        party = self._bound_party(call, user_id, party_id, conn)
        other = call.other(party)
        if call.state != "connected" or other is None:
            raise invalid_state("negotiate once the call is answered")
        frame = {"type": "call.negotiate", "call_id": call_id, "party_id": party_id, "description": description}
        self._send(other.user_id, frame, to_party=other.party_id)
        return {"call_id": call_id}

    async def media(
        self, user_id: str, conn: str, call_id: str, party_id: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        call = self.find(user_id, call_id)
        party = self._bound_party(call, user_id, party_id, conn)
        state = call.media_state.setdefault(party_id, MediaState())
        state.update(changes)
        other = call.other(party)
        if other is not None:
            frame = {"type": "call.media", "call_id": call_id, "party_id": party_id, "user_id": user_id}
            self._send(other.user_id, {**frame, **state.to_dict()}, to_party=other.party_id)
        return {"call_id": call_id, **state.to_dict()}

    async def hangup(self, user_id: str, conn: str, call_id: str, party_id: str, reason: str) -> dict[str, Any]:
        call = self.find(user_id, call_id)
        if call.state == "ringing" and user_id == call.callee_id:
            if party_id == call.caller.party_id:
                raise not_a_party()
            # A ringing device that hangs up (busy elsewhere, no media) ends the call like a reject would.
            if reason == "user_hangup":
                return await self.reject(user_id, conn, call_id, party_id)
            await self._end(call, reason, party_id)
            return {"call_id": call_id, "state": "ended"}
        self._bound_party(call, user_id, party_id, conn)
        await self._end(call, reason, party_id)
        return {"call_id": call_id, "state": "ended"}

    # -- devices coming and going ---------------------------------------------------------------------------
    async def resume(self, user_id: str, conn: str, call_id: str, party_id: str) -> dict[str, Any]:
        """A device that lost its socket is back: it holds its party again, and the other side is told."""
        call = self.find(user_id, call_id)
        party = call.party(party_id)
        if party is None or party.user_id != user_id:
            raise not_a_party()
        self._bind(call_id, party_id, conn)
        result: dict[str, Any] = {"call_id": call_id, "state": call.state, "call": call.view()}
        if party is call.caller and call_id in self._answers:
            result["answer"] = self._answers[call_id]
            result["candidates"] = list(self._callee_candidates.get(call_id, ()))
        elif party is call.callee:
            result["candidates"] = list(call.caller_candidates)
        if not party.connected:
            party.connected, party.lost_at = True, None
            if not any(p is not None and not p.connected for p in (call.caller, call.callee)):
                self._cancel_timer(call_id)
                if call.state == "ringing":
                    self._timer(call_id, max(0.0, call.expires_at - self._clock()), self._expire)
            other = call.other(party)
            if other is not None:
                self._send(other.user_id, self._party_frame(call, party), to_party=other.party_id)
        return result

    async def connection_closed(self, user_id: str, conn: str) -> None:
        """A socket closed: each party it held is lost, and the call ends unless it comes back in time."""
        for call_id, party_id in list(self._held.get(conn, ())):
            self._unbind(call_id, party_id)
            call = self.calls.get(call_id)
            party = call.party(party_id) if call else None
            if call is None or party is None or party.user_id != user_id or not party.connected:
                continue
            party.connected, party.lost_at = False, self._clock()
            other = call.other(party)
            if other is not None:
                self._send(other.user_id, self._party_frame(call, party), to_party=other.party_id)
            if call.state == "connected":
                self._timer(call_id, call.lifetime_ms / 1000, self._lost)

    def replay_frames(self, user_id: str) -> list[dict[str, Any]]:
        """What a device that just signed in must hear: each call of its user, and each invite ringing it."""
        frames = []
        for call in self.calls_of(user_id):
            frames.append({"type": "call.state", **call.view()})
            if call.state == "ringing" and user_id == call.callee_id:
                frames.append(self._invite_frame(call))
        return frames

    @staticmethod
    def _party_frame(call: DirectCall, party: Party) -> dict[str, Any]:
        return {
            "type": "call.party",
            "call_id": call.call_id,
            "party_id": party.party_id,
            "user_id": party.user_id,
            "connected": party.connected,
        }

    # -- ending -------------------------------------------------------------------------------------------
    def _expire(self, call_id: str) -> None:
        asyncio.get_running_loop().create_task(self._end_if(call_id, "invite_timeout"))

    def _lost(self, call_id: str) -> None:
        asyncio.get_running_loop().create_task(self._end_if(call_id, "connection_lost"))

    async def _end_if(self, call_id: str, reason: str) -> None:
        """A timer's end, checked when it runs: an answer or a resume may have come in just before."""
        call = self.calls.get(call_id)
        if call is None:
            return
        lost = any(p is not None and not p.connected for p in (call.caller, call.callee))
        if (reason == "invite_timeout" and call.state == "ringing") or (reason == "connection_lost" and lost):
            await self._end(call, reason, None)

    async def _end(self, call: DirectCall, reason: str, by_party: str | None, replaced_by: str | None = None) -> None:
        if self.calls.pop(call.call_id, None) is None:
            return  # ended already
        if self._by_chat.get(call.chat_id) == call.call_id:
            del self._by_chat[call.chat_id]
        self._cancel_timer(call.call_id)
        now = self._clock()
        call.ended_at, call.end_reason = now, reason
        was_ringing = call.state == "ringing"
        call.state = "ended"
        if not was_ringing:
            call.outcome = "answered"
        else:
            call.outcome = {"user_declined": "declined", "user_busy": "busy"}.get(reason, "missed")
        by_user = None
        for party in (call.caller, call.callee):
            if party is not None:
                self._unbind(call.call_id, party.party_id)
                if party.party_id == by_party:
                    by_user = party.user_id
        if by_party is not None and by_user is None:
            by_user = call.callee_id  # a ringing device of the callee that declined or hung up
        frame: dict[str, Any] = {
            "type": "call.hangup",
            "call_id": call.call_id,
            "party_id": by_party,
            "user_id": by_user,
            "reason": reason,
        }
        if replaced_by is not None:
            frame["replaced_by"] = replaced_by
        for user_id in call.users():
            self._send(user_id, frame)
        self._answers.pop(call.call_id, None)
        self._callee_candidates.pop(call.call_id, None)
        self._remember_ended(call)
        if reason != "replaced":  # a replaced call lives on in the one that replaced it
            self._hooks.ended(call)
        await self._leave_ledger(call)

    async def _leave_ledger(self, call: DirectCall) -> None:
        """Its parties are no longer busy (last: a failure here must not keep the call's end from being told)."""
        for party in (call.caller, call.callee):
            if party is not None:
                try:
                    await self._ledger.remove(party.user_id, party.party_id)
                except Exception:  # noqa: BLE001 -- the entry expires with its set's TTL
                    log.warning("calls: could not clear the busy entry of a party of call %s", call.call_id)

    def _remember_ended(self, call: DirectCall) -> None:
        self._ended[call.call_id] = call
        while len(self._ended) > ENDED_KEPT:
            self._ended.popitem(last=False)

    # -- which connection holds which party -----------------------------------------------------------------
    def _bind(self, call_id: str, party_id: str, conn: str) -> None:
        self._unbind(call_id, party_id)
        self._bound[(call_id, party_id)] = conn
        self._held.setdefault(conn, set()).add((call_id, party_id))

    def _unbind(self, call_id: str, party_id: str) -> None:
        conn = self._bound.pop((call_id, party_id), None)
        if conn is None:
            return
        held = self._held.get(conn, set())
        held.discard((call_id, party_id))
        if not held:
            self._held.pop(conn, None)

    # -- timers -------------------------------------------------------------------------------------------
    def _timer(self, call_id: str, delay: float, callback: Callable[[str], None]) -> None:
        self._cancel_timer(call_id)
        self._timers[call_id] = asyncio.get_running_loop().call_later(delay, callback, call_id)

    def _cancel_timer(self, call_id: str) -> None:
        timer = self._timers.pop(call_id, None)
        if timer is not None:
            timer.cancel()

    async def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for call in list(self.calls.values()):  # they end with this process: nobody stays busy because of them
            await self._leave_ledger(call)
