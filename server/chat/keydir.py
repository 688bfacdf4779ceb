"""The end-to-end key directory: devices publish their public keys, other users fetch them and claim one-time
prekeys to start end-to-end sessions. No aiohttp here.

Decisions:

- A device is a signed-in session. Its keys live as long as the session: when the session ends (signed out,
  revoked by its user or an admin, all of the account's ended by a password reset or a suspension) the device
  leaves the directory at once, its one-time prekeys and its to-device inbox with it, and the people who must know
  hear `keys.changed` (below), so nobody encrypts to a dead device. The auth domain tells us through its
  `sessions_ended` signal; a session that merely expired, or one whose device outlived a crash, is removed by the
  sweep (SWEEP_SECONDS), and is never listed or claimed meanwhile. Other users see a random device id, never the
  session id.
- Keys are opaque: base64 (standard or url-safe, padding optional) of 32 to 1024 bytes. The server checks that
  they decode and stores the bytes; it never interprets them (clients verify the signed prekey's signature against
  the identity key). Answers always use standard base64 with padding.
- Any signed-in user may list and claim any user's keys, as in Signal: public keys are meant to be handed out.
  An unknown user id answers exactly as a user with no devices does (an empty list, after the same rate limit),
  so the directory does not say whether an account exists; user ids are random 128-bit values besides.
- A claim hands out, for each live device, its bundle and one one-time prekey, deleted in the claim's
  transaction with the device's row locked, so no prekey is ever handed out twice. A device with none left is
  handed out without one: the protocol falls back to the signed prekey. A claim of one's own user leaves out the
  claiming device itself.
- Claims are rate-limited per claimer and claimed user, and per claimer overall, so one user cannot drain
  another's one-time prekeys (past either limit: 429).
- Replacing a device's identity key drops its one-time prekeys (they belong to the key set being replaced);
  replacing only the signed prekey keeps them. Re-sending a one-time prekey already stored with the same public
  key is a no-op (a retried upload succeeds); the same key id with another key is a conflict.
- When a user's device list changes (a device publishes for the first time or with a new identity key, its keys
  are removed, or its session ends), everyone who shares an end-to-end chat with them, and they themselves, get a
  numbered `keys.changed` event (replayed by sync, so an offline device learns it too) and fetch the user's devices
  again. A new signed prekey alone changes nothing others must know.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from server.auth.service import Principal
from server.config import RateLimit
from server.encoding import Base64Error, decode_base64_either
from server.errors import ApiError, NotFound, ValidationError
from server.events.log import EventLog, event_frame
from server.storage.database import Executor
from server.storage.events import NewEvent
from server.storage.keydir import Device, KeyDirectoryRepository, OneTimePrekey, SignedPrekey
from server.web.ratelimit import RateLimiter, enforce

log = logging.getLogger(__name__)

MIN_KEY_BYTES = 32
MAX_KEY_BYTES = 1024
MAX_KEY_ID = 2**31 - 1  # fits every client's integer type, JavaScript's included
MAX_UPLOAD = 200  # one-time prekeys per request
MAX_STORED = 1000  # one-time prekeys per device
MAX_DEVICES = 50  # live devices with keys, per user
# A claimer starts sessions with each of a user's devices once, and again only when one breaks.
CLAIMS_PER_USER = RateLimit(20, 3600)  # one claimer, one claimed user
CLAIMS_PER_CLAIMER = RateLimit(1000, 3600)  # one claimer, every user (a large group's first message)

DEVICES_CHANGED = "keys.changed"  # the event kind
SWEEP_SECONDS = 3600.0  # how often devices of expired sessions are looked for
SWEEP_BATCH = 200  # devices removed per transaction (each takes its prekeys and inbox with it)

_MAX_ENCODED = (MAX_KEY_BYTES + 2) // 3 * 4
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


# -- parsing what a client sends ----------------------------------------------------------------------


def decode_key(value: Any, field: str) -> bytes:
    """A public key or signature: base64 of MIN_KEY_BYTES..MAX_KEY_BYTES bytes."""
    if not isinstance(value, str):
        raise ValidationError("{field} must be a base64 string", field=field, code="wrong_type")
    if len(value) > _MAX_ENCODED:
        raise ValidationError("{field} is longer than {limit} bytes", field=field, code="too_long", limit=MAX_KEY_BYTES)
    try:
        decoded = decode_base64_either(value)
    except Base64Error as exc:  # its message says how: "not base64", or "not base64 (wrong length or padding)"
        if "padding" in str(exc):
            raise ValidationError("{field} is not base64 (wrong length or padding)", field=field) from None
        raise ValidationError("{field} is not base64", field=field) from None
    if len(decoded) < MIN_KEY_BYTES:
        raise ValidationError(
            "{field} is shorter than {limit} bytes", field=field, code="too_short", limit=MIN_KEY_BYTES
        )
    if len(decoded) > MAX_KEY_BYTES:
        raise ValidationError("{field} is longer than {limit} bytes", field=field, code="too_long", limit=MAX_KEY_BYTES)
    return decoded


def key_id_of(value: Any, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError("{field} must be an integer", field=field, code="wrong_type")
    if not 0 <= value <= MAX_KEY_ID:
        raise ValidationError("{field} must be an integer from 0 to {limit}", field=field, limit=MAX_KEY_ID)
    return value


def _object(value: Any, field: str, names: tuple[str, ...]) -> dict[str, Any]:
    """A JSON object with exactly these members."""
    if not isinstance(value, dict):
        raise ValidationError("{field} must be an object", field=field, code="wrong_type")
    for name in names:
        if name not in value:
            raise ValidationError("{field} is required", field=f"{field}.{name}", code="required")
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise ValidationError("unknown field {field}", field=f"{field}.{unknown[0]}", code="unknown_field")
    return value


def signed_prekey_of(value: Any, field: str = "signed_prekey") -> SignedPrekey:
    obj = _object(value, field, ("key_id", "public_key", "signature"))
    return SignedPrekey(
        key_id=key_id_of(obj["key_id"], f"{field}.key_id"),
        public_key=decode_key(obj["public_key"], f"{field}.public_key"),
        signature=decode_key(obj["signature"], f"{field}.signature"),
    )


def one_time_prekeys_of(value: Any, field: str = "one_time_prekeys", *, min_count: int = 0) -> list[OneTimePrekey]:
    if not isinstance(value, list):
        raise ValidationError("{field} must be a list", field=field, code="wrong_type")
    if len(value) < min_count:
        raise ValidationError(
            "{field} must hold at least {count} prekey", field=field, code="required", count=min_count
        )
    if len(value) > MAX_UPLOAD:
        raise ValidationError("{field} holds more than {limit} prekeys", field=field, code="too_long", limit=MAX_UPLOAD)
    prekeys: list[OneTimePrekey] = []
    seen: set[int] = set()
    for n, item in enumerate(value):
        where = f"{field}[{n}]"
        obj = _object(item, where, ("key_id", "public_key"))
        key_id = key_id_of(obj["key_id"], f"{where}.key_id")
        if key_id in seen:
            raise ValidationError(
                "{field} {key_id} appears twice", field=f"{where}.key_id", code="duplicate", key_id=key_id
            )
        seen.add(key_id)
        prekeys.append(OneTimePrekey(key_id, decode_key(obj["public_key"], f"{where}.public_key")))
    return prekeys


def device_ids_of(value: Any, field: str = "device_ids") -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError("{field} must be a list of device ids", field=field, code="wrong_type")
    if len(value) > MAX_DEVICES:
        raise ValidationError("{field} holds more than {limit} ids", field=field, code="too_long", limit=MAX_DEVICES)
    if not all(_ID.fullmatch(v) for v in value):
        raise ValidationError("{field} holds something that is not a device id", field=field)
    return list(value)


def check_user_id(value: str) -> str:
    if not _ID.fullmatch(value):
        raise ValidationError("user_id is not a user id", field="user_id")
    return value


# -- the rules ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceState:
    """A device's own view of its keys: what it published and how many one-time prekeys are left."""

    device: Device
    one_time_prekey_count: int


