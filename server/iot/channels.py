"""Channel rules: who may create, see, change and write a channel, and its API keys."""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable
from typing import Any

from server.errors import ApiError
from server.iot.thingspeak import ThingSpeakError
from server.storage.channels import ApiKey, Channel, ChannelRepository
from server.storage.database import Row

_ALPHABET = string.ascii_uppercase + string.digits
KEY_CACHE_SECONDS = 2.0
MAX_READ_KEYS = 20


def new_api_key() -> str:
    """A 16-character key like ThingSpeak's (about 82 bits)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(16))


def unauthorized(details: str = "Please make sure that your API key is correct.") -> ThingSpeakError:
    return ThingSpeakError(details, code="error_auth_required", status=401)


def suspended() -> ThingSpeakError:
    """Every credential of a suspended account (user API key, channel write and read keys, TalkBack keys, and so MQTT
    writes) is refused with this: 403, ThingSpeak's error shape on its routes, `account_suspended` in JSON."""
    return ThingSpeakError("This account is suspended.", code="account_suspended", status=403)


def not_found() -> ThingSpeakError:
    return ThingSpeakError("The channel was not found.", code="error_resource_not_found", status=404)


async def key_user(repo: ChannelRepository, api_key: str) -> str | None:
    """The one place a user API key is looked up: its user, None if unknown, refused if the account is suspended."""
    found = await repo.user_of_key(api_key)
    if found is None:
        return None
    if found.suspended:
        raise suspended()
    return found.user_id


class ChannelService:
    def __init__(self, repo: ChannelRepository, clock: Callable[[], float] = time.time) -> None:
        self.repo = repo
        self._db = repo.db
        self._clock = clock
        # Write key -> (channel, when the entry goes stale). Short-lived: a regenerated key stops working in
        # this process at once and in others within KEY_CACHE_SECONDS. Keyed by the key itself (it is in this
        # process's memory during every request anyway), so a cache hit costs no HMAC.
        self._write_keys: dict[str, tuple[Channel, float]] = {}

    # -- the user's API key -------------------------------------------------------------------------
    async def user_api_key(self, user_id: str) -> str:
        key = await self.repo.user_key(user_id)
        return key if key is not None else await self.regenerate_user_api_key(user_id)

    async def regenerate_user_api_key(self, user_id: str) -> str:
        key = new_api_key()
        async with self._db.transaction() as tx:
            await self.repo.set_user_key(tx, user_id, key, self._clock())
        return key

    async def owner_of_key(self, api_key: str | None) -> str | None:
        """The user whose user API key this is, or None (no refusal: the caller may be reading a public channel).
        A suspended account's key is refused."""
        if not api_key or len(api_key) > 64:
            return None
        return await self._key_user(api_key)

    async def _key_user(self, api_key: str) -> str | None:
        return await key_user(self.repo, api_key)

    async def entries_after(self, channel_id: int, after_entry_id: int, limit: int) -> list[Row]:
        """Stored points of a channel after an entry id, oldest first (callers checked read access)."""
        return await self.repo.entries_after(channel_id, after_entry_id, limit)

    async def user_of_api_key(self, api_key: str | None) -> str:
        user_id = await self._key_user(api_key) if api_key and len(api_key) <= 64 else None
        if user_id is None:
            raise unauthorized()
        return user_id

    # -- channels -----------------------------------------------------------------------------------
    async def create(self, owner_id: str, values: dict[str, Any]) -> tuple[Channel, list[ApiKey]]:
        now = self._clock()
        async with self._db.transaction() as tx:
            channel_id = await self.repo.create(tx, owner_id, {"name": "My Channel", **values}, now)
            keys = [
                await self.repo.add_key(tx, channel_id, "write", new_api_key(), now),
                await self.repo.add_key(tx, channel_id, "read", new_api_key(), now),
            ]
            channel = await self.repo.get(channel_id, tx)
        assert channel is not None
        return channel, keys

    async def owned(self, channel_id: int, owner_id: str) -> Channel:
        """The channel if `owner_id` owns it; anyone else is told it does not exist."""
        channel = await self.repo.get(channel_id)
        if channel is None or channel.owner_id != owner_id:
            raise not_found()
        return channel

    async def of_owner(self, owner_id: str) -> list[Channel]:
        return await self.repo.of_owner(owner_id)

    async def public(self, *, tag: str | None, after: int, limit: int) -> list[Channel]:
        return await self.repo.public(tag=tag, after=after, limit=limit)

    async def public_page(self, *, tag: str | None, page: int, per_page: int) -> tuple[list[Channel], int]:
        """Page `page` (from 1) of the public channels, and how many there are in all."""
        return await self.repo.public_page(tag=tag, offset=(page - 1) * per_page, limit=per_page)

    async def update(self, channel_id: int, owner_id: str, values: dict[str, Any]) -> Channel:
        await self.owned(channel_id, owner_id)
        async with self._db.transaction() as tx:
            await self.repo.update(tx, channel_id, values, self._clock())
            channel = await self.repo.get(channel_id, tx)
        assert channel is not None
        self._forget(channel_id)
        return channel

    async def delete(self, channel_id: int, owner_id: str) -> Channel:
        channel = await self.owned(channel_id, owner_id)
        async with self._db.transaction() as tx:
            await self.repo.delete(tx, channel_id)
        self._forget(channel_id)
        return channel

    async def clear(self, channel_id: int, owner_id: str) -> None:
        await self.owned(channel_id, owner_id)
        async with self._db.transaction() as tx:
            await self.repo.clear(tx, channel_id)

    # -- keys ---------------------------------------------------------------------------------------
    async def keys(self, channel_id: int) -> list[ApiKey]:
        return await self.repo.keys(channel_id)

    async def regenerate_write_key(self, channel_id: int, owner_id: str) -> ApiKey:
        await self.owned(channel_id, owner_id)
        async with self._db.transaction() as tx:
            await self.repo.delete_keys(tx, channel_id, "write")
            key = await self.repo.add_key(tx, channel_id, "write", new_api_key(), self._clock())
        self._forget(channel_id)
        return key

    async def add_read_key(self, channel_id: int, owner_id: str, note: str | None) -> ApiKey:
        await self.owned(channel_id, owner_id)
        if sum(k.kind == "read" for k in await self.repo.keys(channel_id)) >= MAX_READ_KEYS:
            raise ApiError(
                "a channel has at most {limit} read keys", code="too_many_keys", status=409, limit=MAX_READ_KEYS
            )
        async with self._db.transaction() as tx:
            return await self.repo.add_key(tx, channel_id, "read", new_api_key(), self._clock(), note)

    async def delete_read_key(self, channel_id: int, owner_id: str, key_id: str) -> None:
        await self.owned(channel_id, owner_id)
        async with self._db.transaction() as tx:
            if not await self.repo.delete_keys(tx, channel_id, "read", key_id):
                raise ThingSpeakError("no such read key", code="error_resource_not_found", status=404)

    # -- access -------------------------------------------------------------------------------------
    async def for_write(self, api_key: str | None) -> Channel:
        """The channel a write API key belongs to (cached briefly: this is on every write)."""
        if not api_key or len(api_key) > 64:
            raise unauthorized()
        cached = self._write_keys.get(api_key)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        found = await self.repo.channel_of_key(api_key)
        if found is None or found.kind != "write":
            self._write_keys.pop(api_key, None)
            raise unauthorized()
        if found.owner_suspended:  # never cached: unsuspending restores the key at once
            self._write_keys.pop(api_key, None)
            raise suspended()
        channel = found.channel
        if len(self._write_keys) > 100_000:
            self._write_keys.clear()
        self._write_keys[api_key] = (channel, now + KEY_CACHE_SECONDS)
        return channel

    async def for_brokered_write(self, channel_id: int) -> Channel:
        """The channel an MQTT device publishes to without a key: the broker already checked the device may; this
        checks the channel is still there and its owner not suspended."""
        found = await self.repo.with_owner_state(channel_id)
        if found is None:
            raise not_found()
        if found[1]:
            raise suspended()
        return found[0]

    async def for_read(self, channel_id: int, api_key: str | None, user_id: str | None = None) -> Channel:
        """The channel if the caller may read it: public, its owner (session or user API key), one of its read keys
        or its write key (ThingSpeak lets a write key read). Missing or wrong keys get 401, as ThingSpeak answers."""
        channel = await self.repo.get(channel_id)
        if channel is None:
            raise not_found()
        if channel.public or (user_id is not None and channel.owner_id == user_id):
            return channel
        if api_key and len(api_key) <= 64:
            found = await self.repo.channel_of_key(api_key)
            if found is not None and found.channel.id == channel_id and found.kind in ("read", "write"):
                if found.owner_suspended:
                    raise suspended()
                return channel
            if await self._key_user(api_key) == channel.owner_id:
                return channel
        raise unauthorized()

    def forget_owner(self, user_id: str) -> None:
        """Drop the cached write keys of one user's channels (their account was suspended or unsuspended)."""
        for key in [k for k, (c, _) in self._write_keys.items() if c.owner_id == user_id]:
            del self._write_keys[key]

    def _forget(self, channel_id: int) -> None:
        for key in [k for k, (c, _) in self._write_keys.items() if c.id == channel_id]:
            del self._write_keys[key]