@dataclass(frozen=True)
class ClaimedBundle:
    device: Device
    one_time_prekey: OneTimePrekey | None  # None: none left; use the signed prekey alone


def not_published() -> NotFound:
    """The answer to a device that asks for what needs its published keys before it published them."""
    return NotFound("this device has not published its keys: PUT /api/keys/device first", code="not_published")


class KeyDirectory:
    def __init__(
        self,
        repo: KeyDirectoryRepository,
        limiter: RateLimiter,
        *,
        claims_per_user: RateLimit = CLAIMS_PER_USER,
        claims_per_claimer: RateLimit = CLAIMS_PER_CLAIMER,
        events: EventLog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self._events = events
        self._db = repo.db
        self._limiter = limiter
        self._claims_per_user = claims_per_user
        self._claims_per_claimer = claims_per_claimer
        self._clock = clock

    # -- the caller's own device --------------------------------------------------------------------
    async def publish(
        self,
        principal: Principal,
        identity_key: bytes,
        signed_prekey: SignedPrekey,
        one_time_prekeys: Sequence[OneTimePrekey] = (),
    ) -> tuple[DeviceState, bool]:
        """Publish or replace this device's keys; True when the device is new. All of it, or nothing."""
        now = self._clock()
        user_id, session_id = principal.user.id, principal.session_id
        async with self._db.transaction() as tx:
            device = await self.repo.lock_device_of_session(tx, session_id)
            created = False
            if device is None:
                await self.repo.delete_ended_devices(tx, user_id, now)
                if await self.repo.count_live_devices(tx, user_id, now) >= MAX_DEVICES:
                    raise ApiError(
                        "an account has keys on at most {limit} devices; remove a device's keys or sign it out",
                        code="too_many_devices",
                        status=409,
                        limit=MAX_DEVICES,
                    )
                created = await self.repo.insert_device(
                    tx,
                    device_id=uuid.uuid4().hex,
                    session_id=session_id,
                    user_id=user_id,
                    identity_key=identity_key,
                    signed_prekey=signed_prekey,
                    now=now,
                )
                # Not created: a concurrent publish of this session won; replace what it wrote.
                device = await self.repo.lock_device_of_session(tx, session_id)
                assert device is not None
            changed = created or device.identity_key != identity_key
            if not created:
                if device.identity_key != identity_key:
                    await self.repo.delete_one_time_prekeys(tx, device.id)
                await self.repo.update_device(tx, device.id, identity_key, signed_prekey, now)
            count = await self._add(tx, device.id, one_time_prekeys, now)
            device = await self.repo.device_of_session(session_id, tx)
            assert device is not None
            frames = await self._devices_changed(tx, user_id, now) if changed else []
        self._publish(frames)
        return DeviceState(device, count), created

    async def add_one_time_prekeys(self, principal: Principal, prekeys: Sequence[OneTimePrekey]) -> DeviceState:
        now = self._clock()
        async with self._db.transaction() as tx:
            device = await self.repo.lock_device_of_session(tx, principal.session_id)
            if device is None:
                raise not_published()
            count = await self._add(tx, device.id, prekeys, now)
        return DeviceState(device, count)

    async def _add(self, tx: Executor, device_id: str, prekeys: Sequence[OneTimePrekey], now: float) -> int:
        """Store the prekeys not stored yet; returns how many the device then has."""
        stored = await self.repo.one_time_prekeys(tx, device_id, [p.key_id for p in prekeys])
        new: list[OneTimePrekey] = []
        for n, prekey in enumerate(prekeys):
            known = stored.get(prekey.key_id)
            if known is None:
                new.append(prekey)
            elif known != prekey.public_key:
                field = f"one_time_prekeys[{n}].key_id"
                raise ApiError(
                    "{field} {key_id} is already stored with another public key; use a new key id",
                    code="key_id_taken",
                    field=field,
                    status=409,
                    key_id=prekey.key_id,
                )
        count = await self.repo.count_one_time_prekeys(device_id, tx)
        if count + len(new) > MAX_STORED:
            raise ApiError(
                "a device holds at most {limit} one-time prekeys; it has {count} and these would add {adding}",
                code="too_many_prekeys",
                field="one_time_prekeys",
                status=409,
                limit=MAX_STORED,
                count=count,
                adding=len(new),
            )
        if new:
            await self.repo.add_one_time_prekeys(tx, device_id, new, now)
        return count + len(new)

    async def device(self, principal: Principal) -> DeviceState:
        device = await self.repo.device_of_session(principal.session_id)
        if device is None:
            raise not_published()
        return DeviceState(device, await self.repo.count_one_time_prekeys(device.id))

    async def remove(self, principal: Principal) -> bool:
        """Forget this device's keys; False if it had none."""
        async with self._db.transaction() as tx:
            removed = await self.repo.delete_device_of_session(tx, principal.session_id) > 0
            frames = await self._devices_changed(tx, principal.user.id, self._clock()) if removed else []
        self._publish(frames)
        return removed

    async def forget_ended_sessions(self, user_id: str) -> None:
        """The user's devices whose sessions ended leave the directory, with their prekeys and inboxes. Listens to
        auth's `sessions_ended`, in the process that ended them: `keys.changed` goes through the event log, so every
        process's sockets hear it."""
        now = self._clock()
        async with self._db.transaction() as tx:
            removed = await self.repo.delete_ended_devices(tx, user_id, now)
            frames = await self._devices_changed(tx, user_id, now) if removed else []
        self._publish(frames)

    async def sweep(self, batch: int = SWEEP_BATCH) -> int:
        """Remove every device whose session ended without the directory hearing of it (expired, or a listener that
        failed), `batch` devices a transaction; their users' peers hear `keys.changed`. Returns how many went."""
        removed = 0
        while True:
            now = self._clock()
            async with self._db.transaction() as tx:
                owners = await self.repo.delete_devices_of_ended_sessions(tx, now, batch)
                frames = [f for user_id in sorted(set(owners)) for f in await self._devices_changed(tx, user_id, now)]
            self._publish(frames)
            removed += len(owners)
            if len(owners) < batch:
                break
            await asyncio.sleep(0)  # let other writers through between batches
        if removed:
            log.info("swept the keys of %d ended devices", removed)
        return removed

    async def run_sweeper(self, interval: float = SWEEP_SECONDS) -> None:
        while True:
            await asyncio.sleep(interval)  # first: a server that starts and stops at once never stops mid-sweep
            try:
                await self.sweep()
            except Exception:
                log.exception("key directory sweep failed")

    async def _devices_changed(self, tx: Executor, user_id: str, now: float) -> list[tuple[str, dict[str, Any]]]:
        """Append `keys.changed` for the user to the logs of everyone who must fetch their devices again."""
        if self._events is None:
            return []
        users = sorted({user_id, *await self.repo.e2e_peers(tx, user_id)})
        events = [NewEvent(u, DEVICES_CHANGED, None, payload={"user_id": user_id}) for u in users]
        seqs = await self._events.append(tx, events, now)
        return [(e.user_id, event_frame(e.kind, seq, None, e.payload)) for e, seq in zip(events, seqs, strict=True)]

    def _publish(self, frames: list[tuple[str, dict[str, Any]]]) -> None:
        """After the commit: live to every connection of each user."""
        for user_id, frame in frames:
            assert self._events is not None  # frames come only from it
            self._events.publish(user_id, frame)

    # -- other users' devices -----------------------------------------------------------------------
    async def devices_of(self, user_id: str) -> list[Device]:
        """The public bundles of the user's live devices (none for an unknown user)."""
        return await self.repo.live_devices(user_id, self._clock())

    async def claim(
        self, principal: Principal, user_id: str, device_ids: Sequence[str] | None = None
    ) -> list[ClaimedBundle]:
        """Each live device of the user (or those of `device_ids`) with one one-time prekey, which is deleted."""
        claimer = principal.user.id
        await enforce(self._limiter, self._claims_per_user, f"keys.claim:{claimer}:{user_id}")
        await enforce(self._limiter, self._claims_per_claimer, f"keys.claim:{claimer}")
        wanted = None if device_ids is None else set(device_ids)
        claimed: list[ClaimedBundle] = []
        async with self._db.transaction() as tx:
            devices = await self.repo.live_devices(user_id, self._clock(), tx)
            for listed in devices:  # in id order: concurrent claims lock in the same order and never deadlock
                if listed.session_id == principal.session_id or (wanted is not None and listed.id not in wanted):
                    continue
                device = await self.repo.lock_device(tx, listed.id)
                if device is None:  # removed meanwhile
                    continue
                claimed.append(ClaimedBundle(device, await self.repo.take_one_time_prekey(tx, device.id)))
        return claimed
